"""Completing Apple's asynchronous writes: ASSET_MANAGEMENT / USER_MANAGEMENT notifications and status polls.

Both paths end in the same transitions, so a notification and a poll (or a duplicate notification) for the
same event are harmless: only licenses still pending (associate) or revoking (disassociate/revoke) move.

Counts: Apple's used/available counts follow the AppleAssignment mirror, which `apps.services` owns. When our
license becomes assigned (or revoked) the mirror row for (asset, target) is created (or deleted) in the same
transaction, and the App's counts move only if the row really appeared (or disappeared). The ASSET_MANAGEMENT
notification handler (`applesync.notifications`) updates the mirror and counts first and then calls
`apply_asset_management` with the parsed notification, so a notification, a status poll and a duplicate of
either move the counts exactly once.

This module owns the `VPPUser` statuses Apple reports (`vpp_users_apply`): a user the console retired stays
retired whatever Apple still lists.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps import services as app_services
from apps.models import App
from assignments import signals
from assignments.allocation import request_pending
from assignments.models import License, LicenseDevice, LicenseRun, VPPUser
from console import runs
from console.messages import Message, apple_error, apple_exception
from directory.models import Device
from tokens.apple import client_for
from tokens.models import VPPToken
from vpp.errors import AppleError, BadRequest
from vpp.types import AppleUser, EventStatus, Notification

Key = tuple[str, str]
Failure = tuple[int | None, Message | str]  # Apple's error number, the stored message


def _client_ids(token, user_ids: Iterable[int]) -> dict[int, str]:
    """user id → client user id on `token` (the active record wins over retired ones)."""
    result: dict[int, str] = {}
    for vpp_user in VPPUser.objects.filter(vpp_token=token, user_id__in=set(user_ids)).order_by("id"):
        if vpp_user.status != VPPUser.Status.RETIRED or vpp_user.user_id not in result:
            result[vpp_user.user_id] = vpp_user.client_user_id
    return result


def license_keys(token, licenses: list[License]) -> dict[int, Key]:
    """license id → ("s", serial) or ("u", client user id); untracked licenses (T9) by Apple's target."""
    cids = _client_ids(token, [lic.user_id for lic in licenses if lic.user_id])
    keys: dict[int, Key] = {}
    for lic in licenses:
        if lic.license_type == "device" and lic.device is not None:
            keys[lic.pk] = ("s", lic.device.serial_number)
        elif lic.user_id in cids:
            keys[lic.pk] = ("u", cids[lic.user_id])
        elif lic.is_untracked_target:
            keys[lic.pk] = (
                ("s", lic.apple_serial_number) if lic.apple_serial_number else ("u", lic.apple_client_user_id)
            )
    return keys


def mark_revoking(licenses: list[License], keys, events) -> list[str]:
    """Map each request's chunk back to licenses and mark them revoking with the request's eventId."""
    by_key: dict = defaultdict(list)
    for lic in licenses:
        if lic.pk in keys:
            by_key[keys[lic.pk]].append(lic.pk)
    ids: list[str] = []
    for event in events:
        chunk = [("s", s) for s in event.serial_numbers] + [("u", c) for c in event.client_user_ids]
        pks = [pk for key in chunk for pk in by_key.get(key, [])]
        License.objects.filter(
            pk__in=pks, state__in=[License.State.ASSIGNED, License.State.UNTRACKED]
        ).update(state=License.State.REVOKING, event_id=event.event_id, error="", error_number=None)
        ids.append(event.event_id)
    return ids


