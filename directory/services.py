"""State changes of the directory: users, devices, groups and memberships.

Every function here is the one way in for its change (pages, API, CSV import and demo data call it), validates
with clear messages (Django `ValidationError`, which the API answers as 400), records the audit log, and
announces changes that affect licenses after commit (`directory.signals`; the assignments app listens).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from console import audit, roles
from directory import signals
from directory.models import Device, DirectoryUser, Group, GroupMembership, Source
from directory.signals import send_after_commit

logger = logging.getLogger(__name__)

USER_FIELDS = ("user_principal_name", "display_name", "email", "managed_apple_id")
DEVICE_FIELDS = (
    "serial_number",
    "name",
    "model",
    "platform",
    "os_version",
    "ownership",
    "supervised",
    "kiosk_mode",
    "dep_enrolled",
    "primary_user",
    "app_store_allowed",
)
GROUP_FIELDS = ("name", "group_type", "description")


def _snapshot(obj) -> dict[str, Any]:
    """The audited fields of `obj`: everything but the bookkeeping timestamps."""
    return {k: v for k, v in audit.snapshot(obj).items() if k not in ("created_at", "updated_at")}


def _actor_id(actor) -> int | None:
    return actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None


# --- identity-provider ownership ---------------------------------------------------------------------------
def _check_editable(obj: DirectoryUser | Group, actor) -> None:
    """Users and groups an identity provider provisions change only through that provider (SCIM).

    Raises ValidationError naming the object for anyone else (console pages, the REST API, CSV import).
    """
    if obj.managed_by_identity_provider and not roles.is_identity_provider(actor):
        name = obj.user_principal_name if isinstance(obj, DirectoryUser) else obj.name
        raise ValidationError(
            _(
                "“%(name)s” is provisioned by the identity provider and cannot be changed here; change it "
                "in the identity provider."
            )
            % {"name": name}
        )


def _provenance(obj: DirectoryUser | Group, actor, external_id: str | None) -> None:
    """An identity provider that creates or changes an object owns it from then on (it takes over a user or
    group an administrator typed in when it matches it; Entra ID and Okta match on userName/displayName)."""
    if not roles.is_identity_provider(actor):
        return
    obj.source = Source.IDENTITY_PROVIDER
    obj.provisioned_by = actor
    obj.deprovisioned_at = None
    if external_id is not None:
        obj.external_id = _clean_text(external_id)


# --- validation helpers ------------------------------------------------------------------------------------
def _clean_text(value: Any) -> str:
    return (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()


def _validate_user(*, upn: str, display_name: str, managed_apple_id: str, exclude_pk: int | None) -> None:
    errors: dict[str, list[str]] = {}
    if not upn:
        errors.setdefault("user_principal_name", []).append(_("The user principal name is required."))
    if not display_name:
        errors.setdefault("display_name", []).append(_("The display name is required."))
    others = DirectoryUser.objects.exclude(pk=exclude_pk) if exclude_pk else DirectoryUser.objects.all()
    if upn and others.filter(user_principal_name__iexact=upn).exists():
        errors.setdefault("user_principal_name", []).append(
            _("A user with the user principal name “%(upn)s” already exists.") % {"upn": upn}
        )
    if managed_apple_id:
        holder = others.filter(managed_apple_id__iexact=managed_apple_id).first()
        if holder is not None:
            # A3: the pair (user, Apple ID) is unique, so one Apple ID belongs to one user.
            errors.setdefault("managed_apple_id", []).append(
                _("The Apple ID “%(apple_id)s” already belongs to %(user)s.")
                % {"apple_id": managed_apple_id, "user": holder.user_principal_name}
            )
    if errors:
        raise ValidationError(errors)


def _validate_device(*, serial_number: str, primary_user, exclude_pk: int | None) -> None:
    errors: dict[str, list[str]] = {}
    if not serial_number:
        errors["serial_number"] = [_("The serial number is required.")]
    else:
        others = Device.objects.exclude(pk=exclude_pk) if exclude_pk else Device.objects.all()
        if others.filter(serial_number__iexact=serial_number).exists():
            errors["serial_number"] = [
                _("A device with the serial number “%(serial)s” already exists.") % {"serial": serial_number}
            ]
    if primary_user is not None and (
        primary_user.pk is None or not DirectoryUser.objects.filter(pk=primary_user.pk).exists()
    ):
        errors["primary_user"] = [_("The primary user does not exist.")]
    if errors:
        raise ValidationError(errors)


def _full_clean(obj, exclude: Iterable[str] = ()) -> None:
    """Field-level checks (lengths, choices, email format); uniqueness is checked above with our messages."""
    obj.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)


# --- users -------------------------------------------------------------------------------------------------
@transaction.atomic
def user_create(
    *,
    user_principal_name: str,
    display_name: str,
    email: str = "",
    managed_apple_id: str = "",
    is_active: bool = True,
    groups: Sequence[Group] = (),
    external_id: str = "",
    actor,
) -> DirectoryUser:
    """Create a directory user (and add them to `groups`). Created by an identity provider, the user is
    marked as provisioned by it (with its `external_id`) and only it can change the user afterwards.

    Raises ValidationError for a duplicate user principal name or Apple ID (A3).
    """
    upn = _clean_text(user_principal_name)
    apple_id = _clean_text(managed_apple_id)
    _validate_user(
        upn=upn, display_name=_clean_text(display_name), managed_apple_id=apple_id, exclude_pk=None
    )
    user = DirectoryUser(
        user_principal_name=upn,
        display_name=_clean_text(display_name),
        email=_clean_text(email),
        managed_apple_id=apple_id,
        is_active=is_active,
        deactivated_at=None if is_active else timezone.now(),
    )
    _provenance(user, actor, external_id)
    _full_clean(user)
    user.save()
    audit.record(actor=actor, action="directory.user.create", obj=user, after=audit.snapshot(user))
    for group in groups:
        group_add_members(group=group, users=[user], actor=actor)
    return user


@transaction.atomic
def user_update(*, user: DirectoryUser, data: Mapping[str, Any], actor) -> DirectoryUser:
    """Change a user's properties; `is_active` in `data` deactivates or reactivates; `external_id` is the
    identity provider's own id for the user (kept only from an identity provider).

    Raises ValidationError for a duplicate user principal name or Apple ID, or for a user the identity
    provider owns when the actor is not an identity provider.
    """
    user = DirectoryUser.objects.select_for_update().get(pk=user.pk)
    _check_editable(user, actor)
    before = _snapshot(user)
    for field in USER_FIELDS:
        if field in data:
            setattr(user, field, _clean_text(data[field]))
    _provenance(user, actor, data.get("external_id"))
    _validate_user(
        upn=user.user_principal_name,
        display_name=user.display_name,
        managed_apple_id=user.managed_apple_id,
        exclude_pk=user.pk,
    )
    _full_clean(user)
    user.save()
    old, new = audit.changed(before, _snapshot(user))
    if new:
        audit.record(actor=actor, action="directory.user.update", obj=user, before=old, after=new)
    if "is_active" in data and bool(data["is_active"]) != user.is_active:
        user = (
            user_deactivate(user=user, actor=actor)
            if user.is_active
            else user_reactivate(user=user, actor=actor)
        )
    return user


@transaction.atomic
def user_deactivate(*, user: DirectoryUser, actor) -> DirectoryUser:
    """Deactivate a user (they left the organisation). Their user licenses are reclaimed (S11, B1).

    The user stays in their groups, so reactivating restores the assignments; inactive users are no targets.
    Deactivating an inactive user changes nothing. Raises ValidationError for a user the identity provider
    owns when the actor is not an identity provider.
    """
    user = DirectoryUser.objects.select_for_update().get(pk=user.pk)
    _check_editable(user, actor)
    if not user.is_active:
        return user
    user.is_active = False
    user.deactivated_at = timezone.now()
    user.save(update_fields=["is_active", "deactivated_at", "updated_at"])
    audit.record(
        actor=actor,
        action="directory.user.deactivate",
        obj=user,
        before={"is_active": True},
        after={"is_active": False, "deactivated_at": user.deactivated_at},
    )
    send_after_commit(signals.user_deactivated, user_id=user.pk, actor_id=_actor_id(actor))
    return user


@transaction.atomic
def user_reactivate(*, user: DirectoryUser, actor) -> DirectoryUser:
    """Make a deactivated user active again; they become a target of their groups' assignments again."""
    user = DirectoryUser.objects.select_for_update().get(pk=user.pk)
    _check_editable(user, actor)
    if user.is_active:
        return user
    user.is_active = True
    user.deactivated_at = None
    user.save(update_fields=["is_active", "deactivated_at", "updated_at"])
    audit.record(
        actor=actor,
        action="directory.user.reactivate",
        obj=user,
        before={"is_active": False},
        after={"is_active": True},
    )
    member_groups = Group.objects.filter(memberships__user=user).values_list("pk", flat=True)
    for group_id in member_groups:
        send_after_commit(
            signals.members_added,
            group_id=group_id,
            user_ids=[user.pk],
            device_ids=[],
            actor_id=_actor_id(actor),
        )
    return user


