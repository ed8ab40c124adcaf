"""The allocation engine: who an assignment targets, who may get a license, and asking Apple for licenses.

Order (S6): targets are taken in group-membership order — `GroupMembership.joined_at`, then membership id —
and for a user group with device licensing, each member's active devices by device id. With 100 licenses and
500 targets the first 100 in that order get licenses and the other 400 get a failed License "No licenses
available".

No oversubscription (B3): licenses are *reserved* inside a transaction holding a row lock on the App
(`select_for_update`); available = `app.available_licenses` - licenses of that app still pending. Pending
License rows are created and committed before any call to Apple, so concurrent allocations never ask Apple for
more associations than there are licenses. When a pending license becomes assigned (events.py), the App's
counts are moved by one in the same transaction, so "available - pending" stays right until the next sync
overwrites the counts with Apple's.

User licensing (A3, S4, T9): a user is registered with Apple (`users/create`) with a client user id we
generate (uuid4 hex, opaque) the first time they need a license on a token. Their license stays pending —
"waiting for Apple to register the user" — until the registration event completes; then it is associated at
once. Apple accepts an association for a *Registered* user: the license is held for them, and the device
install proceeds once the user accepted the program invitation (VPPUser status Registered → Associated, shown
on the user page).

Five devices per user license (A3), enforced: Apple is asked for one association per user and app (the client
user id, never the devices), and the console tracks which of the user's devices use that license
(`LicenseDevice`, at most `MAX_DEVICES_PER_USER`). The devices a user license should cover are, in order:
- device group: the user's active member devices (their primary user is the user), by membership `joined_at`,
  then membership id;
- user group (and an install requested for a user): the user's active devices, by `Device.created_at`,
  then id.

Devices whose App Store is blocked (S12) are never covered. Devices already covered keep their slot; new ones
are attached in that order while fewer than five are covered. Each further device gets a License row in state
`failed` (`license_type=user`, `device` set, `user` empty — the user's own row holds the one open license per
app and user) with `DEVICE_LIMIT` as the error: shown on the device page, the app's Assignments pane, the
licenses list and API, counted in the pre-flight's `ineligible` and in the run's failures. A device is
detached when it is retired or deleted, when it is no longer the user's device, or when the license is
revoked; the next device in order is covered on the next allocation ("Allocate / retry"), and its failed row
is removed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.models import App
from assignments import signals
from assignments.messages import (
    APP_STORE_BLOCKED,
    BOOK_NEEDS_USER,
    DEP_WITHOUT_USER,
    DEVICE_LIMIT,
    NO_APPLE_ID,
    NO_DEVICE_LICENSING,
    NO_LICENSES,
    NO_PRIMARY_USER,
    NO_USER,
    TOKEN_UNUSABLE,
    USER_DEACTIVATED,
)
from assignments.models import Assignment, License, LicenseDevice, LicenseRun, VPPUser
from console import runs
from console.messages import Message, apple_exception, term
from directory.models import Device, DirectoryUser, Group, GroupMembership
from tokens import services as token_services
from tokens.apple import client_for, state_from_error
from tokens.models import VPPToken
from vpp.errors import AppleError
from vpp.types import AssetRef, RequestUser

MAX_DEVICES_PER_USER = 5  # A3: one user license works on up to five of the user's devices
KIOSK_WARNING = gettext_noop("User licensing is not recommended on kiosk devices; use device licensing.")


@dataclass
class Target:
    """One license holder an assignment aims at: a user (user licensing) or a device (device licensing).

    `device` is set for user licensing when the user was reached through a device (device group), so the
    device rules (S12, S13) can be checked. `devices` (user licensing) are the user's devices that should use
    the user license, in the stable order of A3; at most five of them are covered.
    """

    user: DirectoryUser | None = None
    device: Device | None = None
    problem: Message | None = None
    warnings: list[str] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)


# --- who is targeted -------------------------------------------------------------------------------------


def _memberships(group: Group, kind: str):
    qs = GroupMembership.objects.filter(group=group).order_by("joined_at", "id")
    if kind == "device":
        return qs.filter(device__isnull=False, device__is_active=True).select_related("device__primary_user")
    return qs.filter(user__isnull=False, user__is_active=True).select_related("user")


def active_devices(user_ids: Iterable[int]) -> dict[int, list[Device]]:
    """user id → the user's active devices in the A3 order for user targets (created_at, then id)."""
    result: dict[int, list[Device]] = {}
    devices = Device.objects.filter(primary_user_id__in=list(user_ids), is_active=True).order_by(
        "created_at", "id"
    )
    for device in devices:
        result.setdefault(device.primary_user_id, []).append(device)
    return result