def _settle(
    licenses: list[License], failures: dict[Key, Failure], keys: dict[int, Key], *, mirrored: bool = False
) -> int:
    """Pending → assigned/failed, revoking → revoked/assigned(with error). Returns how many moved.

    `mirrored`: the caller already wrote the mirror rows of these targets and moved the counts by them (the
    ASSET_MANAGEMENT handler does, before): writing them again would find every row there and move nothing.
    """
    appeared: list[License] = []
    gone: list[License] = []
    moved = 0
    with transaction.atomic(savepoint=False):  # all or nothing with the caller's transaction, if any
        for lic in licenses:
            failure = failures.get(keys.get(lic.pk, ("", "")))
            if lic.state == License.State.PENDING:
                if failure:
                    lic.state, lic.error_number, lic.error = (
                        License.State.FAILED,
                        failure[0],
                        failure[1],
                    )
                else:
                    lic.state, lic.error_number, lic.error = License.State.ASSIGNED, None, ""
                    appeared.append(lic)
            elif lic.state == License.State.REVOKING:
                if failure:
                    # An untracked license (T9) Apple kept stays untracked; ours stays assigned.
                    lic.state, lic.error_number, lic.error = (
                        License.State.UNTRACKED if lic.is_untracked_target else License.State.ASSIGNED,
                        failure[0],
                        failure[1],
                    )
                else:
                    lic.state = License.State.REVOKED
                    gone.append(lic)
            else:
                continue
            moved += 1
        _save_states(licenses)
        if gone:  # A3: a revoked user license no longer covers devices; their slots are free again
            LicenseDevice.objects.filter(license__in=gone).delete()
        if not mirrored:
            app_services.counts_move(_update_mirror(appeared, gone, keys))
        if moved:
            notify_licenses_settled({lic.app_id for lic in licenses})
    return moved


def _save_states(licenses: list[License]) -> None:
    """Write the licenses' new state, error number and error: one UPDATE per distinct outcome (a settled
    event is mostly one: assigned), not a CASE WHEN per license."""
    groups: dict[tuple, tuple[License, list[int]]] = {}
    for lic in licenses:
        # The error is one shared message per Apple failure: grouped by identity, not by (lazy) text.
        key = (lic.state, lic.error_number, id(lic.error))
        groups.setdefault(key, (lic, []))[1].append(lic.pk)
    now = timezone.now()
    for first, pks in groups.values():
        License.objects.filter(pk__in=pks).update(
            state=first.state, error_number=first.error_number, error=first.error, updated_at=now
        )


def notify_licenses_settled(app_ids: set[int]) -> None:
    """D2: after commit, tell the layers above (deployment) which apps' licenses settled."""
    signals.send_after_commit(signals.licenses_settled, app_ids=sorted(app_ids))


def _update_mirror(appeared: list[License], gone: list[License], keys: dict[int, Key]) -> Counter:
    """Create/delete the AppleAssignment rows of settled licenses; the count change per app they imply."""
    deltas: Counter = Counter()
    apps = App.objects.in_bulk({lic.app_id for lic in appeared + gone})
    for licenses, sign in ((appeared, 1), (gone, -1)):
        targets: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for lic in licenses:
            key = keys.get(lic.pk)
            if key is None:  # no target id to mirror: still one license more or less at Apple
                deltas[lic.app_id] += sign
                continue
            targets[lic.app_id].append((key[1], "") if key[0] == "s" else ("", key[1]))
        for app_id, rows in targets.items():
            app = apps[app_id]
            if sign > 0:
                changed = app_services.mirror_add(
                    token_id=app.vpp_token_id,
                    app_id=app.pk,
                    adam_id=app.adam_id,
                    pricing_param=app.pricing_param,
                    targets=rows,
                )
            else:
                changed = app_services.mirror_remove(
                    token_id=app.vpp_token_id,
                    adam_id=app.adam_id,
                    pricing_param=app.pricing_param,
                    targets=rows,
                )
            deltas[app_id] += sign * changed
    return deltas


def _failure_keys(failures) -> dict[Key, Failure]:
    result: dict[Key, Failure] = {}
    for failure in failures:
        text = apple_error(failure.number, failure.message or "")
        for serial in failure.serial_numbers:
            result[("s", serial)] = (failure.number, text)
        for cid in failure.client_user_ids:
            result[("u", cid)] = (failure.number, text)
    return result