# --- many users or devices at once (CSV import) -------------------------------------------------------
def _validate_many(objs: Sequence, model, label: str, messages: Mapping[str, Any]) -> None:
    """Field formats and uniqueness of many new or changed objects, in one query per unique field.

    `messages` maps each unique field to a function (value, holder) -> message: a value may appear once across
    `objs` and the rest of the table, whatever the case. `label` names an object (its UPN or serial number).
    Raises ValidationError naming every problem.
    """
    errors: list[str] = []
    batch_pks = {o.pk for o in objs if o.pk is not None}
    for field, message in messages.items():
        taken = {
            value.lower(): holder
            for pk, value, holder in model.objects.exclude(**{field: ""}).values_list("pk", field, label)
            if pk not in batch_pks
        }
        for obj in objs:
            value = getattr(obj, field)
            if not value:
                continue
            if value.lower() in taken:
                errors.append(message(value, taken[value.lower()]))
            taken[value.lower()] = getattr(obj, label)
    for obj in objs:
        try:
            _full_clean(obj, exclude=["primary_user"] if model is Device else [])
        except ValidationError as exc:
            errors.extend(
                f"{getattr(obj, label)}: {field}: {m}" for field, ms in exc.message_dict.items() for m in ms
            )
    if errors:
        raise ValidationError(errors)