def targets_for(*, app: App, group: Group, license_type: str) -> list[Target]:
    """The ordered targets of assigning `app` to `group` with `license_type`, each checked for eligibility."""
    targets: list[Target] = []
    if license_type == Assignment.LicenseType.DEVICE:
        if group.group_type == Group.GroupType.DEVICE:
            # The devices alone, in membership order: no membership or primary-user object per target.
            devices_in_order = Device.objects.filter(memberships__group=group, is_active=True).order_by(
                "memberships__joined_at", "memberships__id"
            )
            targets = [Target(device=d) for d in devices_in_order]
        else:
            users = [m.user for m in _memberships(group, "user")]
            devices: dict[int, list[Device]] = {}
            for device in Device.objects.filter(primary_user__in=users, is_active=True).order_by("id"):
                devices.setdefault(device.primary_user_id, []).append(device)
            targets = [Target(device=d) for u in users for d in devices.get(u.pk, [])]
    else:
        if group.group_type == Group.GroupType.USER:
            users = [m.user for m in _memberships(group, "user")]
            owned = active_devices(u.pk for u in users)
            targets = [Target(user=u, devices=owned.get(u.pk, [])) for u in users]
        else:
            by_user: dict[int, Target] = {}
            for m in _memberships(group, "device"):
                user = m.device.primary_user
                if user is None:
                    targets.append(Target(device=m.device))
                    continue
                if user.pk not in by_user:
                    by_user[user.pk] = Target(user=user, device=m.device)
                    targets.append(by_user[user.pk])
                by_user[user.pk].devices.append(m.device)
            for target in by_user.values():
                # The device rules (S12) are checked on the user's first device that can use the license.
                target.device = next((d for d in target.devices if d.app_store_allowed), target.devices[0])
    for target in targets:
        check_target(app=app, license_type=license_type, target=target)
    return targets


def reaching_assignments(
    *,
    app: App,
    license_type: str,
    holder_ids: Iterable[int],
    intents: Iterable[str] = (Assignment.Intent.AVAILABLE, Assignment.Intent.REQUIRED),
    exclude_group_id: int | None = None,
) -> dict[int, Assignment]:
    """S11, S3: holder id → an assignment of `app` whose group still reaches that holder (Required first).

    Holders are users (user licensing) or devices (device licensing), active ones only. A user is reached
    through a user group they belong to or a device group holding one of their active devices; a device
    through a device group it belongs to or a user group its primary user belongs to.
    """
    wanted = set(holder_ids)
    result: dict[int, Assignment] = {}
    assignments = (
        Assignment.objects.filter(app=app, license_type=license_type, intent__in=list(intents))
        .exclude(group_id=exclude_group_id)
        .select_related("group")
    )
    ranked = sorted(assignments, key=lambda a: (a.intent != Assignment.Intent.REQUIRED, a.pk))
    for assignment in ranked:
        left = wanted - set(result)
        if not left:
            break
        members = GroupMembership.objects.filter(group_id=assignment.group_id)
        by_user_group = assignment.group.group_type == Group.GroupType.USER
        if license_type == Assignment.LicenseType.USER:
            reached = (
                members.filter(user_id__in=left, user__is_active=True).values_list("user_id", flat=True)
                if by_user_group
                else members.filter(
                    device__primary_user_id__in=left,
                    device__is_active=True,
                    device__primary_user__is_active=True,
                ).values_list("device__primary_user_id", flat=True)
            )
        elif by_user_group:
            reached = Device.objects.filter(
                pk__in=left,
                is_active=True,
                primary_user__is_active=True,
                primary_user__memberships__group_id=assignment.group_id,
            ).values_list("pk", flat=True)
        else:
            reached = members.filter(device_id__in=left, device__is_active=True).values_list(
                "device_id", flat=True
            )
        for holder_id in reached:
            result.setdefault(holder_id, assignment)
    return result