def _open_licenses(token, event_id: str) -> list[License]:
    return list(
        License.objects.filter(
            app__vpp_token=token, event_id=event_id, state__in=[License.State.PENDING, License.State.REVOKING]
        ).select_related("device")
    )


def _device_ids(serials: Iterable[str]) -> list[int]:
    return list(Device.objects.filter(serial_number__in=set(serials)).values_list("pk", flat=True))


def _for_targets(licenses, token, keys_in: set[tuple[str, Key]]):
    """`licenses` (a queryset) narrowed to those whose target a notification names: a notification carries
    at most a hundred of an event's thousand licenses, and an early one (before we stored the event id)
    would otherwise load every pending license of the app."""
    serials = {key[1] for _a, key in keys_in if key[0] == "s"}
    cids = {key[1] for _a, key in keys_in if key[0] == "u"}
    user_ids = VPPUser.objects.filter(vpp_token=token, client_user_id__in=cids).values("user_id")
    return licenses.order_by().filter(
        Q(device_id__in=_device_ids(serials))
        | Q(apple_serial_number__in=serials)
        | Q(user_id__in=user_ids)
        | Q(apple_client_user_id__in=cids)
    )


def apply_event_status(*, token, event_id: str, status: EventStatus) -> bool:
    """Apply a finished `EventStatus` to the licenses and users of `event_id`; False while Apple is still
    working."""
    if status.is_pending:
        return False
    failures = _failure_keys(status.failures)
    licenses = _open_licenses(token, event_id)
    if licenses:
        _settle(licenses, failures, license_keys(token, licenses))
    _settle_users(token, event_id, failures, users_status=None)
    return True


def _settle_users(token, event_id: str, failures: dict[Key, Failure], users_status) -> list[int]:
    """Registration events: pending VPPUsers → registered (or associated) / failed. Returns the users now
    ready."""
    ready: list[int] = []
    for vpp_user in VPPUser.objects.filter(vpp_token=token, event_id=event_id, status=VPPUser.Status.PENDING):
        failure = failures.get(("u", vpp_user.client_user_id))
        if failure:
            vpp_user.status, vpp_user.error_number, vpp_user.error = (
                VPPUser.Status.FAILED,
                failure[0],
                failure[1],
            )
            License.objects.filter(
                app__vpp_token=token, user_id=vpp_user.user_id, state=License.State.PENDING, event_id=""
            ).update(state=License.State.FAILED, error_number=failure[0], error=failure[1])
        else:
            apple_status = (users_status or {}).get(vpp_user.client_user_id, "Registered")
            vpp_user.status = (
                VPPUser.Status.ASSOCIATED if apple_status == "Associated" else VPPUser.Status.REGISTERED
            )
            ready.append(vpp_user.user_id)
        vpp_user.save(update_fields=["status", "error_number", "error", "updated_at"])
    return ready


def _request_waiting(token, user_ids: list[int]) -> list[str]:
    """Associate the licenses that waited for these users' registration (the background budget of retries:
    this runs in a task, never inside the transaction that processed a notification)."""
    events: list[str] = []
    app_ids = (
        License.objects.filter(
            app__vpp_token=token, user_id__in=user_ids, state=License.State.PENDING, event_id=""
        )
        .values_list("app_id", flat=True)
        .distinct()
    )
    for app in App.objects.filter(pk__in=list(app_ids)).select_related("vpp_token"):
        events += request_pending(app=app)["events"]
    return events