def _validate_many_users(users: Sequence[DirectoryUser]) -> None:
    errors: list[str] = []
    for user in users:
        if not user.user_principal_name:
            errors.append(_("The user principal name is required."))
        elif not user.display_name:
            errors.append(f"{user.user_principal_name}: " + _("The display name is required."))
    if errors:
        raise ValidationError(errors)
    _validate_many(
        users,
        DirectoryUser,
        "user_principal_name",
        {
            "user_principal_name": lambda value, holder: (
                _("A user with the user principal name “%(upn)s” already exists.") % {"upn": value}
            ),
            # A3: the pair (user, Apple ID) is unique, so one Apple ID belongs to one user.
            "managed_apple_id": lambda value, holder: (
                _("The Apple ID “%(apple_id)s” already belongs to %(user)s.")
                % {"apple_id": value, "user": holder}
            ),
        },
    )


def _saved_pks(objs: Sequence, model, field: str) -> None:
    """Give `objs` their ids after bulk_create on a database that does not return them."""
    missing = [o for o in objs if o.pk is None]
    if missing:
        values = [getattr(o, field) for o in missing]
        pks = dict(model.objects.filter(**{f"{field}__in": values}).values_list(field, "pk"))
        for obj in missing:
            obj.pk = pks[getattr(obj, field)]


@transaction.atomic
def user_bulk_create(*, rows: Sequence[Mapping[str, Any]], actor) -> list[DirectoryUser]:
    """Create many users in a few queries (CSV import of thousands of rows): the checks and defaults of
    `user_create`, and one `directory.user.create` audit entry per user. Raises ValidationError naming every
    problem; then nothing is created."""
    now = timezone.now()
    users = []
    for data in rows:
        is_active = bool(data.get("is_active", True))
        users.append(
            DirectoryUser(
                user_principal_name=_clean_text(data.get("user_principal_name")),
                display_name=_clean_text(data.get("display_name")),
                email=_clean_text(data.get("email")),
                managed_apple_id=_clean_text(data.get("managed_apple_id")),
                is_active=is_active,
                deactivated_at=None if is_active else now,
            )
        )
    _validate_many_users(users)
    DirectoryUser.objects.bulk_create(users, batch_size=500)
    _saved_pks(users, DirectoryUser, "user_principal_name")
    audit.record_many(
        actor=actor, action="directory.user.create", entries=[(u, None, audit.snapshot(u)) for u in users]
    )
    return users


