"""REST API of deployment (product.md §5): the install status of one app.

- `apps/{app_id}/device-statuses/` (filters `install_state`, `search` by device name, serial, UDID, user)
- `apps/{app_id}/user-statuses/` (filters `install_state` — the worst of the user's devices — and `search`)
- `apps/{app_id}/install-summary/` — devices per install state, and users per state under `"users"`
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.response import Response

from apps.models import App
from console.api import FilterBackend
from deployment import selectors
from deployment.filters import DeviceStateFilter, UserStateFilter
from deployment.models import DeviceAppState, InstallState


class DeviceStatusSerializer(serializers.ModelSerializer):
    device = serializers.IntegerField(source="device_id", read_only=True)
    serial_number = serializers.CharField(source="device.serial_number", read_only=True)
    udid = serializers.CharField(source="device.udid", read_only=True)
    device_name = serializers.CharField(source="device.name", read_only=True)
    user = serializers.CharField(
        source="device.primary_user.user_principal_name", read_only=True, default=None, allow_null=True
    )
    install_state = serializers.ChoiceField(source="state", choices=InstallState.choices, read_only=True)
    error = serializers.SerializerMethodField()

    class Meta:
        model = DeviceAppState
        fields = [
            "device", "serial_number", "udid", "device_name", "user", "install_state", "error_code",
            "error_domain", "error", "last_reported_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_error(self, obj: DeviceAppState) -> str:
        return selectors.error_text(obj)


class UserStatusSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="device__primary_user")
    user_principal_name = serializers.CharField(source="device__primary_user__user_principal_name")
    display_name = serializers.CharField(source="device__primary_user__display_name")
    devices_installed = serializers.IntegerField(source="n_installed")
    devices_failed = serializers.SerializerMethodField()
    devices_pending = serializers.SerializerMethodField()
    install_state = serializers.SerializerMethodField()

    def get_devices_failed(self, row) -> int:
        return row["n_failed"] + row["n_uninstall_failed"]

    def get_devices_pending(self, row) -> int:
        return row["n_pending_install"] + row["n_uninstall_pending"]

    def get_install_state(self, row) -> str:
        return selectors.row_state(row)


class _AppScoped:
    def get_app(self) -> App:
        return get_object_or_404(App, pk=self.kwargs["app_id"])


class AppDeviceStatusViewSet(_AppScoped, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The install state of one app on each device, with the last error in words."""  # D5, M2

    serializer_class = DeviceStatusSerializer
    filterset_class = DeviceStateFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DeviceAppState.objects.none()
        return selectors.device_states(self.get_app().pk)


class AppUserStatusViewSet(_AppScoped, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Per user, how many of their devices installed / failed / are pending, and the worst state."""  # D5

    serializer_class = UserStatusSerializer
    filterset_class = UserStateFilter
    filter_backends = [FilterBackend]  # aggregate rows: no ordering by model fields

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DeviceAppState.objects.none()
        return selectors.user_states(self.get_app().pk)


_counts = {state.value: serializers.IntegerField() for state in InstallState}


class _OneObjectSchema(AutoSchema):
    def _is_list_view(self, serializer=None) -> bool:
        return False


class AppInstallSummaryViewSet(_AppScoped, viewsets.ViewSet):
    """Devices per install state, and users (by the worst state of their devices) under `users`."""  # D5

    schema = _OneObjectSchema()

    @extend_schema(
        responses=inline_serializer(
            "InstallSummary",
            {**_counts, "users": inline_serializer("InstallSummaryUsers", dict(_counts))},
        )
    )
    def list(self, request, app_id=None):
        return Response(selectors.summary(self.get_app().pk))


def register(router) -> None:
    """Add this app's viewsets to the /api/v1/ router."""
    router.register(
        r"apps/(?P<app_id>\d+)/device-statuses", AppDeviceStatusViewSet, basename="app-device-statuses"
    )
    router.register(r"apps/(?P<app_id>\d+)/user-statuses", AppUserStatusViewSet, basename="app-user-statuses")
    router.register(
        r"apps/(?P<app_id>\d+)/install-summary", AppInstallSummaryViewSet, basename="app-install-summary"
    )