def overtaken(token, notification: Notification) -> set[tuple[str, str, str]]:
    """The (adamId, serial number, client user id) of a successful ASSET_MANAGEMENT notification that a later
    change of ours already overtook: Apple delivered it late, after the notification or poll of a newer event.

    An association is overtaken when our license for that app and target is revoking or revoked by another
    event and none is pending or carries this event; a release is overtaken when our license is pending or
    assigned by another event and none is revoking or carries this event. Applying such an item would undo
    the newer change in the mirror and the counts; the caller skips it and asks Apple (a resync).
    """
    kind = notification.management_type
    if not notification.succeeded or kind not in ("ASSOCIATE", "DISASSOCIATE", "REVOKE"):
        return set()
    items = [(a.adam_id, a.serial_number or "", a.client_user_id or "") for a in notification.assignments]
    if not items:
        return set()
    serials = {serial for _a, serial, _c in items if serial}
    cids = {cid for _a, _s, cid in items if cid}
    user_of = dict(
        VPPUser.objects.filter(vpp_token=token, client_user_id__in=cids).values_list(
            "user_id", "client_user_id"
        )
    )
    # Apps and devices by their ids first, then licenses by (app, device) or (app, user): conditions on the
    # license table its unique indexes answer, whatever the statistics say (an OR across the device join
    # scanned every license of the app after an allocation had just written them).
    app_ids = list(
        App.objects.filter(vpp_token=token, adam_id__in={a for a, _s, _c in items}).values_list(
            "pk", flat=True
        )
    )
    rows = License.objects.filter(app_id__in=app_ids).filter(
        Q(license_type="device", device_id__in=_device_ids(serials)) | Q(user_id__in=list(user_of))
    )
    states: dict[tuple[str, str, str], list[tuple[str, str]]] = defaultdict(list)
    for adam_id, license_type, serial, user_id, state, event_id in rows.order_by().values_list(
        "app__adam_id", "license_type", "device__serial_number", "user_id", "state", "event_id"
    ):
        if license_type == "device" and serial:
            states[(adam_id, serial, "")].append((state, event_id))
        elif user_id in user_of:
            states[(adam_id, "", user_of[user_id])].append((state, event_id))
    this = notification.event_id or ""
    if kind == "ASSOCIATE":
        current, newer = {License.State.PENDING}, {License.State.REVOKING, License.State.REVOKED}
    else:
        current, newer = {License.State.REVOKING}, {License.State.PENDING, License.State.ASSIGNED}
    result = set()
    for item in items:
        ours = states.get(item, [])
        if any(state in current or (this and event_id == this) for state, event_id in ours):
            continue
        if any(state in newer and event_id != this for state, event_id in ours):
            result.add(item)
    return result


def apply_asset_management(token, notification: Notification, *, mirrored: bool = False) -> int:
    """Apply one ASSET_MANAGEMENT notification to our licenses. Returns the licenses moved.

    SUCCESS lists the assignments done; FAILURE lists those that failed with `error`. Licenses are matched by
    `eventId`; an ASSOCIATE success that arrives before we stored the event id matches pending licenses by
    target. `mirrored`: the caller already applied the notification's current assignments to the mirror
    and the counts (`apps.services.mirror_apply`); only licenses it matches move, and each of them is one
    of those assignments (an item a newer change overtook matches no open license of this event).
    """
    event_id = notification.event_id or ""
    kind = notification.management_type
    keys_in: set[tuple[str, Key]] = set()
    for item in notification.assignments:
        if item.serial_number:
            keys_in.add((item.adam_id, ("s", item.serial_number)))
        if item.client_user_id:
            keys_in.add((item.adam_id, ("u", item.client_user_id)))
    open_states = [License.State.PENDING, License.State.REVOKING]
    licenses: list[License] = []
    if event_id:
        licenses = list(
            _for_targets(
                License.objects.filter(app__vpp_token=token, event_id=event_id, state__in=open_states),
                token,
                keys_in,
            ).select_related("device", "app")
        )
    if not licenses and kind == "ASSOCIATE" and notification.succeeded:
        licenses = list(
            _for_targets(
                License.objects.filter(
                    app__vpp_token=token,
                    app__adam_id__in={a for a, _k in keys_in},
                    state=License.State.PENDING,
                ),
                token,
                keys_in,
            ).select_related("device", "app")
        )
    if not licenses:
        return 0
    keys = license_keys(token, licenses)
    adam = {lic.app_id: lic.app.adam_id for lic in licenses}
    # REVOKE notifications carry every released asset; a license matches when its target appears at all.
    if kind == "REVOKE":
        matched = [lic for lic in licenses if any(k == keys.get(lic.pk) for _a, k in keys_in)]
    else:
        matched = [lic for lic in licenses if (adam[lic.app_id], keys.get(lic.pk)) in keys_in]
    if notification.succeeded is False:
        number, text = _failure_text(notification)
        failures = {keys[lic.pk]: (number, text) for lic in matched if lic.pk in keys}
        moved = _settle(matched, failures, keys, mirrored=mirrored)
    else:
        moved = _settle(matched, {}, keys, mirrored=mirrored)
    if moved:
        finish_settled_runs(({event_id} | {lic.event_id for lic in matched}) - {""})
    return moved