@transaction.atomic
def user_bulk_update(*, changes: Sequence[tuple[int, Mapping[str, Any]]], actor) -> list[DirectoryUser]:
    """`user_update` for many users (by id) in a few queries, with the same checks and audit entries.

    An `is_active` change goes through `user_deactivate` / `user_reactivate`, so licenses follow (S11, B1).
    """
    locked = DirectoryUser.objects.select_for_update().in_bulk([pk for pk, _data in changes])
    now = timezone.now()
    users, entries, lifecycle, fields = [], [], [], {"updated_at"}
    for pk, data in changes:
        user = locked[pk]
        _check_editable(user, actor)
        before = _snapshot(user)
        for field in USER_FIELDS:
            if field in data:
                setattr(user, field, _clean_text(data[field]))
        old, new = audit.changed(before, _snapshot(user))
        users.append(user)
        if new:
            user.updated_at = now
            fields.update(new)
            entries.append((user, old, new))
        if "is_active" in data and bool(data["is_active"]) != user.is_active:
            lifecycle.append((user, bool(data["is_active"])))
    _validate_many_users(users)
    DirectoryUser.objects.bulk_update([u for u, _o, _n in entries], sorted(fields), batch_size=500)
    audit.record_many(actor=actor, action="directory.user.update", entries=entries)
    for user, active in lifecycle:
        (user_reactivate if active else user_deactivate)(user=user, actor=actor)
    return users


# --- devices -----------------------------------------------------------------------------------------------
def _normalise_serial(value: Any) -> str:
    return _clean_text(value).upper()


@transaction.atomic
def device_create(
    *,
    serial_number: str,
    name: str = "",
    model: str = "",
    platform: str = Device.Platform.IOS,
    os_version: str = "",
    ownership: str = Device.Ownership.CORPORATE,
    supervised: bool = False,
    kiosk_mode: bool = False,
    dep_enrolled: bool = False,
    primary_user: DirectoryUser | None = None,
    app_store_allowed: bool = True,
    groups: Sequence[Group] = (),
    actor,
) -> Device:
    """Register a device (and add it to `groups`). Raises ValidationError for a duplicate serial number or an
    unknown primary user."""
    serial = _normalise_serial(serial_number)
    _validate_device(serial_number=serial, primary_user=primary_user, exclude_pk=None)
    device = Device(
        serial_number=serial,
        name=_clean_text(name),
        model=_clean_text(model),
        platform=platform,
        os_version=_clean_text(os_version),
        ownership=ownership,
        supervised=supervised,
        kiosk_mode=kiosk_mode,
        dep_enrolled=dep_enrolled,
        primary_user=primary_user,
        app_store_allowed=app_store_allowed,
    )
    _full_clean(device, exclude=["primary_user"])
    device.save()
    audit.record(actor=actor, action="directory.device.create", obj=device, after=audit.snapshot(device))
    for group in groups:
        group_add_members(group=group, devices=[device], actor=actor)
    return device


@transaction.atomic
def device_update(*, device: Device, data: Mapping[str, Any], actor) -> Device:
    """Change a device's properties.

    Raises ValidationError for a duplicate serial number or an unknown primary user.
    """
    device = Device.objects.select_for_update().get(pk=device.pk)
    before = _snapshot(device)
    for field in DEVICE_FIELDS:
        if field not in data:
            continue
        value = data[field]
        if field == "serial_number":
            value = _normalise_serial(value)
        elif field in ("name", "model", "os_version"):
            value = _clean_text(value)
        setattr(device, field, value)
    _validate_device(
        serial_number=device.serial_number, primary_user=device.primary_user, exclude_pk=device.pk
    )
    _full_clean(device, exclude=["primary_user"])
    device.save()
    old, new = audit.changed(before, _snapshot(device))
    if new:
        audit.record(actor=actor, action="directory.device.update", obj=device, before=old, after=new)
    return device


@transaction.atomic
def device_retire(*, device: Device, actor) -> Device:
    """Retire a device: it is no longer managed and its device licenses are reclaimed (B1).

    The row and its group memberships are kept for history; retired devices are no targets. Retiring a retired
    device changes nothing.
    """
    device = Device.objects.select_for_update().get(pk=device.pk)
    if not device.is_active:
        return device
    device.is_active = False
    device.retired_at = timezone.now()
    device.save(update_fields=["is_active", "retired_at", "updated_at"])
    audit.record(
        actor=actor,
        action="directory.device.retire",
        obj=device,
        before={"is_active": True},
        after={"is_active": False, "retired_at": device.retired_at},
    )
    send_after_commit(signals.device_retired, device_id=device.pk, actor_id=_actor_id(actor))
    return device


def _platform_of(product_name: str, model_name: str) -> str:
    """The platform a check-in names (ProductName such as iPhone15,2 / iPad13,1 / Mac14,2 / AppleTV6,2)."""
    text = f"{product_name} {model_name}".lower()
    for prefix, platform in (
        ("ipad", Device.Platform.IPADOS),
        ("iphone", Device.Platform.IOS),
        ("ipod", Device.Platform.IOS),
        ("appletv", Device.Platform.TVOS),
        ("apple tv", Device.Platform.TVOS),
        ("realitydevice", Device.Platform.VISIONOS),
        ("watch", Device.Platform.WATCHOS),
        ("mac", Device.Platform.MACOS),
    ):
        if prefix in text:
            return platform
    return Device.Platform.IOS


