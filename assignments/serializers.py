"""API shapes. Serializers only validate and present; the services do the work."""

from __future__ import annotations

from rest_framework import serializers

from assignments.models import Assignment, License, LicenseRun
from console.ids import IdSerializerField
from directory.models import Group


class LicenseSerializer(serializers.ModelSerializer):
    serial_number = serializers.SerializerMethodField()
    client_user_id = serializers.SerializerMethodField()
    covered_devices = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = License
        fields = [
            "id",
            "app",
            "assignment",
            "license_type",
            "state",
            "serial_number",
            "device",
            "user",
            "client_user_id",
            "covered_devices",
            "event_id",
            "error_number",
            "error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_serial_number(self, obj) -> str | None:
        """The device's serial number, or the one Apple reports for an untracked license."""  # T9
        if obj.device_id is not None:
            return obj.device.serial_number
        return obj.apple_serial_number or None

    def get_client_user_id(self, obj) -> str | None:
        """The client user id Apple reports for an untracked user license."""  # T9
        return obj.apple_client_user_id or None


class AssignmentSerializer(serializers.ModelSerializer):
    group = serializers.PrimaryKeyRelatedField(queryset=Group.objects.all())
    licenses_needed = serializers.SerializerMethodField()
    licenses_available = serializers.SerializerMethodField()
    unlimited = serializers.SerializerMethodField()
    oversubscribed = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()
    license_run = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = [
            "id",
            "app",
            "group",
            "intent",
            "license_type",
            "uninstall_on_device_removal",
            "removable_by_user",
            "prevent_backup",
            "prevent_automatic_updates",
            "created_at",
            "updated_at",
            "licenses_needed",
            "licenses_available",
            "unlimited",
            "oversubscribed",
            "warnings",
            "license_run",
        ]
        read_only_fields = ["id", "app", "created_at", "updated_at"]

    def _figure(self, obj, name):
        figures = getattr(obj, "preflight", None)
        return figures.get(name) if figures else None

    def get_licenses_needed(self, obj) -> int | None:
        return self._figure(obj, "licenses_needed")

    def get_licenses_available(self, obj) -> int | None:
        return self._figure(obj, "licenses_available")

    def get_unlimited(self, obj) -> bool | None:
        """True when the app's licenses never run out (then `licenses_available` is null)."""  # B3
        return self._figure(obj, "unlimited")

    def get_oversubscribed(self, obj) -> bool | None:
        return self._figure(obj, "oversubscribed")

    def get_warnings(self, obj) -> list[str]:
        return [str(w) for w in (self._figure(obj, "warnings") or [])]

    def get_license_run(self, obj) -> int | None:
        run = getattr(obj, "run", None)
        return run.pk if run else None


class AssignmentUpdateSerializer(serializers.Serializer):
    intent = serializers.ChoiceField(choices=Assignment.Intent.choices, required=False)
    uninstall_on_device_removal = serializers.BooleanField(required=False)
    removable_by_user = serializers.BooleanField(required=False)
    prevent_backup = serializers.BooleanField(required=False)
    prevent_automatic_updates = serializers.BooleanField(required=False)


class PreflightQuerySerializer(serializers.Serializer):
    """`?group=<id>&license_type=user|device` of the pre-flight figures."""  # B3

    group = IdSerializerField()
    license_type = serializers.ChoiceField(
        choices=Assignment.LicenseType.choices, default=Assignment.LicenseType.DEVICE
    )


class PreflightSerializer(serializers.Serializer):
    """The pre-flight figures: licenses needed and available, and the targets that cannot get one."""  # B3

    targets = serializers.IntegerField()
    licenses_needed = serializers.IntegerField()
    licenses_available = serializers.IntegerField(allow_null=True, help_text="null: unlimited licenses.")
    oversubscribed = serializers.BooleanField()
    ineligible = serializers.ListField(child=serializers.CharField())
    ineligible_count = serializers.IntegerField()
    devices_over_limit = serializers.IntegerField()
    warnings = serializers.ListField(child=serializers.CharField())


class HolderSerializer(serializers.Serializer):
    """`{"user": id}` or `{"device": id}`."""

    user = IdSerializerField(required=False)
    device = IdSerializerField(required=False)

    def validate(self, attrs):
        if ("user" in attrs) == ("device" in attrs):
            raise serializers.ValidationError("Give either user or device.")
        return attrs


class LicenseRunSerializer(serializers.ModelSerializer):
    """`license-runs/`: the license kinds of console.models.Run, in the shape this resource always had."""

    kind = serializers.ChoiceField(choices=LicenseRun.Kind.choices, read_only=True)

    class Meta:
        model = LicenseRun
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "vpp_token",
            "app",
            "user",
            "device",
            "assignment",
            "total",
            "succeeded",
            "failed",
            "summary",
            "error_number",
            "error",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class LicenseRunSummarySerializer(serializers.Serializer):
    """The license run started by `vpp-tokens/{id}/revoke-licenses/` (full resource: `license-runs/`)."""

    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    vpp_token = serializers.IntegerField(source="vpp_token_id")
    total = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    created_at = serializers.DateTimeField()
