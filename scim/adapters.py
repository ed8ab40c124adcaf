"""django-scim2 adapters between SCIM resources and the directory's users and groups.

Reading is done here; every change goes through `directory.services` with the SCIM client's account as the
actor, so the directory's rules, its audit log and the license hooks (S6, S11) apply as for any other change.
PATCH accepts the dialects Entra ID and Okta send: capitalised ops ("Replace"), string booleans ("False"),
operations without a path carrying a value object, and `members[value eq "…"]` paths.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from django.core.exceptions import ValidationError
from django.urls import reverse
from django_scim import constants, exceptions
from django_scim.adapters import SCIMMixin
from django_scim.utils import get_base_scim_location_getter

from directory import services
from directory.models import DirectoryUser, Group
from scim import schemas, selectors

OPS = ("add", "replace", "remove")


def _bad(detail: str, scim_type: str = "invalidValue") -> exceptions.BadRequestError:
    return exceptions.BadRequestError(detail, scim_type=scim_type)


def _conflict(detail: str) -> exceptions.IntegrityError:
    return exceptions.IntegrityError(detail, scim_type="uniqueness")


def _as_bool(value: Any, name: str) -> bool:
    """SCIM booleans; Entra ID sends "True"/"False" strings in PATCH."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _bad(f'"{name}" must be true or false.')


def _get(data: dict, name: str, default: Any = None) -> Any:
    """Attribute names are case-insensitive (RFC 7643 §2.1)."""
    lowered = name.lower()
    for key, value in data.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return default


def _email(value: Any) -> str:
    """The console keeps one address: the primary one, else the first."""
    if value in (None, "", []):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _bad('"emails" must be a list of {"value": …} objects.')
    ordered = sorted(value, key=lambda v: not _get(v, "primary", False))
    return str(_get(ordered[0], "value") or "") if ordered else ""


def _validation_detail(error: ValidationError) -> str:
    return " ".join(error.messages)


class _Adapter(SCIMMixin):
    id_field = "pk"

    def __init__(self, obj, request=None):
        super().__init__(obj, request)
        self.changes: dict[str, Any] = {}

    @property
    def actor(self):
        return self.request.user

    @property
    def base(self) -> str:
        return get_base_scim_location_getter()(self.request)

    def location_of(self, url_name: str, pk: int) -> str:
        return urljoin(self.base, reverse(url_name, kwargs={"uuid": str(pk)}))

    def meta(self) -> dict[str, Any]:
        return {
            "resourceType": self.resource_type,
            "created": self.obj.created_at.isoformat(),
            "lastModified": self.obj.updated_at.isoformat(),
            "location": self.location,
        }

    def _fresh(self, pk: int):
        """The object as the response shows it, after the services changed it (memberships re-read)."""
        return selectors.resources(self.resource_type).get(pk=pk)

    def validate_dict(self, d):
        if not isinstance(d, dict):
            raise _bad("The body must be a JSON object.", "invalidSyntax")

    def delete(self):  # pragma: no cover - every adapter defines it
        raise NotImplementedError

    def handle_operations(self, operations):
        """Apply PATCH operations in order, then save once. Raises BadRequestError (400) for an unknown op or
        a bad value; the view's transaction then leaves nothing changed."""
        if not isinstance(operations, list):
            raise _bad('"Operations" must be a list.', "invalidSyntax")
        for operation in operations:
            if not isinstance(operation, dict):
                raise _bad("Each operation must be an object.", "invalidSyntax")
            op = str(_get(operation, "op", "")).lower()
            if op not in OPS:
                raise _bad(f'Unknown PATCH op "{_get(operation, "op", "")}".', "invalidSyntax")
            path = _get(operation, "path")
            value = _get(operation, "value")
            if path:
                self.apply(op, str(path), value)
            elif op == "remove":
                raise _bad('"path" is required to remove.', "noTarget")
            elif isinstance(value, dict):
                for key, item in value.items():
                    self.apply(op, key, item)
            else:
                raise _bad("An operation without a path needs an object value.", "invalidSyntax")
        self.save()

    def apply(self, op: str, path: str, value: Any) -> None:  # pragma: no cover - every adapter defines it
        raise NotImplementedError


