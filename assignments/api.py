"""REST API resources of the assignments app.

- `licenses/` (filters: app, vpp_token, state, license_type, user, device, serial_number, assignment);
  `POST licenses/{id}/revoke/`
- `apps/{app_id}/licenses/` (filter state) — the licenses of one app
- `apps/{app_id}/assignments/` list/create/retrieve/update/delete; `GET …/preflight/?group=&license_type=`
- `POST apps/{app_id}/install/` `{"user": id}` or `{"device": id}` (Available assignments)
- `POST apps/{app_id}/removed/` `{"user": id}` or `{"device": id}` (S3: the MDM reported the app removed)
- `POST apps/{app_id}/revoke-licenses/`, `devices/{id}/revoke-licenses/`, `users/{id}/revoke-licenses/`
- `POST vpp-tokens/{id}/reclaim-untracked/`, `vpp-tokens/{id}/reconcile/` (`{"repair": true}` to fix),
  `vpp-tokens/{id}/revoke-licenses/` (T14)
- `license-runs/` read-only
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.models import App
from assignments import allocation, selectors, services
from assignments.filters import AssignmentFilter, LicenseFilter, LicenseRunFilter
from assignments.serializers import (
    AssignmentSerializer,
    AssignmentUpdateSerializer,
    HolderSerializer,
    LicenseRunSerializer,
    LicenseRunSummarySerializer,
    LicenseSerializer,
    PreflightQuerySerializer,
    PreflightSerializer,
)
from directory.models import Device, DirectoryUser, Group
from tokens.models import VPPToken


class LicenseViewSet(viewsets.ReadOnlyModelViewSet):
    """Every license record."""  # M1, M2

    serializer_class = LicenseSerializer
    filterset_class = LicenseFilter
    ordering_fields = ["created_at", "updated_at", "state"]
    write_actions = ("revoke",)

    def get_queryset(self):
        return selectors.license_list()

    @extend_schema(request=None, responses=LicenseSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        lic = services.license_revoke(license=self.get_object(), actor=request.user)
        return Response(LicenseSerializer(lic).data, status=status.HTTP_202_ACCEPTED)


class AppLicensesViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The licenses of one app."""

    serializer_class = LicenseSerializer
    filterset_class = LicenseFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.license_list().none()
        app = get_object_or_404(App, pk=self.kwargs["app_id"])
        return selectors.license_list().filter(app=app)


class AppAssignmentsViewSet(viewsets.ModelViewSet):
    """Assignments of one app to groups, with pre-flight figures on create."""  # S1, B3

    serializer_class = AssignmentSerializer
    filterset_class = AssignmentFilter

    def get_app(self) -> App:
        if not hasattr(self, "_app"):
            self._app = get_object_or_404(App.objects.select_related("vpp_token"), pk=self.kwargs["app_id"])
        return self._app

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.assignment_list().none()
        return selectors.assignment_list(self.get_app())

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        assignment = services.assignment_create(app=self.get_app(), actor=request.user, **data)
        return Response(self.get_serializer(assignment).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, *args, **kwargs):
        assignment = self.get_object()
        assignment.preflight = allocation.preflight(
            app=assignment.app, group=assignment.group, license_type=assignment.license_type
        )
        return Response(self.get_serializer(assignment).data)

    @extend_schema(request=AssignmentUpdateSerializer, responses=AssignmentSerializer)
    def update(self, request, *args, **kwargs):
        changes = AssignmentUpdateSerializer(data=request.data, partial=True)
        changes.is_valid(raise_exception=True)
        assignment = services.assignment_update(
            assignment=self.get_object(), actor=request.user, **changes.validated_data
        )
        return Response(self.get_serializer(assignment).data)

    def destroy(self, request, *args, **kwargs):
        run = services.assignment_delete(assignment=self.get_object(), actor=request.user)
        body = {"license_run": run.pk if run else None}
        return Response(body, status=status.HTTP_202_ACCEPTED if run else status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[PreflightQuerySerializer], responses=PreflightSerializer)
    @action(detail=False, methods=["get"])
    def preflight(self, request, app_id=None):
        """`?group=<id>&license_type=user|device`: licenses needed and available before saving."""  # B3
        app = self.get_app()
        query = PreflightQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        group = get_object_or_404(Group, pk=query.validated_data["group"])
        license_type = query.validated_data["license_type"]
        return Response(allocation.preflight(app=app, group=group, license_type=license_type))


def _holder(data):
    serializer = HolderSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    values = serializer.validated_data
    user = get_object_or_404(DirectoryUser, pk=values["user"]) if "user" in values else None
    device = get_object_or_404(Device, pk=values["device"]) if "device" in values else None
    return user, device


class AppInstallViewSet(viewsets.ViewSet):
    """POST apps/{app_id}/install/: the user asks to install an Available app; a license is requested."""

    @extend_schema(request=HolderSerializer, responses=LicenseSerializer)
    def create(self, request, app_id=None):
        app = get_object_or_404(App.objects.select_related("vpp_token"), pk=app_id)
        user, device = _holder(request.data)
        lic = services.license_install(app=app, user=user, device=device, actor=request.user)
        data = LicenseSerializer(lic).data | {"warnings": [str(w) for w in lic.warnings]}
        return Response(data, status=status.HTTP_202_ACCEPTED)