@transaction.atomic
def device_mdm_enrol(
    *,
    udid: str,
    serial_number: str = "",
    name: str = "",
    model: str = "",
    product_name: str = "",
    os_version: str = "",
    checked_in_at=None,
    actor=None,
) -> tuple[Device, bool]:
    """D1: the MDM server says a device enrolled (Authenticate) or is reachable (TokenUpdate).

    The device is matched by serial number, else by UDID, else created. Returns (device, became_enrolled):
    `became_enrolled` is True when the device was not enrolled before (its apps may now be deployed).
    Raises ValidationError without a UDID.
    """
    udid = _clean_text(udid)
    if not udid:
        raise ValidationError(_("The MDM server sent an enrolment without a UDID."))
    serial = _normalise_serial(serial_number)
    for column, value in ((Device.udid.field, udid), (Device.serial_number.field, serial)):
        if column.max_length is not None and len(value) > column.max_length:
            # Refused whole, never cut: a shortened identifier could match another device.
            raise ValidationError(
                _("The MDM server sent a %(field)s longer than %(limit)d characters.")
                % {"field": column.verbose_name, "limit": column.max_length}
            )
    device = None
    if serial:
        device = Device.objects.select_for_update().filter(serial_number__iexact=serial).first()
    if device is None:
        device = Device.objects.select_for_update().filter(udid=udid).first()
    at = checked_in_at or timezone.now()
    if device is None:
        device = Device(
            serial_number=serial or udid.upper(),
            name=_clean_text(name)[:200],
            model=_clean_text(model or product_name)[:100],
            platform=_platform_of(product_name, model),
            os_version=_clean_text(os_version)[:32],
        )
        before: dict[str, Any] = {}
        created = True
    else:
        before = _snapshot(device)
        created = False
    was_enrolled = device.mdm_enrolled and device.udid == udid
    # Another device row holding this UDID (re-enrolled under a new serial) gives it up.
    Device.objects.filter(udid=udid).exclude(pk=device.pk).update(udid="", mdm_enrolled=False)
    device.udid = udid
    device.mdm_enrolled = True
    device.last_checkin_at = at
    for field, value, length in (("name", name, 200), ("model", model or product_name, 100)):
        if _clean_text(value):
            setattr(device, field, _clean_text(value)[:length])
    if _clean_text(os_version):
        device.os_version = _clean_text(os_version)[:32]
    device.save()
    if created or not was_enrolled:
        audit.record(
            actor=actor,
            action="directory.device.mdm_enrol",
            obj=device,
            before=before,
            after={"udid": udid, "mdm_enrolled": True, "created": created},
        )
    return device, not was_enrolled


def device_mdm_checkin(*, udid: str, checked_in_at=None) -> int:
    """D1: the device talked to the MDM server (any message): remember when. Returns rows changed."""
    return Device.objects.filter(udid=udid).update(last_checkin_at=checked_in_at or timezone.now())


@transaction.atomic
def device_mdm_checkout(*, udid: str, checked_in_at=None, reclaim_licenses: bool = True, actor=None):
    """D1: the MDM profile was removed (CheckOut): the device is unenrolled; with `reclaim_licenses` its
    device licenses are reclaimed as for a retired device (B1). Returns the device, or None if unknown."""
    device = Device.objects.select_for_update().filter(udid=udid).first()
    if device is None or not device.mdm_enrolled:
        return device
    device.mdm_enrolled = False
    device.last_checkin_at = checked_in_at or timezone.now()
    device.save(update_fields=["mdm_enrolled", "last_checkin_at", "updated_at"])
    audit.record(
        actor=actor,
        action="directory.device.mdm_checkout",
        obj=device,
        before={"mdm_enrolled": True},
        after={"mdm_enrolled": False, "licenses_reclaimed": reclaim_licenses},
    )
    if reclaim_licenses:
        send_after_commit(signals.device_retired, device_id=device.pk, actor_id=_actor_id(actor))
    return device


_DEVICE_SETTINGS = ("platform", "ownership", "supervised", "kiosk_mode", "dep_enrolled", "app_store_allowed")