def finish_settled_runs(event_ids: set[str]) -> list[int]:
    """End the waiting license runs whose Apple events no longer hold an open license once a notification
    settled `event_ids`: the run is done when its licenses are, not at its next status poll (POLL_SECONDS
    later). Runs still waiting for a user registration (`user_events`) keep polling: the licenses that
    waited for those users are requested, and join the run, from the poll. Returns the runs ended."""
    if not event_ids:
        return []
    ended: list[int] = []
    waiting = LicenseRun.objects.filter(status=LicenseRun.Status.RUNNING).only("pk", "summary")
    for candidate in waiting:
        summary = candidate.summary or {}
        events = set(summary.get("events", []))
        if summary.get("user_events") or not events & event_ids:
            continue
        if License.objects.filter(
            event_id__in=events, state__in=[License.State.PENDING, License.State.REVOKING]
        ).exists():
            continue
        run = LicenseRun.objects.get(pk=candidate.pk)
        _finish_run(run, dict(run.summary or {}), pending=[])
        ended.append(run.pk)
    return ended


def _failure_text(notification: Notification) -> Failure:
    error = notification.error
    number = error.number if error is not None else None
    message = (error.message if error is not None else "") or ""
    return number, apple_error(number, message)


def apply_user_management(token, notification: Notification) -> list[int]:
    """Apply a USER_MANAGEMENT notification to the users we registered: pending → registered (or failed).

    Returns the directory user ids now ready, whose waiting licenses the caller requests after commit
    (`request_waiting`).
    """
    event_id = notification.event_id or ""
    users = notification.users
    if notification.succeeded is False:
        number, text = _failure_text(notification)
        failures = {("u", u.client_user_id): (number, text) for u in users}
        _settle_users(token, event_id, failures, None)
        return []
    statuses = {u.client_user_id: u.status for u in users}
    return _settle_users(token, event_id, {}, statuses)


def request_waiting(*, token_id: int, user_ids: list[int]) -> list[str]:
    """Associate the licenses that waited for these users' registration; the Apple event ids started."""
    token = VPPToken.objects.filter(pk=token_id).first()
    if token is None or not user_ids:
        return []
    return _request_waiting(token, user_ids)


def apply_user_associated(token, notification: Notification) -> int:
    """USER_ASSOCIATED: the users accepted the invitation (S4): Registered → Associated."""
    ids = [u.client_user_id for u in notification.users]
    users = VPPUser.objects.filter(vpp_token=token, client_user_id__in=ids).exclude(
        status=VPPUser.Status.RETIRED
    )
    user_ids = list(users.values_list("user_id", flat=True))
    changed = users.update(status=VPPUser.Status.ASSOCIATED)
    if changed:  # S4: installs that waited for the users to join the program can proceed
        notify_licenses_settled(
            set(
                License.objects.filter(
                    app__vpp_token=token, user_id__in=user_ids, state=License.State.ASSIGNED
                ).values_list("app_id", flat=True)
            )
        )
    return changed


VPP_USER_STATUS = {"Registered": "registered", "Associated": "associated", "Retired": "retired"}


