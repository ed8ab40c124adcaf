"""REST API of the reports (read-only; the same FilterSets as the pages):

- `reports/app-licenses/` (filters `vpp_token`, `product_type`, `platform`, `usage_at_least`, `assigned`)
- `reports/install-status/` (filters `app`, `vpp_token`, `group`, `platform`, `install_state`, `device`,
  `user`)
- `assignments/` every assignment (filters `app`, `vpp_token`, `group`, `intent`, `license_type`)
"""

from __future__ import annotations

from rest_framework import mixins, serializers, viewsets

from apps.models import App
from assignments.models import Assignment
from deployment import selectors as deployment_selectors
from deployment.models import DeviceAppState, InstallState
from reports import selectors
from reports.filters import AppLicenseFilter, AssignmentReportFilter, InstallStatusFilter


class AppLicenseRowSerializer(serializers.ModelSerializer):
    app = serializers.IntegerField(source="pk", read_only=True)
    vpp_token = serializers.IntegerField(source="vpp_token_id", read_only=True)
    vpp_token_name = serializers.CharField(source="vpp_token.name", read_only=True)
    platforms = serializers.ListField(child=serializers.CharField(), read_only=True)
    usage_percent = serializers.FloatField(source="usage", read_only=True)
    assigned = serializers.SerializerMethodField()
    assignments = serializers.IntegerField(source="assignment_count", read_only=True)
    installed = serializers.IntegerField(source="installed_count", read_only=True)
    failed = serializers.IntegerField(source="failed_count", read_only=True)
    pending_install = serializers.IntegerField(source="pending_count", read_only=True)

    class Meta:
        model = App
        fields = [
            "app", "name", "adam_id", "product_type", "platforms", "vpp_token", "vpp_token_name",
            "total_licenses", "used_licenses", "available_licenses", "usage_percent", "assigned",
            "assignments", "installed", "failed", "pending_install",
        ]  # fmt: skip
        read_only_fields = fields

    def get_assigned(self, app) -> bool:
        return app.assignment_count > 0


class InstallStatusRowSerializer(serializers.ModelSerializer):
    app = serializers.IntegerField(source="app_id", read_only=True)
    app_name = serializers.CharField(source="app.name", read_only=True)
    vpp_token = serializers.IntegerField(source="app.vpp_token_id", read_only=True)
    vpp_token_name = serializers.CharField(source="app.vpp_token.name", read_only=True)
    device = serializers.IntegerField(source="device_id", read_only=True)
    device_name = serializers.CharField(source="device.name", read_only=True)
    serial_number = serializers.CharField(source="device.serial_number", read_only=True)
    platform = serializers.CharField(source="device.platform", read_only=True)
    user = serializers.IntegerField(source="device.primary_user_id", read_only=True, allow_null=True)
    user_principal_name = serializers.CharField(
        source="device.primary_user.user_principal_name", read_only=True, default=None, allow_null=True
    )
    install_state = serializers.ChoiceField(source="state", choices=InstallState.choices, read_only=True)
    error = serializers.SerializerMethodField()

    class Meta:
        model = DeviceAppState
        fields = [
            "app", "app_name", "vpp_token", "vpp_token_name", "device", "device_name", "serial_number",
            "platform", "user", "user_principal_name", "install_state", "error_code", "error_domain", "error",
            "last_reported_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_error(self, obj: DeviceAppState) -> str:
        """The last error in words (translated where the console wrote it)."""
        return deployment_selectors.error_text(obj)


class AssignmentRowSerializer(serializers.ModelSerializer):
    app_name = serializers.CharField(source="app.name", read_only=True)
    vpp_token = serializers.IntegerField(source="app.vpp_token_id", read_only=True)
    vpp_token_name = serializers.CharField(source="app.vpp_token.name", read_only=True)
    group_name = serializers.CharField(source="group.name", read_only=True)
    targets = serializers.IntegerField(source="target_count", read_only=True)
    licensed = serializers.IntegerField(source="licensed_count", read_only=True)
    installed = serializers.IntegerField(source="installed_count", read_only=True)
    failed = serializers.IntegerField(source="failed_count", read_only=True)

    class Meta:
        model = Assignment
        fields = [
            "id", "app", "app_name", "vpp_token", "vpp_token_name", "group", "group_name", "intent",
            "license_type", "targets", "licensed", "installed", "failed", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class AppLicenseReportViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Per app and token: licenses total, used, available, usage in percent, assignments, installs."""  # M1

    serializer_class = AppLicenseRowSerializer
    filterset_class = AppLicenseFilter
    ordering_fields = [
        "name", "product_type", "vpp_token__name", "total_licenses", "used_licenses", "available_licenses",
        "usage", "assignment_count", "installed_count", "failed_count", "pending_count",
    ]  # fmt: skip

    def get_queryset(self):
        return selectors.app_licenses()


class InstallStatusReportViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The install state of every app on every device, with the last error in words."""  # M2

    serializer_class = InstallStatusRowSerializer
    filterset_class = InstallStatusFilter
    ordering_fields = ["app__name", "device__name", "device__serial_number", "state", "last_reported_at"]

    def get_queryset(self):
        return selectors.install_states()


class AssignmentReportViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Every assignment of every app, with its targets, licenses and installs."""

    serializer_class = AssignmentRowSerializer
    filterset_class = AssignmentReportFilter
    ordering_fields = [
        "app__name", "group__name", "intent", "license_type", "target_count", "licensed_count",
        "installed_count", "failed_count", "created_at",
    ]  # fmt: skip

    def get_queryset(self):
        return selectors.assignments()


def register(router) -> None:
    """Add the reports to the /api/v1/ router."""
    router.register("reports/app-licenses", AppLicenseReportViewSet, basename="report-app-licenses")
    router.register("reports/install-status", InstallStatusReportViewSet, basename="report-install-status")
    router.register("assignments", AssignmentReportViewSet, basename="assignment")