def _validate_many_devices(devices: Sequence[Device]) -> None:
    missing = [d for d in devices if not d.serial_number]
    if missing:
        raise ValidationError(_("The serial number is required."))
    user_ids = {d.primary_user_id for d in devices if d.primary_user_id is not None}
    if user_ids - set(DirectoryUser.objects.filter(pk__in=user_ids).values_list("pk", flat=True)):
        raise ValidationError(_("The primary user does not exist."))
    _validate_many(
        devices,
        Device,
        "serial_number",
        {
            "serial_number": lambda value, holder: (
                _("A device with the serial number “%(serial)s” already exists.") % {"serial": value}
            )
        },
    )


@transaction.atomic
def device_bulk_create(*, rows: Sequence[Mapping[str, Any]], actor) -> list[Device]:
    """Register many devices in a few queries (CSV import): the checks and defaults of `device_create`, and
    one `directory.device.create` audit entry per device. Raises ValidationError naming every problem."""
    devices = []
    for data in rows:
        device = Device(
            serial_number=_normalise_serial(data.get("serial_number")),
            name=_clean_text(data.get("name")),
            model=_clean_text(data.get("model")),
            os_version=_clean_text(data.get("os_version")),
            primary_user=data.get("primary_user"),
        )
        for field in _DEVICE_SETTINGS:
            if field in data:
                setattr(device, field, data[field])
        devices.append(device)
    _validate_many_devices(devices)
    Device.objects.bulk_create(devices, batch_size=500)
    _saved_pks(devices, Device, "serial_number")
    audit.record_many(
        actor=actor, action="directory.device.create", entries=[(d, None, audit.snapshot(d)) for d in devices]
    )
    return devices


@transaction.atomic
def device_bulk_update(*, changes: Sequence[tuple[int, Mapping[str, Any]]], actor) -> list[Device]:
    """`device_update` for many devices (by id) in a few queries, with the same checks and audit entries."""
    locked = Device.objects.select_for_update().in_bulk([pk for pk, _data in changes])
    now = timezone.now()
    devices, entries, fields = [], [], {"updated_at"}
    for pk, data in changes:
        device = locked[pk]
        before = _snapshot(device)
        for field in DEVICE_FIELDS:
            if field not in data:
                continue
            value = data[field]
            if field == "serial_number":
                value = _normalise_serial(value)
            elif field in ("name", "model", "os_version"):
                value = _clean_text(value)
            setattr(device, field, value)
        old, new = audit.changed(before, _snapshot(device))
        devices.append(device)
        if new:
            device.updated_at = now
            fields.update(new)
            entries.append((device, old, new))
    _validate_many_devices(devices)
    Device.objects.bulk_update([d for d, _o, _n in entries], sorted(fields), batch_size=500)
    audit.record_many(actor=actor, action="directory.device.update", entries=entries)
    return devices


# --- groups ------------------------------------------------------------------------------------------------
def _validate_group_name(name: str, exclude_pk: int | None) -> None:
    if not name:
        raise ValidationError({"name": [_("The group name is required.")]})
    others = Group.objects.exclude(pk=exclude_pk) if exclude_pk else Group.objects.all()
    if others.filter(name__iexact=name).exists():
        raise ValidationError({"name": [_("A group named “%(name)s” already exists.") % {"name": name}]})


@transaction.atomic
def group_create(*, name: str, group_type: str, description: str = "", external_id: str = "", actor) -> Group:
    """Create a user group or a device group (created by an identity provider: marked as its own, with its
    `external_id`).

    Raises ValidationError for a duplicate name or an unknown type.
    """
    name = _clean_text(name)
    _validate_group_name(name, None)
    group = Group(name=name, group_type=group_type, description=_clean_text(description))
    _provenance(group, actor, external_id)
    _full_clean(group)
    group.save()
    audit.record(actor=actor, action="directory.group.create", obj=group, after=audit.snapshot(group))
    return group


@transaction.atomic
def group_update(*, group: Group, data: Mapping[str, Any], actor) -> Group:
    """Rename or describe a group; its type can change only while it has no members. Raises ValidationError
    for a group the identity provider owns when the actor is not an identity provider."""
    group = Group.objects.select_for_update().get(pk=group.pk)
    _check_editable(group, actor)
    before = _snapshot(group)
    _provenance(group, actor, data.get("external_id"))
    if "name" in data:
        group.name = _clean_text(data["name"])
        _validate_group_name(group.name, group.pk)
    if "description" in data:
        group.description = _clean_text(data["description"])
    if "group_type" in data and data["group_type"] != group.group_type:
        if group.memberships.exists():
            raise ValidationError(
                {
                    "group_type": [
                        _("The type of a group with members cannot change; remove the members first.")
                    ]
                }
            )
        group.group_type = data["group_type"]
    _full_clean(group)
    group.save()
    old, new = audit.changed(before, _snapshot(group))
    if new:
        audit.record(actor=actor, action="directory.group.update", obj=group, before=old, after=new)
    return group


