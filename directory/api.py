"""REST API resources of the directory app: users/, devices/, groups/ (with members) and CSV import."""

from __future__ import annotations

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from directory import csv_import, selectors, services
from directory.filters import DeviceFilter, DirectoryUserFilter, GroupFilter
from directory.models import Group
from directory.serializers import (
    DeviceSerializer,
    DirectoryUserSerializer,
    GroupSerializer,
    ImportSerializer,
    MembersChangeSerializer,
    MembershipSerializer,
)

_SIGNING_SALT = "directory.csv-import"


def _groups(ids, group_type: str) -> list[Group]:
    groups = selectors.groups_by_ids(ids or [])
    wrong = [str(g.pk) for g in groups if g.group_type != group_type]
    if wrong:
        raise ValidationError(
            {"groups": [_("Not a %(type)s group: %(ids)s.") % {"type": group_type, "ids": ", ".join(wrong)}]}
        )
    return groups


class DirectoryUserViewSet(viewsets.ModelViewSet):
    """Directory users. DELETE deactivates the user (the row is kept; their user licenses are reclaimed)."""

    queryset = selectors.user_list().order_by("display_name", "id")
    serializer_class = DirectoryUserSerializer
    filterset_class = DirectoryUserFilter
    ordering_fields = ["display_name", "user_principal_name", "created_at"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        groups = _groups(data.pop("groups", []), Group.GroupType.USER)
        with transaction.atomic():
            serializer.instance = services.user_create(**data, groups=groups, actor=self.request.user)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("groups", None)
        serializer.instance = services.user_update(
            user=serializer.instance, data=data, actor=self.request.user
        )

    @extend_schema(
        description=(
            "Deactivate the user (not a deletion): the row is kept with is_active false and their user "
            "licenses are reclaimed. Reactivate with reactivate/."
        ),
        responses={204: None},
    )
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance):
        services.user_deactivate(user=instance, actor=self.request.user)

    @extend_schema(request={"multipart/form-data": ImportSerializer}, responses=None)
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_csv(self, request):
        """CSV import of users (see directory/csv_import.py for the columns): preview, or `confirm=true`."""
        return _import(request, kind=csv_import.USERS)

    @extend_schema(request=None, responses=DirectoryUserSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        """Deactivate the user: they leave the organisation and lose their user licenses."""  # S11
        user = services.user_deactivate(user=self.get_object(), actor=request.user)
        return Response(self.get_serializer(selectors.user_list().get(pk=user.pk)).data)

    @extend_schema(request=None, responses=DirectoryUserSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        user = services.user_reactivate(user=self.get_object(), actor=request.user)
        return Response(self.get_serializer(selectors.user_list().get(pk=user.pk)).data)


class DeviceViewSet(viewsets.ModelViewSet):
    """Managed devices. DELETE retires the device (the row is kept; its device licenses are reclaimed)."""

    queryset = selectors.device_list().order_by("name", "serial_number")
    serializer_class = DeviceSerializer
    filterset_class = DeviceFilter
    ordering_fields = ["name", "serial_number", "created_at"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        groups = _groups(data.pop("groups", []), Group.GroupType.DEVICE)
        with transaction.atomic():
            serializer.instance = services.device_create(**data, groups=groups, actor=self.request.user)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("groups", None)
        serializer.instance = services.device_update(
            device=serializer.instance, data=data, actor=self.request.user
        )

    @extend_schema(
        description=(
            "Retire the device (not a deletion): the row is kept with is_active false and its device "
            "licenses are reclaimed."
        ),
        responses={204: None},
    )
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance):
        services.device_retire(device=instance, actor=self.request.user)

    @extend_schema(request={"multipart/form-data": ImportSerializer}, responses=None)
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_csv(self, request):
        """CSV import of devices (see directory/csv_import.py for the columns): preview, or `confirm=true`."""
        return _import(request, kind=csv_import.DEVICES)

    @extend_schema(request=None, responses=DeviceSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        """Retire the device: it leaves management and its device licenses are reclaimed."""  # B1
        device = services.device_retire(device=self.get_object(), actor=request.user)
        return Response(self.get_serializer(selectors.device_list().get(pk=device.pk)).data)


class GroupViewSet(viewsets.ModelViewSet):
    """User and device groups (apps are assigned to groups). DELETE is refused while apps are assigned."""

    queryset = selectors.group_list().order_by("name", "id")
    serializer_class = GroupSerializer
    filterset_class = GroupFilter
    ordering_fields = ["name", "created_at", "member_count"]

    def perform_create(self, serializer):
        group = services.group_create(**serializer.validated_data, actor=self.request.user)
        serializer.instance = selectors.group_list().get(pk=group.pk)  # with member_count

    def perform_update(self, serializer):
        services.group_update(
            group=serializer.instance, data=serializer.validated_data, actor=self.request.user
        )
        serializer.instance = selectors.group_list().get(pk=serializer.instance.pk)

    @extend_schema(
        description="Delete the group and its memberships; refused (400) while apps are assigned to it.",
        responses={204: None},
    )
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance):
        services.group_delete(group=instance, actor=self.request.user)

    def _change(self, request, *, remove: bool) -> Response:
        group = self.get_object()
        body = MembersChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        users = selectors.users_by_ids(body.validated_data["users"])
        devices = selectors.devices_by_ids(body.validated_data["devices"])
        if remove:
            count = services.group_remove_members(
                group=group, users=users, devices=devices, actor=request.user
            )
            return Response({"removed": count, "member_count": group.memberships.count()})
        added = services.group_add_members(group=group, users=users, devices=devices, actor=request.user)
        return Response(
            {"added": len(added), "member_count": group.memberships.count()},
            status=status.HTTP_201_CREATED if added else status.HTTP_200_OK,
        )

    @extend_schema(methods=["GET"], request=None, responses=MembershipSerializer(many=True))
    @extend_schema(methods=["POST", "DELETE"], request=MembersChangeSerializer, responses=None)
    @action(detail=True, methods=["get", "post", "delete"])
    def members(self, request, pk=None):
        """GET: members in join order with `joined_at`. POST adds, DELETE removes `{"users": [ids]}` or
        `{"devices": [ids]}`. Adding an existing member is a no-op; unknown ids answer 400 naming them."""
        if request.method == "POST":
            return self._change(request, remove=False)
        if request.method == "DELETE":
            return self._change(request, remove=True)
        page = self.paginate_queryset(selectors.group_members(self.get_object()))
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)

    @extend_schema(request=MembersChangeSerializer, responses=None)
    @action(detail=True, methods=["post"], url_path="members/remove")
    def remove_members(self, request, pk=None):
        """Remove `{"users": [ids]}` or `{"devices": [ids]}` from the group (the same as DELETE members/)."""
        return self._change(request, remove=True)

    @extend_schema(request={"multipart/form-data": ImportSerializer}, responses=None)
    @action(
        detail=True, methods=["post"], url_path="members/import", parser_classes=[MultiPartParser, FormParser]
    )
    def import_members(self, request, pk=None):
        """CSV import of members into this group (column user_principal_name or serial_number)."""
        return _import(request, kind=csv_import.MEMBERSHIPS, group=self.get_object())


def _import(request, *, kind: str | None, group: Group | None = None) -> Response:
    """Preview (default) or, with `confirm=true`, import a CSV file.

    `confirmation` from a preview stands for the previewed file. A file with any bad row answers 400 with
    every error, and nothing is imported.
    """
    body = ImportSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    if data.get("confirmation"):
        try:
            payload = signing.loads(data["confirmation"], salt=_SIGNING_SALT, max_age=3600)
        except signing.BadSignature:
            raise ValidationError(
                {"confirmation": [_("The confirmation is invalid or has expired.")]}
            ) from None
        kind, content = payload["kind"], payload["content"]
        group = Group.objects.filter(pk=payload.get("group")).first() if payload.get("group") else None
        confirm = True
    else:
        kind = kind or data.get("kind")
        if not kind:
            raise ValidationError({"kind": [_("Say what the file holds: users, devices or memberships.")]})
        upload = data.get("file")
        if upload is None:
            raise ValidationError({"file": [_("Upload a CSV file.")]})
        if upload.size > csv_import.MAX_BYTES:
            raise ValidationError(
                {
                    "file": [
                        _("The file is larger than %(max)d MB.")
                        % {"max": csv_import.MAX_BYTES // 1024 // 1024}
                    ]
                }
            )
        content = upload.read()
        confirm = data["confirm"]
    if confirm:
        result = csv_import.import_apply(kind=kind, content=content, group=group, actor=request.user)
        body = {**result.as_dict(), "imported": True, "run": result.run_id}
        return Response(body, status=status.HTTP_201_CREATED)
    result = csv_import.preview(kind, content, group=group)
    response = {**result.as_dict(), "imported": False}
    if result.is_valid:
        text = content if isinstance(content, str) else content.decode("utf-8-sig")
        response["confirmation"] = signing.dumps(
            {"kind": kind, "content": text, "group": group.pk if group else None},
            salt=_SIGNING_SALT,
            compress=True,
        )
    return Response(response, status=status.HTTP_200_OK if result.is_valid else status.HTTP_400_BAD_REQUEST)


class DirectoryImportViewSet(mixins.CreateModelMixin, viewsets.GenericViewSet):
    """CSV import of users, devices or memberships: POST previews; `confirm=true` imports, all or nothing."""

    serializer_class = ImportSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    queryset = Group.objects.none()

    def create(self, request, *args, **kwargs):
        return _import(request, kind=None)


def register(router) -> None:
    """Add this app's viewsets to the /api/v1/ router."""
    router.register("users", DirectoryUserViewSet, basename="directory-user")
    router.register("devices", DeviceViewSet, basename="directory-device")
    router.register("groups", GroupViewSet, basename="directory-group")
    router.register("directory-import", DirectoryImportViewSet, basename="directory-import")