def vpp_users_apply(token, users: Iterable[AppleUser], *, clear_errors: bool = False) -> int:
    """Take over the statuses Apple reports for the users this console created (T9: anyone else's users are
    ignored). A user the console retired stays retired: an active record at Apple is Apple lagging, not a new
    user. Only users whose record differs are written (a sync of 100k unchanged users writes none): a first
    pass over plain values (no model object per user) finds them when Apple reported many, and only those are
    locked and written, in chunks. Returns how many of our users were updated."""
    by_id = {u.client_user_id: u for u in users}
    if not by_id:
        return 0
    if clear_errors or len(by_id) <= USERS_CHUNK:
        chunks = [VPPUser.objects.filter(vpp_token=token, client_user_id__in=list(by_id))]
    else:
        differ = _vpp_users_differing(token, by_id)
        chunks = [
            VPPUser.objects.filter(pk__in=differ[start : start + USERS_CHUNK])
            for start in range(0, len(differ), USERS_CHUNK)
        ]
    fields = ["status", "invite_code", "id_hash", "updated_at"]
    if clear_errors:
        fields += ["error_number", "error"]
    updated = 0
    for chunk in chunks:
        changed = [
            vpp_user
            for vpp_user in chunk.select_for_update()
            if _vpp_user_take(vpp_user, by_id[vpp_user.client_user_id], clear_errors=clear_errors)
        ]
        VPPUser.objects.bulk_update(changed, fields, batch_size=2000)
        updated += len(changed)
    return updated


USERS_CHUNK = 5000


def _vpp_users_differing(token, by_id: dict[str, AppleUser]) -> list[int]:
    """The ids of `token`'s users whose record at Apple (`by_id`) says something else than what we hold."""
    differ = []
    held = VPPUser.objects.filter(vpp_token=token).values_list(
        "pk", "client_user_id", "status", "invite_code", "id_hash"
    )
    for pk, client_user_id, status, invite_code, id_hash in held.iterator(chunk_size=USERS_CHUNK):
        apple_user = by_id.get(client_user_id)
        if apple_user is None:
            continue
        apple_status = VPP_USER_STATUS.get(apple_user.status)
        if apple_status is None or (status == VPPUser.Status.RETIRED and apple_status != status):
            continue
        if (
            apple_status != status
            or (apple_user.invite_code or invite_code) != invite_code
            or (apple_user.id_hash or id_hash) != id_hash
        ):
            differ.append(pk)
    return differ


def _vpp_user_take(vpp_user: VPPUser, apple_user: AppleUser, *, clear_errors: bool) -> bool:
    """Apply Apple's record to `vpp_user` (unsaved); True when anything changed."""
    status = VPP_USER_STATUS.get(apple_user.status)
    if status is None:
        return False
    if vpp_user.status == VPPUser.Status.RETIRED and status != VPPUser.Status.RETIRED:
        return False
    fields = ("status", "invite_code", "id_hash", "error_number", "error")
    before = tuple(getattr(vpp_user, name) for name in fields)
    vpp_user.status = status
    vpp_user.invite_code = apple_user.invite_code or vpp_user.invite_code
    vpp_user.id_hash = apple_user.id_hash or vpp_user.id_hash
    if clear_errors:
        vpp_user.error_number = None
        vpp_user.error = ""
    if tuple(getattr(vpp_user, name) for name in fields) == before:
        return False  # Apple's record says what we hold: no write
    vpp_user.updated_at = timezone.now()
    return True


def vpp_users_failed(token, *, client_user_ids: list[str], number: int | None, message: Message | str) -> int:
    """Apple refused to register these pending users: they are failed with Apple's error."""
    return VPPUser.objects.filter(
        vpp_token=token, client_user_id__in=client_user_ids, status=VPPUser.Status.PENDING
    ).update(status=VPPUser.Status.FAILED, error_number=number, error=message, updated_at=timezone.now())


def vpp_client_user_ids(token) -> set[str]:
    """The clientUserIds this console created on `token` (T9: the only Apple users it reads)."""
    return set(VPPUser.objects.filter(vpp_token=token).values_list("client_user_id", flat=True))