class ScimUser(_Adapter):
    """A directory user: userName ↔ user principal name, displayName, emails (one kept), active, externalId,
    and the managed Apple ID in the console's extension."""

    url_name = "scim:users"
    resource_type = "User"

    def to_dict(self) -> dict[str, Any]:
        user: DirectoryUser = self.obj
        d: dict[str, Any] = {"schemas": [schemas.USER], "id": str(user.pk)}
        if user.external_id:
            d["externalId"] = user.external_id
        d.update(userName=user.user_principal_name, displayName=user.display_name, active=user.is_active)
        if user.email:
            d["emails"] = [{"value": user.email}]
        groups = [
            {
                "value": str(m.group_id),
                "$ref": self.location_of("scim:groups", m.group_id),
                "display": m.group.name,
            }
            for m in user.memberships.all()
            if m.group.group_type == Group.GroupType.USER and m.group.deprovisioned_at is None
        ]
        if groups:
            d["groups"] = groups
        if user.managed_apple_id:
            d["schemas"].append(schemas.CONSOLE_USER)
            d[schemas.CONSOLE_USER] = {schemas.APPLE_ID: user.managed_apple_id}
        d["meta"] = self.meta()
        return d

    def from_dict(self, d):
        """POST and PUT: the whole user. `active` absent keeps the user's state (true for a new user)."""
        user_name = _get(d, "userName")
        if not isinstance(user_name, str) or not user_name.strip():
            raise _bad('"userName" is required.')
        display_name = _get(d, "displayName") or user_name
        extension = _get(d, schemas.CONSOLE_USER) or {}
        if not isinstance(extension, dict):
            raise _bad(f'"{schemas.CONSOLE_USER}" must be an object.')
        self.changes = {
            "user_principal_name": user_name,
            "display_name": str(display_name),
            "email": _email(_get(d, "emails")),
            "managed_apple_id": str(_get(extension, schemas.APPLE_ID) or ""),
            "external_id": str(_get(d, "externalId") or ""),
        }
        active = _get(d, "active")
        if active is not None:
            self.changes["is_active"] = _as_bool(active, "active")

    def apply(self, op: str, path: str, value: Any) -> None:
        attribute = path.strip()
        lowered = attribute.lower()
        remove = op == "remove"
        extension = schemas.CONSOLE_USER.lower()
        if lowered == extension:
            if remove:
                self.changes["managed_apple_id"] = ""
                return
            if not isinstance(value, dict):
                raise _bad(f'"{schemas.CONSOLE_USER}" must be an object.')
            for key, item in value.items():
                self.apply(op, f"{schemas.CONSOLE_USER}:{key}", item)
            return
        if lowered.startswith(extension + ":"):
            lowered = lowered[len(extension) + 1 :]
            if lowered == schemas.APPLE_ID.lower():
                self.changes["managed_apple_id"] = "" if remove else str(value or "")
            return
        if lowered == "username":
            if remove or not isinstance(value, str) or not value.strip():
                raise _bad('"userName" is required.', "mutability" if remove else "invalidValue")
            self.changes["user_principal_name"] = value
        elif lowered == "displayname":
            if remove or not value:
                raise _bad('"displayName" is required.', "mutability" if remove else "invalidValue")
            self.changes["display_name"] = str(value)
        elif lowered == "externalid":
            self.changes["external_id"] = "" if remove else str(value or "")
        elif lowered == "active":
            if not remove:
                self.changes["is_active"] = _as_bool(value, "active")
        elif lowered == "emails" or lowered.startswith(("emails[", "emails.")):
            self.changes["email"] = "" if remove else _email(value)
        # Anything else (name, title, addresses, the enterprise extension…) is not kept by the console.

    def save(self):
        actor = self.actor
        try:
            if self.obj.pk is None:
                self.obj = self._create(actor)
            else:
                self._check_unique(exclude_pk=self.obj.pk)
                self.obj = services.user_update(user=self.obj, data=self.changes, actor=actor)
        except ValidationError as error:
            raise _bad(_validation_detail(error)) from error
        self.obj = self._fresh(self.obj.pk)

    def _create(self, actor) -> DirectoryUser:
        data = dict(self.changes)
        upn = data["user_principal_name"].strip()
        gone = DirectoryUser.objects.filter(
            user_principal_name__iexact=upn, deprovisioned_at__isnull=False
        ).first()
        if gone is not None:
            # Deleted by the provider earlier and created again: the same person comes back.
            self._check_unique(exclude_pk=gone.pk)
            data.setdefault("is_active", True)
            return services.user_provision_again(user=gone, data=data, actor=actor)
        self._check_unique(exclude_pk=None)
        return services.user_create(**data, actor=actor)

    def _check_unique(self, *, exclude_pk: int | None) -> None:
        others = DirectoryUser.objects.exclude(pk=exclude_pk) if exclude_pk else DirectoryUser.objects.all()
        upn = (self.changes.get("user_principal_name") or "").strip()
        if upn and others.filter(user_principal_name__iexact=upn).exists():
            raise _conflict(f'A user with the userName "{upn}" already exists.')
        apple_id = (self.changes.get("managed_apple_id") or "").strip()
        if apple_id and others.filter(managed_apple_id__iexact=apple_id).exists():
            raise _conflict(f'The Apple ID "{apple_id}" already belongs to another user.')

    def delete(self):
        """DELETE deactivates the user (S11: licenses reclaimed) and removes them from the provider's view."""
        services.user_deprovision(user=self.obj, actor=self.actor)

    @classmethod
    def resource_type_dict(cls, request=None):
        return _resource_type(
            request,
            "User",
            "User",
            "scim:users",
            "A person in the directory",
            schemas.USER,
            extensions=[{"schema": schemas.CONSOLE_USER, "required": False}],
        )