def check_target(*, app: App, license_type: str, target: Target):
    """Fill `target.problem` (refused) and `target.warnings` (allowed, but the admin should know)."""
    if license_type == Assignment.LicenseType.DEVICE:
        if app.product_type == App.ProductType.BOOK:
            target.problem = BOOK_NEEDS_USER
        elif not app.supports_device_licensing:
            target.problem = NO_DEVICE_LICENSING
        elif target.device is not None and target.device.kiosk_mode:
            pass  # device licensing is the recommended way for kiosk devices
        return target
    device, user = target.device, target.user
    if device is not None:
        if not device.app_store_allowed:
            target.problem = APP_STORE_BLOCKED
            return target
        if user is None:
            if device.dep_enrolled:
                target.problem = DEP_WITHOUT_USER
            else:
                target.problem = NO_PRIMARY_USER
            return target
    # S8: whichever way the user was reached (user group or device group), kiosk devices are warned about.
    if (device is not None and device.kiosk_mode) or any(d.kiosk_mode for d in target.devices):
        target.warnings.append(_(KIOSK_WARNING))
    if user is None:
        target.problem = NO_USER
        return target
    if not user.is_active:
        target.problem = USER_DEACTIVATED
    elif not user.managed_apple_id:
        target.problem = NO_APPLE_ID
    return target


def coverage_candidates(target: Target) -> list[Device]:
    """A3: the devices of `target` that can use its user license (active, App Store allowed), in order."""
    if target.user is None or target.problem:
        return []
    return [
        d
        for d in target.devices
        if d.is_active and d.app_store_allowed and d.primary_user_id == target.user.pk
    ]


def store_blocked(target: Target) -> list[Device]:
    """S12: the devices of `target` that cannot use its user license because the App Store is blocked."""
    if target.user is None or target.problem:
        return []
    return [
        d
        for d in target.devices
        if d.is_active and not d.app_store_allowed and d.primary_user_id == target.user.pk
    ]


def split_devices(devices: list[Device], covered: set[int]) -> tuple[list[Device], list[Device]]:
    """A3: (devices to attach, devices over the limit) given the device ids the license already covers."""
    attach: list[Device] = []
    over: list[Device] = []
    n = len(covered)
    for device in devices:
        if device.pk in covered:
            continue
        if n < MAX_DEVICES_PER_USER:
            attach.append(device)
            n += 1
        else:
            over.append(device)
    return attach, over


def _links(app: App, user_ids: list[int]) -> tuple[dict[int, set[int]], list[int]]:
    """({user id: covered device ids} of the users' open licenses of `app`, ids of stale links).

    A link is stale when its license is revoked, its device retired, or the device no longer the user's.
    """
    valid: dict[int, set[int]] = {}
    stale: list[int] = []
    rows = LicenseDevice.objects.filter(license__app=app, license__user_id__in=user_ids).values_list(
        "pk",
        "license__user_id",
        "license__state",
        "device_id",
        "device__is_active",
        "device__primary_user_id",
    )
    for pk, user_id, state, device_id, active, owner in rows:
        if state == License.State.REVOKED or not active or owner != user_id:
            stale.append(pk)
        else:
            valid.setdefault(user_id, set()).add(device_id)
    return valid, stale


# --- pre-flight ------------------------------------------------------------------------------------------


def _holding_keys(app: App, license_type: str) -> set[int]:
    field_name = "device_id" if license_type == Assignment.LicenseType.DEVICE else "user_id"
    return set(
        License.objects.filter(
            app=app, state__in=License.HOLDING, **{f"{field_name}__isnull": False}
        ).values_list(field_name, flat=True)
    )