def poll_events(*, token, event_ids: Iterable[str]) -> list[str]:
    """Ask Apple for the status of each event and apply the finished ones. Returns the ids still pending."""
    still: list[str] = []
    finished: list[str] = []
    with client_for(token) as client:
        for event_id in event_ids:
            try:
                status = client.event_status(event_id)
            except BadRequest as exc:  # 9708: Apple forgot the event; the next sync/reconciliation settles it
                for lic in _open_licenses(token, event_id):
                    lic.error_number, lic.error = exc.number, apple_exception(exc)
                    lic.save(update_fields=["error_number", "error"])
                continue
            except AppleError:
                still.append(event_id)
                continue
            if apply_event_status(token=token, event_id=event_id, status=status):
                finished.append(event_id)
            else:
                still.append(event_id)
    for event_id in finished:
        ready = list(
            VPPUser.objects.filter(vpp_token=token, event_id=event_id)
            .exclude(status__in=[VPPUser.Status.FAILED, VPPUser.Status.PENDING])
            .values_list("user_id", flat=True)
        )
        if ready:
            still += _request_waiting(token, ready)
    return still


def _events_by_token(default_token, event_ids: list[str]) -> dict:
    """Group event ids by the token whose licenses carry them (a device's licenses may span tokens)."""
    owners = dict(
        License.objects.filter(event_id__in=event_ids).values_list("event_id", "app__vpp_token_id").distinct()
    )
    tokens = {t.pk: t for t in VPPToken.objects.filter(pk__in=set(owners.values()))}
    grouped: dict = {}
    for event_id in event_ids:
        owner_id = owners.get(event_id)
        owner = tokens.get(owner_id, default_token) if owner_id is not None else default_token
        if owner is not None:
            grouped.setdefault(owner, []).append(event_id)
    return grouped


def poll_run(run: LicenseRun) -> bool:
    """Poll the Apple events of a run; when none is pending, finish it with its counts. True when finished."""
    if run.status in LicenseRun.FINISHED:
        return True
    runs.beat(run, waiting=True)
    token = run.vpp_token or (run.app.vpp_token if run.app is not None else None)
    if token is None and run.assignment is not None:
        token = run.assignment.app.vpp_token
    summary = dict(run.summary or {})
    events = list(summary.get("events", []))
    user_events = list(summary.get("user_events", []))
    all_events = events + user_events
    pending: list[str] = []
    for event_token, ids in _events_by_token(token, all_events).items():
        pending += poll_events(token=event_token, event_ids=ids)
    return _finish_run(run, summary, pending=pending)


def _finish_run(run: LicenseRun, summary: dict, *, pending: list[str]) -> bool:
    """Move the run's settled events to `done_events`; when none is `pending`, finish it with its counts."""
    events = list(summary.get("events", []))
    user_events = list(summary.get("user_events", []))
    all_events = events + user_events
    # Events started by poll_events (licenses that waited for a user registration) join the run.
    new = [e for e in pending if e not in all_events]
    summary["events"] = [e for e in pending if e in events] + new
    summary["user_events"] = [e for e in pending if e in user_events]
    summary["done_events"] = list(summary.get("done_events", [])) + [
        e for e in all_events if e not in pending
    ]
    run.summary = summary
    if summary["events"] or summary["user_events"]:
        run.progress = max(run.progress, 75)
        run.save(update_fields=["summary", "progress"])
        return False
    done = summary["done_events"]
    licenses = License.objects.filter(event_id__in=done)
    good = [License.State.ASSIGNED] if run.kind == LicenseRun.Kind.ALLOCATE else [License.State.REVOKED]
    run.succeeded = licenses.filter(state__in=good).count() if done else run.succeeded
    if run.kind == LicenseRun.Kind.ALLOCATE:
        run.failed = int(summary.get("failed", 0)) + licenses.filter(state=License.State.FAILED).count()
    else:
        run.failed = licenses.exclude(state__in=good).count()
    runs.finish(run)
    return True