class ScimGroup(_Adapter):
    """A user group: displayName ↔ name, members in join order (S6), externalId."""

    url_name = "scim:groups"
    resource_type = "Group"

    def to_dict(self) -> dict[str, Any]:
        group: Group = self.obj
        d: dict[str, Any] = {"schemas": [schemas.GROUP], "id": str(group.pk)}
        if group.external_id:
            d["externalId"] = group.external_id
        d["displayName"] = group.name
        members = [
            {"value": str(m.user_id), "$ref": self.location_of("scim:users", m.user_id)}
            for m in group.memberships.all()
            if m.user_id is not None
        ]
        if members:
            d["members"] = members
        d["meta"] = self.meta()
        return d

    def from_dict(self, d):
        """POST and PUT: the whole group; PUT without "members" keeps the members."""
        name = _get(d, "displayName")
        if not isinstance(name, str) or not name.strip():
            raise _bad('"displayName" is required.')
        self.changes = {"name": name, "external_id": str(_get(d, "externalId") or "")}
        members = _get(d, "members")
        if members is not None:
            self.changes["members"] = self._users(members)

    def _users(self, members: Any) -> list[DirectoryUser]:
        """The users `members` names, in its order. Raises BadRequestError for an unknown one."""
        if isinstance(members, dict):
            members = [members]
        if not isinstance(members, list):
            raise _bad('"members" must be a list of {"value": "<user id>"} objects.')
        ids: list[int] = []
        for member in members:
            value = _get(member, "value") if isinstance(member, dict) else member
            try:
                ids.append(int(str(value)))
            except (TypeError, ValueError):
                raise _bad(f'Unknown member "{value}".') from None
        found = DirectoryUser.objects.filter(pk__in=ids, deprovisioned_at__isnull=True).in_bulk()
        missing = [str(i) for i in ids if i not in found]
        if missing:
            raise _bad(f"Unknown member(s): {', '.join(missing)}.")
        return [found[i] for i in ids]

    def apply(self, op: str, path: str, value: Any) -> None:
        lowered = path.strip().lower()
        remove = op == "remove"
        if lowered == "displayname":
            if remove or not isinstance(value, str) or not value.strip():
                raise _bad('"displayName" is required.', "mutability" if remove else "invalidValue")
            self.changes["name"] = value
        elif lowered == "externalid":
            self.changes["external_id"] = "" if remove else str(value or "")
        elif lowered == "members":
            self._save_scalars()
            if op == "add":
                services.group_add_members(group=self.obj, users=self._users(value or []), actor=self.actor)
            elif op == "replace":
                services.group_set_members(group=self.obj, users=self._users(value or []), actor=self.actor)
            elif value:
                services.group_remove_members(group=self.obj, users=self._users(value), actor=self.actor)
            else:
                everyone = list(DirectoryUser.objects.filter(memberships__group=self.obj))
                services.group_remove_members(group=self.obj, users=everyone, actor=self.actor)
        elif lowered.startswith("members[") and remove:
            # Okta: {"op": "remove", "path": "members[value eq \"42\"]"}
            member = self._filtered_member(path)
            self._save_scalars()
            services.group_remove_members(group=self.obj, users=self._users([member]), actor=self.actor)
        elif lowered == "id":
            return  # Okta repeats the id in replace values
        else:
            raise _bad(f'Unknown or read-only attribute "{path}".', "invalidPath")

    @staticmethod
    def _filtered_member(path: str) -> str:
        inside = path[path.index("[") + 1 : path.rindex("]")] if "]" in path else ""
        attribute, _sep, rest = inside.strip().partition(" ")
        operator, _sep, literal = rest.strip().partition(" ")
        if attribute.lower() != "value" or operator.lower() != "eq":
            raise _bad(f'Unsupported member filter "{path}".', "invalidFilter")
        return literal.strip().strip('"')

    def _save_scalars(self) -> None:
        """Rename before membership changes: they lock and re-read the group."""
        scalars = {k: v for k, v in self.changes.items() if k in ("name", "external_id")}
        if scalars:
            self._update(scalars)
            self.changes = {k: v for k, v in self.changes.items() if k not in scalars}

    def _update(self, data: dict[str, Any]) -> None:
        try:
            if "name" in data:
                self._check_unique(data["name"], exclude_pk=self.obj.pk)
            self.obj = services.group_update(group=self.obj, data=data, actor=self.actor)
        except ValidationError as error:
            raise _bad(_validation_detail(error)) from error

    def save(self):
        actor = self.actor
        members = self.changes.pop("members", None)
        try:
            if self.obj.pk is None:
                self._check_unique(self.changes["name"], exclude_pk=None)
                self.obj = services.group_create(
                    name=self.changes["name"],
                    group_type=Group.GroupType.USER,
                    external_id=self.changes.get("external_id", ""),
                    actor=actor,
                )
                if members:
                    services.group_add_members(group=self.obj, users=members, actor=actor)
            else:
                self._save_scalars()
                if members is not None:
                    services.group_set_members(group=self.obj, users=members, actor=actor)
        except ValidationError as error:
            raise _bad(_validation_detail(error)) from error
        self.changes = {}
        self.obj = self._fresh(self.obj.pk)

    @staticmethod
    def _check_unique(name: str, *, exclude_pk: int | None) -> None:
        others = Group.objects.exclude(pk=exclude_pk) if exclude_pk else Group.objects.all()
        if others.filter(name__iexact=name.strip()).exists():
            raise _conflict(f'A group named "{name.strip()}" already exists.')

    def delete(self):
        """DELETE: members leave (licenses from the group reclaimed, S11); the group is deleted, or stays
        empty while apps are assigned to it."""
        services.group_deprovision(group=self.obj, actor=self.actor)

    @classmethod
    def resource_type_dict(cls, request=None):
        return _resource_type(request, "Group", "Group", "scim:groups", "A user group", schemas.GROUP)


def _resource_type(request, id_, name, url_name, description, schema, extensions=None) -> dict[str, Any]:
    path = reverse("scim:resource-types", kwargs={"uuid": id_})
    d: dict[str, Any] = {
        "schemas": [constants.SchemaURI.RESOURCE_TYPE],
        "id": id_,
        "name": name,
        # Relative to the base URL (RFC 7643 §6): "/Users".
        "endpoint": "/" + reverse(url_name).rstrip("/").rsplit("/", 1)[-1],
        "description": description,
        "schema": schema,
        "meta": {
            "location": urljoin(get_base_scim_location_getter()(request), path),
            "resourceType": "ResourceType",
        },
    }
    if extensions:
        d["schemaExtensions"] = extensions
    return d