def available_for(app: App) -> int | None:
    """Licenses we may still request for `app`: Apple's available count minus our pending ones (None =
    unlimited)."""
    if app.is_unlimited:
        return None
    pending = License.objects.filter(app=app, state=License.State.PENDING).count()
    return max(0, app.available_licenses - pending)


def devices_over_limit(*, app: App, targets: list[Target]) -> list[Device]:
    """A3 (read only, for the pre-flight): the targets' devices that no user license slot is left for."""
    wanted = [(t, coverage_candidates(t)) for t in targets]
    wanted = [(t, c) for t, c in wanted if c]
    if not wanted:
        return []
    valid, _stale = _links(app, [t.user.pk for t, _c in wanted])
    over: list[Device] = []
    for target, candidates in wanted:
        over += split_devices(candidates, set(valid.get(target.user.pk, ())))[1]
    holding = _holding_keys(app, Assignment.LicenseType.DEVICE) if over else set()
    return [d for d in over if d.pk not in holding]


def preflight(*, app: App, group: Group, license_type: str) -> dict:
    """B3: how many licenses assigning `app` to `group` needs, how many are available, and the problems.

    `licenses_available` is None and `unlimited` True for an app with unlimited licenses (Apple reports
    2147483647 for free apps; nothing runs out). With user licensing, devices beyond the five a user license
    covers (A3) and devices whose App Store is blocked (S12) are listed as ineligible too.
    """
    targets = targets_for(app=app, group=group, license_type=license_type)
    holding = _holding_keys(app, license_type)
    eligible = [t for t in targets if not t.problem]
    key = (lambda t: t.device.pk) if license_type == Assignment.LicenseType.DEVICE else (lambda t: t.user.pk)
    needed = sum(1 for t in eligible if key(t) not in holding)
    available = available_for(app)
    warnings = sorted({w for t in targets for w in t.warnings})
    is_user = license_type == Assignment.LicenseType.USER
    over = devices_over_limit(app=app, targets=targets) if is_user else []
    blocked = [d for t in targets for d in store_blocked(t)] if is_user else []
    ineligible = [f"{t.user or t.device}: {t.problem}" for t in targets if t.problem]
    ineligible += [f"{d}: {APP_STORE_BLOCKED}" for d in blocked]
    ineligible += [f"{d}: {DEVICE_LIMIT}" for d in over]
    return {
        "targets": len(targets),
        "licenses_needed": needed,
        "licenses_available": available,
        "unlimited": available is None,
        "oversubscribed": available is not None and needed > available,
        "ineligible": ineligible[:50],
        "ineligible_count": sum(1 for t in targets if t.problem) + len(blocked) + len(over),
        "devices_over_limit": len(over),
        "devices_store_blocked": len(blocked),
        "warnings": warnings,
    }


# --- reservation (under the App row lock) ----------------------------------------------------------------