@transaction.atomic
def group_delete(*, group: Group, actor) -> None:
    """Delete a group and its memberships.

    Refused (ValidationError) while apps are assigned to it: deleting the assignments with the group would
    leave their licenses assigned at Apple with nothing here to reclaim them.
    """
    group = Group.objects.select_for_update().get(pk=group.pk)
    _check_editable(group, actor)
    assignment_count = group.assignments.count()
    if assignment_count:
        raise ValidationError(
            _(
                "The group “%(name)s” has %(count)d app assignment(s). Remove them first, so their "
                "licenses are reclaimed."
            )
            % {"name": group.name, "count": assignment_count}
        )
    before = {**audit.snapshot(group), "member_count": group.memberships.count()}
    audit.record(actor=actor, action="directory.group.delete", obj=group, before=before)
    group.delete()


def _unique(items: Iterable) -> list:
    seen: set = set()
    result = []
    for item in items:
        if item.pk not in seen:
            seen.add(item.pk)
            result.append(item)
    return result


def _check_member_types(group: Group, users: Sequence[DirectoryUser], devices: Sequence[Device]) -> None:
    if group.group_type == Group.GroupType.USER and devices:
        raise ValidationError(
            _("“%(group)s” is a user group: it accepts users only, not devices.") % {"group": group.name}
        )
    if group.group_type == Group.GroupType.DEVICE and users:
        raise ValidationError(
            _("“%(group)s” is a device group: it accepts devices only, not users.") % {"group": group.name}
        )


@transaction.atomic
def group_add_members(
    *, group: Group, users: Sequence[DirectoryUser] = (), devices: Sequence[Device] = (), actor
) -> list[GroupMembership]:
    """Add users (to a user group) or devices (to a device group), in the order given.

    Members keep the order in which they joined (`joined_at`, then id): that order decides who gets licenses
    first when there are not enough (S6). Adding an existing member is a no-op. Deactivated users and retired
    devices are refused, except from an identity provider: it may put a disabled account in a group, and
    inactive users are no targets until reactivated. Raises ValidationError for the wrong kind of member or
    a group the identity provider owns. Returns the new memberships.
    """
    group = Group.objects.select_for_update().get(pk=group.pk)
    _check_editable(group, actor)
    users, devices = _unique(users), _unique(devices)
    _check_member_types(group, users, devices)
    inactive = [u.user_principal_name for u in users if not u.is_active] + [
        d.serial_number for d in devices if not d.is_active
    ]
    if roles.is_identity_provider(actor):
        inactive = [d.serial_number for d in devices if not d.is_active]
    if inactive:
        raise ValidationError(
            _("Deactivated users and retired devices cannot join a group: %(members)s.")
            % {"members": ", ".join(inactive)}
        )
    existing_users = (
        set(group.memberships.filter(user__in=users).values_list("user_id", flat=True)) if users else set()
    )
    existing_devices = (
        set(group.memberships.filter(device__in=devices).values_list("device_id", flat=True))
        if devices
        else set()
    )
    new_users = [u for u in users if u.pk not in existing_users]
    new_devices = [d for d in devices if d.pk not in existing_devices]
    if not new_users and not new_devices:
        return []
    # Inserted in list order: ids and `joined_at` (set per row on insert) follow the caller's order.
    created = GroupMembership.objects.bulk_create(
        [GroupMembership(group=group, user=u) for u in new_users]
        + [GroupMembership(group=group, device=d) for d in new_devices],
        batch_size=1000,
    )
    audit.record(
        actor=actor,
        action="directory.group.add_members",
        obj=group,
        after={"users": [u.pk for u in new_users], "devices": [d.pk for d in new_devices]},
    )
    send_after_commit(
        signals.members_added,
        group_id=group.pk,
        user_ids=[u.pk for u in new_users],
        device_ids=[d.pk for d in new_devices],
        actor_id=_actor_id(actor),
    )
    return created


