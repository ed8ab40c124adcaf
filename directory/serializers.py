"""API representations of users, devices, groups and members (docs/rules.md, Stable interfaces).
Validation is in services."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from console.ids import IdSerializerField
from directory import csv_import
from directory.models import Device, DirectoryUser, Group, GroupMembership


class DirectoryUserSerializer(serializers.ModelSerializer):
    groups = serializers.ListField(
        child=IdSerializerField(),
        write_only=True,
        required=False,
        help_text=_("Ids of user groups to add a new user to."),
    )

    class Meta:
        model = DirectoryUser
        fields = [
            "id", "user_principal_name", "display_name", "email", "managed_apple_id", "is_active",
            "deactivated_at", "created_at", "updated_at", "groups",
        ]  # fmt: skip
        read_only_fields = ["deactivated_at", "created_at", "updated_at"]
        # Uniqueness (UPN, Apple ID) is checked by the services, with one wording for pages, API and import.
        validators: list = []
        extra_kwargs = {"user_principal_name": {"validators": []}, "managed_apple_id": {"validators": []}}


class DeviceSerializer(serializers.ModelSerializer):
    primary_user = serializers.PrimaryKeyRelatedField(
        queryset=DirectoryUser.objects.all(), allow_null=True, required=False
    )
    primary_user_name = serializers.CharField(
        source="primary_user.display_name", read_only=True, default=None, allow_null=True
    )
    groups = serializers.ListField(
        child=IdSerializerField(),
        write_only=True,
        required=False,
        help_text=_("Ids of device groups to add a new device to."),
    )

    class Meta:
        model = Device
        fields = [
            "id", "serial_number", "name", "model", "platform", "os_version", "ownership", "supervised",
            "kiosk_mode", "dep_enrolled", "primary_user", "primary_user_name", "app_store_allowed",
            "is_active", "retired_at", "udid", "mdm_enrolled", "last_checkin_at", "created_at", "updated_at",
            "groups",
        ]  # fmt: skip
        # D1: the MDM fields come from the MDM server's enrolment events only.
        read_only_fields = [
            "is_active", "retired_at", "udid", "mdm_enrolled", "last_checkin_at", "created_at", "updated_at",
        ]  # fmt: skip
        validators: list = []
        extra_kwargs = {"serial_number": {"validators": []}}


class GroupSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Group
        fields = ["id", "name", "group_type", "description", "member_count", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"name": {"validators": []}}


class MembershipSerializer(serializers.ModelSerializer):
    """One member of a group, in join order."""

    member_type = serializers.SerializerMethodField()
    name = serializers.SerializerMethodField()
    user_principal_name = serializers.CharField(
        source="user.user_principal_name", read_only=True, default=None, allow_null=True
    )
    serial_number = serializers.CharField(
        source="device.serial_number", read_only=True, default=None, allow_null=True
    )
    is_active = serializers.SerializerMethodField()

    class Meta:
        model = GroupMembership
        fields = [
            "id", "member_type", "user", "device", "name", "user_principal_name", "serial_number",
            "is_active", "joined_at",
        ]  # fmt: skip

    def get_member_type(self, obj) -> str:
        return "user" if obj.user_id else "device"

    def get_name(self, obj) -> str:
        return str(obj.user or obj.device)

    def get_is_active(self, obj) -> bool:
        return (obj.user or obj.device).is_active


class MembersChangeSerializer(serializers.Serializer):
    """`{"users": [ids]}` for a user group or `{"devices": [ids]}` for a device group."""

    users = serializers.ListField(child=IdSerializerField(), required=False, default=list)
    devices = serializers.ListField(child=IdSerializerField(), required=False, default=list)

    def validate(self, attrs):
        if not attrs["users"] and not attrs["devices"]:
            raise serializers.ValidationError(_("Give “users” or “devices”: a list of ids."))
        return attrs


class ImportSerializer(serializers.Serializer):
    """A CSV file to preview (default) or to import (`confirm=true`)."""

    kind = serializers.ChoiceField(choices=list(csv_import.KINDS), required=False)
    file = serializers.FileField(required=False)
    confirm = serializers.BooleanField(default=False)
    confirmation = serializers.CharField(
        required=False,
        help_text=_(
            "The `confirmation` returned by a preview: imports that file without uploading it again."
        ),
    )