def reserve(
    *, app: App, targets: list[Target], license_type: str, assignment: Assignment | None = None
) -> dict:
    """Create License rows for `targets` in order: pending up to the available licenses, failed beyond
    (S5, S6).

    Targets already holding a license of this app are skipped; their failed licenses are retried. Runs in its
    own transaction with the App row locked, so concurrent reservations see each other's pending licenses.
    """
    is_device = license_type == Assignment.LicenseType.DEVICE
    counts = {"reserved": 0, "failed": 0, "skipped": 0, "over_limit": 0, "store_blocked": 0}
    with transaction.atomic():
        locked = App.objects.select_for_update().get(pk=app.pk)
        available = available_for(locked)
        field_name = "device_id" if is_device else "user_id"
        holders = [t.device if is_device else t.user for t in targets]
        existing = {
            getattr(lic, field_name): lic
            for lic in _held_by(locked, field_name, [h.pk for h in holders if h is not None])
        }
        # A device reached without a user (user licensing) gets a failed license on the device, to show why.
        orphans = [] if is_device else [t.device.pk for t in targets if t.user is None and t.device]
        orphan = {lic.device_id: lic for lic in _held_by(locked, "device_id", orphans) if lic.user_id is None}
        create: list[License] = []
        update: list[License] = []
        for target in targets:
            key = (
                (target.device.pk if target.device else None)
                if is_device
                else (target.user.pk if target.user else None)
            )
            current = (
                existing.get(key)
                if key is not None
                else orphan.get(target.device.pk if target.device else None)
            )
            if current is not None and current.state in License.HOLDING:
                counts["skipped"] += 1
                continue
            error: Message | None
            if target.problem:
                state, error = License.State.FAILED, target.problem
            elif available is None or available > 0:
                state, error = License.State.PENDING, None
                if available is not None:
                    available -= 1
            else:
                state, error = License.State.FAILED, NO_LICENSES
            counts["reserved" if state == License.State.PENDING else "failed"] += 1
            if current is not None:
                current.state, current.error, current.error_number, current.event_id = (
                    state,
                    error or "",
                    None,
                    "",
                )
                current.assignment = assignment or current.assignment
                update.append(current)
            else:
                create.append(
                    License(
                        app=locked,
                        assignment=assignment,
                        license_type=license_type,
                        user=None if is_device else target.user,
                        device=target.device if is_device or target.user is None else None,
                        state=state,
                        error=error or "",
                    )
                )
        License.objects.bulk_create(create, batch_size=2000)
        if update:
            License.objects.bulk_update(update, ["state", "error", "error_number", "event_id", "assignment"])
        if not is_device:
            counts["over_limit"], counts["store_blocked"] = _cover_devices(
                app=locked, targets=targets, assignment=assignment
            )
            counts["failed"] += counts["over_limit"] + counts["store_blocked"]
        # D2: targets that got no license show it as a failed install; the others wait for Apple.
        signals.send_after_commit(signals.licenses_settled, app_ids=[app.pk])
    if len(create) >= ANALYZE_AFTER:
        _refresh_statistics()
    return counts


def _held_by(app: App, field_name: str, ids: list[int]) -> list[License]:
    """The app's licenses (not revoked) held by these devices or users (`field_name`). Beyond a few thousand
    ids, the app's licenses with `field_name` set are read and the listed ones kept: one plain query, not
    one with a hundred thousand parameters."""
    if not ids:
        return []
    rows = License.objects.filter(app=app).exclude(state=License.State.REVOKED).order_by()
    if len(ids) <= OPEN_ROWS_BY_ID:
        return list(rows.filter(**{f"{field_name}__in": ids}))
    wanted = set(ids)
    return [
        lic for lic in rows.filter(**{f"{field_name}__isnull": False}) if getattr(lic, field_name) in wanted
    ]


OPEN_ROWS_BY_ID = 5000
ANALYZE_AFTER = 5000  # licenses created by one reservation beyond which the table's statistics are refreshed