@transaction.atomic
def group_remove_members(
    *, group: Group, users: Sequence[DirectoryUser] = (), devices: Sequence[Device] = (), actor
) -> int:
    """Remove users or devices from a group; those not in it are ignored. Their licenses that came from this
    group's assignments are reclaimed by the assignments app (S11). Returns how many members were removed.
    Raises ValidationError for a group an identity provider owns, unless the actor is an identity provider."""
    group = Group.objects.select_for_update().get(pk=group.pk)
    _check_editable(group, actor)
    users, devices = _unique(users), _unique(devices)
    _check_member_types(group, users, devices)
    removed_users = (
        list(group.memberships.filter(user__in=users).values_list("user_id", flat=True)) if users else []
    )
    removed_devices = (
        list(group.memberships.filter(device__in=devices).values_list("device_id", flat=True))
        if devices
        else []
    )
    if not removed_users and not removed_devices:
        return 0
    count, _deleted = (
        group.memberships.filter(user_id__in=removed_users).delete() if removed_users else (0, {})
    )
    device_count, _deleted = (
        group.memberships.filter(device_id__in=removed_devices).delete() if removed_devices else (0, {})
    )
    audit.record(
        actor=actor,
        action="directory.group.remove_members",
        obj=group,
        before={"users": removed_users, "devices": removed_devices},
    )
    send_after_commit(
        signals.members_removed,
        group_id=group.pk,
        user_ids=removed_users,
        device_ids=removed_devices,
        actor_id=_actor_id(actor),
    )
    return count + device_count


# --- identity provider (SCIM) lifecycle ---------------------------------------------------------------------
@transaction.atomic
def user_deprovision(*, user: DirectoryUser, actor) -> DirectoryUser:
    """The identity provider deleted the user: deactivate them (S11: their user licenses are reclaimed), take
    them out of every group and hide them from the provider. The row stays for licenses and history, and the
    console may edit it again. Deprovisioning a deprovisioned user changes nothing."""
    user = user_deactivate(user=user, actor=actor)
    if user.deprovisioned_at is not None:
        return user
    memberships = GroupMembership.objects.filter(user=user)
    group_ids = list(memberships.values_list("group_id", flat=True))
    # No per-group reclaim: deactivation already revokes every user license of the user.
    memberships.delete()
    user.deprovisioned_at = timezone.now()
    user.save(update_fields=["deprovisioned_at", "updated_at"])
    audit.record(
        actor=actor,
        action="directory.user.deprovision",
        obj=user,
        before={"groups": group_ids},
        after={"deprovisioned_at": user.deprovisioned_at},
    )
    return user


@transaction.atomic
def user_provision_again(*, user: DirectoryUser, data: Mapping[str, Any], actor) -> DirectoryUser:
    """An identity provider creates a user it had deleted (same user principal name): the row comes back as
    provisioned, with `data` applied and, when `data` says so, reactivated."""
    user = DirectoryUser.objects.select_for_update().get(pk=user.pk)
    if user.deprovisioned_at is not None:
        user.deprovisioned_at = None
        user.save(update_fields=["deprovisioned_at", "updated_at"])
        audit.record(
            actor=actor, action="directory.user.provision_again", obj=user, before={"deprovisioned": True}
        )
    return user_update(user=user, data=data, actor=actor)


@transaction.atomic
def group_set_members(*, group: Group, users: Sequence[DirectoryUser], actor) -> Group:
    """Make `users` the members of a user group (a full replace from the identity provider): members who stay
    keep their place in the join order (S6), new ones join at the end in the order given, the others leave
    (their licenses from this group are reclaimed, S11)."""
    wanted = _unique(users)
    current = set(group.memberships.filter(user__isnull=False).values_list("user_id", flat=True))
    wanted_ids = {u.pk for u in wanted}
    leaving = list(DirectoryUser.objects.filter(pk__in=current - wanted_ids))
    if leaving:
        group_remove_members(group=group, users=leaving, actor=actor)
    joining = [u for u in wanted if u.pk not in current]
    if joining:
        group_add_members(group=group, users=joining, actor=actor)
    return group


@transaction.atomic
def group_deprovision(*, group: Group, actor) -> None:
    """The identity provider deleted the group. Without app assignments it is deleted; with some, its members
    leave (their licenses from it are reclaimed, S11) and the empty group stays, hidden from the provider and
    editable in the console, until an administrator removes its assignments and deletes it."""
    group = Group.objects.select_for_update().get(pk=group.pk)
    if not group.assignments.exists():
        group_delete(group=group, actor=actor)
        return
    members = list(DirectoryUser.objects.filter(memberships__group=group))
    if members:
        group_remove_members(group=group, users=members, actor=actor)
    group.deprovisioned_at = timezone.now()
    group.save(update_fields=["deprovisioned_at", "updated_at"])
    audit.record(
        actor=actor,
        action="directory.group.deprovision",
        obj=group,
        after={"deprovisioned_at": group.deprovisioned_at},
    )