class AppRemovedViewSet(viewsets.ViewSet):
    """POST apps/{app_id}/removed/: the MDM reports the app removed from a device/user."""  # S3

    @extend_schema(request=HolderSerializer, responses=LicenseSerializer)
    def create(self, request, app_id=None):
        app = get_object_or_404(App.objects.select_related("vpp_token"), pk=app_id)
        user, device = _holder(request.data)
        lic = services.report_app_removed(app=app, user=user, device=device, actor=request.user)
        return Response(LicenseSerializer(lic).data if lic else {}, status=status.HTTP_202_ACCEPTED)


def _run_response(run):
    return Response(LicenseRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class AppRevokeViewSet(viewsets.ViewSet):
    @extend_schema(request=None, responses=LicenseRunSerializer)
    def create(self, request, app_id=None):
        app = get_object_or_404(App.objects.select_related("vpp_token"), pk=app_id)
        return _run_response(services.app_revoke_licenses(app=app, actor=request.user))


class DeviceRevokeViewSet(viewsets.ViewSet):
    """Release the device-licensed apps of a device (no uninstall)."""  # S9

    @extend_schema(request=None, responses=LicenseRunSerializer)
    def create(self, request, device_id=None):
        device = get_object_or_404(Device, pk=device_id)
        return _run_response(services.device_revoke_licenses(device=device, actor=request.user))


class UserRevokeViewSet(viewsets.ViewSet):
    @extend_schema(request=None, responses=LicenseRunSerializer)
    def create(self, request, user_id=None):
        user = get_object_or_404(DirectoryUser, pk=user_id)
        return _run_response(services.user_revoke_licenses(user=user, actor=request.user))


class TokenReclaimUntrackedViewSet(viewsets.ViewSet):
    @extend_schema(request=None, responses=LicenseRunSerializer)
    def create(self, request, token_id=None):
        token = get_object_or_404(VPPToken, pk=token_id)
        return _run_response(services.token_reclaim_untracked(token=token, actor=request.user))


class TokenReconcileViewSet(viewsets.ViewSet):
    @extend_schema(request=None, responses=LicenseRunSerializer)
    def create(self, request, token_id=None):
        token = get_object_or_404(VPPToken, pk=token_id)
        repair = str(request.data.get("repair", "")).lower() in ("1", "true", "yes")
        return _run_response(services.token_reconcile(token=token, actor=request.user, repair=repair))


class TokenRevokeLicensesViewSet(viewsets.ViewSet):
    @extend_schema(
        request=None,
        responses={202: LicenseRunSummarySerializer},
        parameters=[
            OpenApiParameter(
                "id",
                int,
                OpenApiParameter.PATH,
                description="A unique integer value identifying this VPP token.",
            )
        ],
    )
    def create(self, request, id=None):
        """Revoke all licenses of the token; 202 with the license run."""  # T14
        token = get_object_or_404(VPPToken, pk=id)
        run = services.revoke_token_licenses(token=token, actor=request.user)
        return Response(LicenseRunSummarySerializer(run).data, status=status.HTTP_202_ACCEPTED)


class LicenseRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Bulk license runs: progress, counts, error."""  # B8

    serializer_class = LicenseRunSerializer
    filterset_class = LicenseRunFilter
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return selectors.license_run_list()


def register(router) -> None:
    """Add this app's viewsets to the /api/v1/ router."""
    router.register("licenses", LicenseViewSet, basename="license")
    router.register("license-runs", LicenseRunViewSet, basename="license-run")
    router.register(r"apps/(?P<app_id>\d+)/licenses", AppLicensesViewSet, basename="app-licenses")
    router.register(r"apps/(?P<app_id>\d+)/assignments", AppAssignmentsViewSet, basename="app-assignments")
    router.register(r"apps/(?P<app_id>\d+)/install", AppInstallViewSet, basename="app-install")
    router.register(r"apps/(?P<app_id>\d+)/removed", AppRemovedViewSet, basename="app-removed")
    router.register(r"apps/(?P<app_id>\d+)/revoke-licenses", AppRevokeViewSet, basename="app-revoke-licenses")
    router.register(
        r"devices/(?P<device_id>\d+)/revoke-licenses", DeviceRevokeViewSet, basename="device-revoke"
    )
    router.register(r"users/(?P<user_id>\d+)/revoke-licenses", UserRevokeViewSet, basename="user-revoke")
    router.register(
        r"vpp-tokens/(?P<token_id>\d+)/reclaim-untracked",
        TokenReclaimUntrackedViewSet,
        basename="token-reclaim",
    )
    router.register(
        r"vpp-tokens/(?P<token_id>\d+)/reconcile", TokenReconcileViewSet, basename="token-reconcile"
    )
    router.register(
        r"vpp-tokens/(?P<id>\d+)/revoke-licenses",
        TokenRevokeLicensesViewSet,
        basename="token-revoke-licenses",
    )