def _refresh_statistics() -> None:
    """PostgreSQL plans with the statistics autovacuum refreshes about a minute later: until then a table that
    just grew by tens of thousands of licenses looks nearly empty, and settling them (a hundred per Apple
    notification, found by event and target) would scan every license of the app each time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(License._meta.db_table)}")


def _cover_devices(*, app: App, targets: list[Target], assignment: Assignment | None) -> tuple[int, int]:
    """A3, under the App lock: attach the targets' devices to their users' licenses while fewer than five are
    covered; each further device gets a failed License with `DEVICE_LIMIT`, and each device whose App Store is
    blocked (S12) one with `APP_STORE_BLOCKED`. Returns (how many failed over the limit, how many blocked).

    Stale links (revoked license, retired device, device no longer the user's) are removed first, so their
    slots go to the next devices in order. A device that is covered loses the failed row that said it was not.
    """
    wanted = [(t, coverage_candidates(t)) for t in targets]
    wanted = [(t, c) for t, c in wanted if c]
    blocked = [d for t in targets for d in store_blocked(t)]
    over: list[Device] = []
    if wanted:
        over = _attach_devices(app=app, wanted=wanted)
    reports = [(d, APP_STORE_BLOCKED) for d in blocked] + [(d, DEVICE_LIMIT) for d in over]
    if reports:
        _report_devices(app=app, reports=reports, assignment=assignment)
    return len(over), len(blocked)


def _attach_devices(*, app: App, wanted: list[tuple[Target, list[Device]]]) -> list[Device]:
    """Link the wanted devices to their users' licenses (at most five each); returns the devices left over."""
    user_ids = [t.user.pk for t, _c in wanted]
    licenses = {
        lic.user_id: lic
        for lic in License.objects.filter(app=app, user_id__in=user_ids).exclude(state=License.State.REVOKED)
    }
    valid, stale = _links(app, user_ids)
    if stale:
        LicenseDevice.objects.filter(pk__in=stale).delete()
    links: list[LicenseDevice] = []
    over: list[Device] = []
    for target, candidates in wanted:
        lic = licenses.get(target.user.pk)
        if lic is None:
            continue
        covered = valid.setdefault(target.user.pk, set())
        attach, rest = split_devices(candidates, covered)
        covered.update(d.pk for d in attach)
        links += [LicenseDevice(license=lic, device=d) for d in attach]
        over += rest
    LicenseDevice.objects.bulk_create(links, batch_size=500, ignore_conflicts=True)
    covered_ids = {pk for ids in valid.values() for pk in ids}
    if covered_ids:
        License.objects.filter(
            app=app,
            license_type=Assignment.LicenseType.USER,
            user__isnull=True,
            device_id__in=covered_ids,
            state=License.State.FAILED,
        ).delete()
    return over


def _report_devices(*, app: App, reports: list[tuple[Device, str]], assignment: Assignment | None) -> None:
    """A failed user-licensing License on each device that cannot use its user's license, saying why."""
    rows = {
        lic.device_id: lic
        for lic in License.objects.filter(app=app, device_id__in=[d.pk for d, _e in reports]).exclude(
            state=License.State.REVOKED
        )
    }
    create: list[License] = []
    update: list[License] = []
    for device, error in reports:
        row = rows.get(device.pk)
        if row is None:
            create.append(
                License(
                    app=app,
                    assignment=assignment,
                    license_type=Assignment.LicenseType.USER,
                    device=device,
                    state=License.State.FAILED,
                    error=error,
                )
            )
        elif (
            row.license_type == Assignment.LicenseType.USER and row.user_id is None and row.state == "failed"
        ):
            row.error, row.error_number, row.event_id = error, None, ""
            row.assignment = assignment or row.assignment
            update.append(row)
        # otherwise the device holds this app another way (device licensing): nothing to report
    License.objects.bulk_create(create, batch_size=500)
    if update:
        License.objects.bulk_update(update, ["error", "error_number", "event_id", "assignment"])


# --- asking Apple ----------------------------------------------------------------------------------------


def _require_usable(token) -> None:
    if not token.is_usable:
        raise ValidationError(
            _("The VPP token “%(name)s” cannot be used: %(state)s.")
            % {"name": token.name, "state": token.get_state_display()}
        )


def record_token_error(token, exc) -> None:
    """The token state an Apple error implies (expired, revoked, invalid), recorded so no further call is made
    with the token (T5, T8); other errors leave the token as it is."""
    implied = state_from_error(exc)
    if implied is not None:
        token_services.token_set_state(token=token, state=implied[0], detail=implied[1], audited=False)


def register_users(*, token, users: list[DirectoryUser], interactive: bool = False) -> list[str]:
    """Register users we have no Apple user for on `token` (users/create); returns the event ids."""
    have = set(
        VPPUser.objects.filter(vpp_token=token, user__in=users)
        .exclude(status=VPPUser.Status.RETIRED)
        .values_list("user_id", flat=True)
    )
    new = [
        VPPUser(
            vpp_token=token,
            user=u,
            client_user_id=uuid.uuid4().hex,
            email=u.email or u.managed_apple_id,
            status=VPPUser.Status.PENDING,
        )
        for u in users
        if u.pk not in have
    ]
    if not new:
        return []
    VPPUser.objects.bulk_create(new)
    new = list(VPPUser.objects.filter(client_user_id__in=[v.client_user_id for v in new]))
    requests = [RequestUser(v.client_user_id, email=v.email or None) for v in new]
    by_id = {v.client_user_id: v for v in new}
    try:
        with client_for(token, interactive=interactive) as client:
            events = list(client.create_users(requests))
        error = None
    except AppleError as exc:
        events, error = list(exc.events), exc
        record_token_error(token, exc)
    done: set[str] = set()
    for event in events:
        ids = list(event.client_user_ids)
        VPPUser.objects.filter(client_user_id__in=ids).update(event_id=event.event_id)
        done.update(ids)
    if error is not None:
        failed = [cid for cid in by_id if cid not in done]
        VPPUser.objects.filter(client_user_id__in=failed).update(
            status=VPPUser.Status.FAILED, error_number=error.number, error=apple_exception(error)
        )
        users_failed = [by_id[c].user_id for c in failed]
        License.objects.filter(
            app__vpp_token=token, user_id__in=users_failed, state=License.State.PENDING, event_id=""
        ).update(state=License.State.FAILED, error_number=error.number, error=apple_exception(error))
    return [e.event_id for e in events]


def request_pending(*, app: App, interactive: bool = False) -> dict:
    """Ask Apple to associate every pending, not yet requested license of `app` (after `reserve` committed).

    Users without an Apple user are registered first; their licenses wait for the registration. Returns
    `{"events": [...], "user_events": [...], "requested": n}`. A synchronous Apple error marks the licenses it
    covered failed with Apple's error number; the token state follows token errors (T5). `interactive` (a
    person waits for the answer) uses few retries; background work the full budget.
    """
    token = app.vpp_token
    result: dict = {"events": [], "user_events": [], "requested": 0}
    pending = License.objects.filter(app=app, state=License.State.PENDING, event_id="").order_by()
    # serial number → license id: plain values, no License and Device object per license (60,000 of them).
    by_serial: dict[str, int] = {
        serial: pk
        for pk, serial in pending.filter(
            license_type=Assignment.LicenseType.DEVICE, device__isnull=False
        ).values_list("pk", "device__serial_number")
    }
    user_licenses = list(
        pending.filter(license_type=Assignment.LicenseType.USER, user__isnull=False).select_related("user")
    )
    if not (by_serial or user_licenses):
        return result
    if not token.is_usable:
        License.objects.filter(pk__in=[*by_serial.values(), *(lic.pk for lic in user_licenses)]).update(
            state=License.State.FAILED, error=TOKEN_UNUSABLE(state=term(VPPToken.State(token.state).label))
        )
        return result
    by_client: dict[str, int] = {}
    if user_licenses:
        result["user_events"] = register_users(
            token=token, users=[lic.user for lic in user_licenses], interactive=interactive
        )
        ready = {
            v.user_id: v.client_user_id
            for v in VPPUser.objects.filter(
                vpp_token=token,
                user_id__in=[lic.user_id for lic in user_licenses],
                status__in=[VPPUser.Status.REGISTERED, VPPUser.Status.ASSOCIATED],
            )
        }
        by_client = {ready[lic.user_id]: lic.pk for lic in user_licenses if lic.user_id in ready}
    if not (by_serial or by_client):
        return result
    asset = AssetRef(app.adam_id, app.pricing_param)
    error = None
    try:
        with client_for(token, interactive=interactive) as client:
            events = list(
                client.associate_assets(
                    [asset], serial_numbers=list(by_serial), client_user_ids=list(by_client)
                )
            )
    except AppleError as exc:
        events, error = list(exc.events), exc
        record_token_error(token, exc)
    covered: set[int] = set()
    for event in events:
        ids = [by_serial[s] for s in event.serial_numbers if s in by_serial]
        ids += [by_client[c] for c in event.client_user_ids if c in by_client]
        License.objects.filter(pk__in=ids).update(event_id=event.event_id)
        covered.update(ids)
        result["events"].append(event.event_id)
    result["requested"] = len(covered)
    if error is not None:
        rest = [pk for pk in [*by_serial.values(), *by_client.values()] if pk not in covered]
        License.objects.filter(pk__in=rest).update(
            state=License.State.FAILED, error_number=error.number, error=apple_exception(error)
        )
    return result


def allocate(
    *, app: App, targets: list[Target], license_type: str, assignment: Assignment | None = None
) -> dict:
    """Reserve (committed) then request: the whole allocation for a list of targets. Returns counts and
    events."""
    _require_usable(app.vpp_token)
    counts = reserve(app=app, targets=targets, license_type=license_type, assignment=assignment)
    return counts | request_pending(app=app, interactive=True)


def only_members(
    targets: list[Target], *, user_ids: Iterable[int], device_ids: Iterable[int]
) -> list[Target]:
    """The targets (in their order) that involve these users or devices: new members of a group."""
    users, devices = set(user_ids), set(device_ids)
    return [
        t
        for t in targets
        if (t.user is not None and t.user.pk in users)
        or (t.device is not None and (t.device.pk in devices or t.device.primary_user_id in users))
        or any(d.pk in devices for d in t.devices)
    ]


def run_allocation(run: LicenseRun) -> LicenseRun:
    """Carry out an ALLOCATE run for its assignment (Required): reserve for every target (or only the new
    members named in the run's summary), then ask Apple."""
    members = (run.summary or {}).get("members")
    runs.progress(run, 5)
    assignment = Assignment.objects.select_related("app__vpp_token", "group").get(pk=run.assignment_id)
    app = assignment.app
    try:
        _require_usable(app.vpp_token)
    except ValidationError as exc:
        raise runs.RunFailed(" ".join(exc.messages)) from exc
    targets = targets_for(app=app, group=assignment.group, license_type=assignment.license_type)
    if members is not None:
        targets = only_members(targets, user_ids=members["user_ids"], device_ids=members["device_ids"])
    counts = reserve(app=app, targets=targets, license_type=assignment.license_type, assignment=assignment)
    run.total = len(targets) + counts["over_limit"] + counts["store_blocked"]
    run.failed = counts["failed"]
    run.skipped = counts["skipped"]  # targets that already hold a license
    run.summary = {**counts, "events": [], "user_events": []}
    run.save(update_fields=["total", "failed", "skipped", "summary"])
    runs.progress(run, 50)
    sent = request_pending(app=app)
    run.summary = {
        **counts,
        "events": sent["events"],
        "user_events": sent["user_events"],
        "requested": sent["requested"],
    }
    run.save(update_fields=["summary"])
    return run


def targets_for_holder(*, app: App, user: DirectoryUser | None = None, device: Device | None = None):
    """(assignment, target) for an install request: the Available/Required assignment of `app` covering
    the holder."""
    assignments = Assignment.objects.filter(
        app=app, intent__in=[Assignment.Intent.AVAILABLE, Assignment.Intent.REQUIRED]
    ).select_related("group")
    for assignment in assignments:
        group = assignment.group
        members = GroupMembership.objects.filter(group=group)
        if device is not None:
            covered = (
                members.filter(device=device).exists()
                if group.group_type == Group.GroupType.DEVICE
                else device.primary_user_id is not None
                and members.filter(user_id=device.primary_user_id).exists()
            )
            if not covered:
                continue
            if assignment.license_type == Assignment.LicenseType.DEVICE:
                return assignment, Target(device=device)
            return assignment, Target(user=device.primary_user, device=device, devices=[device])
        if user is not None:
            covered = (
                members.filter(user=user).exists()
                if group.group_type == Group.GroupType.USER
                else members.filter(Q(device__primary_user=user)).exists()
            )
            if covered and assignment.license_type == Assignment.LicenseType.USER:
                return assignment, Target(user=user, devices=active_devices([user.pk]).get(user.pk, []))
    return None, None
