"""Releasing licenses at Apple: one license, all of a device/user/app/token (S9, S10, S11, B1, T14),
untracked (B2).

Two Apple calls do the work:
- `assets/disassociate` for licenses of one app (one license, an app, a user's licenses from one group);
- `assets/revoke` for *everything revocable* a device or user holds on a location (a device, a deactivated
  user, a whole token, untracked targets) — this also releases licenses the console never knew about.
Licenses go assigned → revoking (with Apple's eventId) → revoked when the event completes (events.py).
"""

from __future__ import annotations

from collections import defaultdict

from django.db import connection, transaction

from apps.models import App, AppleAssignment
from assignments.allocation import record_token_error
from assignments.events import license_keys, mark_revoking
from assignments.models import License, LicenseRun, VPPUser
from assignments.reconciliation import apple_now, untracked_refresh
from console import runs
from console.audit import record
from console.messages import apple_text
from tokens.apple import client_for
from tokens.models import VPPToken
from vpp.errors import AppleError
from vpp.types import AssetRef


class RunFailed(Exception):
    """An Apple call of a run failed synchronously; carries the Apple error."""

    def __init__(self, error) -> None:
        super().__init__(str(error))
        self.error = error


def disassociate(*, token, licenses: list[License], interactive: bool = False) -> list[str]:
    """Release assigned `licenses` (any apps of one token) with assets/disassociate; returns the event ids.
    `interactive` (a person waits) uses few retries; background work the full budget."""
    licenses = [lic for lic in licenses if lic.state == License.State.ASSIGNED]
    if not licenses:
        return []
    keys = license_keys(token, licenses)
    by_app: dict = defaultdict(list)
    for lic in licenses:
        by_app[lic.app].append(lic)
    with client_for(token, interactive=interactive) as client:
        events_all: list[str] = []
        for app, group in by_app.items():
            serials = [keys[lic.pk][1] for lic in group if keys.get(lic.pk, ("",))[0] == "s"]
            cids = [keys[lic.pk][1] for lic in group if keys.get(lic.pk, ("",))[0] == "u"]
            try:
                events = client.disassociate_assets(
                    [AssetRef(app.adam_id, app.pricing_param)], serial_numbers=serials, client_user_ids=cids
                )
            except AppleError as exc:
                events_all += mark_revoking(group, keys, exc.events)
                raise RunFailed(exc) from exc
            events_all += mark_revoking(group, keys, events)
    return events_all


def revoke_targets(*, token, serial_numbers, client_user_ids, licenses: list[License]) -> list[str]:
    """assets/revoke for these devices/users (everything revocable they hold); marks `licenses` revoking."""
    keys = license_keys(token, licenses)
    try:
        with client_for(token) as client:
            events = client.revoke_assets(
                serial_numbers=sorted(set(serial_numbers)), client_user_ids=sorted(set(client_user_ids))
            )
    except AppleError as exc:
        mark_revoking(licenses, keys, exc.events)
        raise RunFailed(exc) from exc
    return mark_revoking(licenses, keys, events)


def _holding(qs):
    return list(qs.filter(state=License.State.ASSIGNED).select_related("app__vpp_token", "device"))


# --- runs --------------------------------------------------------------------------------------------------


def create_run(*, kind: str, actor, action: str, obj=None, **fields) -> LicenseRun:
    """Record a run and enqueue it after commit (console.runs; the worker loads it by id)."""
    with transaction.atomic():
        run, _created = runs.enqueue(kind=kind, model=LicenseRun, actor=actor, **fields)
        record(actor=actor, action=action, obj=obj or run, after={"license_run": run.pk, "kind": kind})
    return run


def _run_revoke_token(run: LicenseRun) -> list[str]:
    token = run.vpp_token
    licenses = _holding(License.objects.filter(app__vpp_token=token))
    licenses += list(License.objects.filter(app__vpp_token=token, state=License.State.UNTRACKED))  # T9
    keys = license_keys(token, licenses)
    serials = {k[1] for k in keys.values() if k[0] == "s"}
    cids = {k[1] for k in keys.values() if k[0] == "u"}
    mirror = AppleAssignment.objects.filter(vpp_token=token)
    serials |= set(mirror.exclude(serial_number="").values_list("serial_number", flat=True))
    cids |= set(mirror.exclude(client_user_id="").values_list("client_user_id", flat=True))
    pending_serials = License.objects.filter(
        app__vpp_token=token, state=License.State.PENDING, device__isnull=False
    ).values_list("device__serial_number", flat=True)
    serials |= set(pending_serials)
    run.total = len(serials) + len(cids)
    run.save(update_fields=["total"])
    if not (serials or cids):
        return []
    return revoke_targets(token=token, serial_numbers=serials, client_user_ids=cids, licenses=licenses)


def _run_revoke_device(run: LicenseRun) -> list[str]:
    """S9 / B1: release the device-licensed apps of one device on every token (no uninstall).

    A deleted device (its licenses are gone with it) is revoked by serial number on every usable token.
    """
    serial = (run.summary or {}).get("serial_number")
    if run.device is None and serial:
        events: list[str] = []
        for token in VPPToken.objects.all():
            if token.is_usable:
                events += revoke_targets(
                    token=token, serial_numbers=[serial], client_user_ids=[], licenses=[]
                )
        run.total = 1
        run.save(update_fields=["total"])
        return events
    licenses = _holding(License.objects.filter(device=run.device, license_type="device"))
    run.total = len(licenses)
    run.save(update_fields=["total"])
    events: list[str] = []
    by_token: dict = defaultdict(list)
    for lic in licenses:
        by_token[lic.app.vpp_token].append(lic)
    for token, group in by_token.items():
        if token.is_usable:
            events += revoke_targets(
                token=token, serial_numbers=[run.device.serial_number], client_user_ids=[], licenses=group
            )
    return events


def _run_revoke_user(run: LicenseRun) -> list[str]:
    """S11: a user's user licenses — those from one group (summary.group_id) or all of them (deactivated)."""
    qs = License.objects.filter(user=run.user, license_type="user")
    group_id = (run.summary or {}).get("group_id")
    if group_id:
        qs = qs.filter(assignment__group_id=group_id)
    licenses = _holding(qs)
    run.total = len(licenses)
    run.save(update_fields=["total"])
    by_token: dict = defaultdict(list)
    for lic in licenses:
        by_token[lic.app.vpp_token].append(lic)
    events: list[str] = []
    for token, group in by_token.items():
        if not token.is_usable:
            continue
        if group_id:
            events += disassociate(token=token, licenses=group)
        else:
            cids = VPPUser.objects.filter(vpp_token=token, user=run.user).values_list(
                "client_user_id", flat=True
            )
            events += revoke_targets(
                token=token, serial_numbers=[], client_user_ids=list(cids), licenses=group
            )
    return events


def _run_revoke_app(run: LicenseRun) -> list[str]:
    qs = License.objects.filter(app=run.app)
    if run.assignment_id or (run.summary or {}).get("assignment_id"):
        qs = qs.filter(assignment_id=run.assignment_id or run.summary["assignment_id"])
    licenses = _holding(qs)
    run.total = len(licenses)
    run.save(update_fields=["total"])
    return disassociate(token=run.app.vpp_token, licenses=licenses)


RECLAIM_CHUNK = 1000  # Apple targets (serial numbers, client user ids) revoked per step
_RECLAIM = "vpp_reclaim_untracked"  # temporary table of the reclaiming connection


def _run_reclaim_untracked(run: LicenseRun) -> list[str]:
    """B2: revoke what Apple holds for targets this console does not know: the untracked License rows (T9),
    brought up to date with Apple first. Each goes revoking, then revoked when Apple's event completes.

    RECLAIM_CHUNK targets at a time (numbered in SQL first), so a location with a million untracked licenses
    never holds them all as objects."""
    token = run.vpp_token
    try:
        with apple_now(token) as apple:
            untracked_refresh(token=token, source=apple)
    except AppleError as exc:
        raise RunFailed(exc) from exc
    license_table = connection.ops.quote_name(License._meta.db_table)
    app_table = connection.ops.quote_name(App._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_RECLAIM}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_RECLAIM} AS SELECT l.id, DENSE_RANK() OVER"  # noqa: S608
            " (ORDER BY l.apple_serial_number, l.apple_client_user_id) AS n"
            f" FROM {license_table} l JOIN {app_table} a ON a.id = l.app_id"
            " WHERE a.vpp_token_id = %s AND l.state = %s",
            [token.pk, License.State.UNTRACKED],
        )
        cursor.execute(f"CREATE INDEX {_RECLAIM}_n ON {_RECLAIM} (n)")
        cursor.execute(f"SELECT COUNT(*), COALESCE(MAX(n), 0) FROM {_RECLAIM}")  # noqa: S608
        run.total, targets = cursor.fetchone()
    run.save(update_fields=["total"])
    events: list[str] = []
    try:
        for low in range(0, targets, RECLAIM_CHUNK):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id FROM {_RECLAIM} WHERE n > %s AND n <= %s",  # noqa: S608
                    [low, low + RECLAIM_CHUNK],
                )
                ids = [pk for (pk,) in cursor.fetchall()]
            rows = list(License.objects.filter(pk__in=ids, state=License.State.UNTRACKED))
            if not rows:
                continue
            serials = {r.apple_serial_number for r in rows if r.apple_serial_number}
            cids = {r.apple_client_user_id for r in rows if r.apple_client_user_id}
            events += revoke_targets(token=token, serial_numbers=serials, client_user_ids=cids, licenses=rows)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_RECLAIM}")
    return events


def _run_release_listed(run: LicenseRun) -> list[str]:
    """Release exactly the licenses listed in summary.license_ids (an assignment removed, members who
    left)."""
    licenses = _holding(License.objects.filter(pk__in=run.summary["license_ids"]))
    run.total = len(licenses)
    run.save(update_fields=["total"])
    by_token: dict = defaultdict(list)
    for lic in licenses:
        by_token[lic.app.vpp_token].append(lic)
    events: list[str] = []
    for token, group in by_token.items():
        if token.is_usable:
            events += disassociate(token=token, licenses=group)
    return events


REVOKERS = {
    LicenseRun.Kind.REVOKE_TOKEN: _run_revoke_token,
    LicenseRun.Kind.REVOKE_DEVICE: _run_revoke_device,
    LicenseRun.Kind.REVOKE_USER: _run_revoke_user,
    LicenseRun.Kind.REVOKE_APP: _run_revoke_app,
    LicenseRun.Kind.RECLAIM_UNTRACKED: _run_reclaim_untracked,
}


def run_revocation(run: LicenseRun) -> LicenseRun:
    """Carry out a revoke run: send the Apple requests, record their event ids; polling finishes the run.

    Raises RunFailed when the token cannot be used or Apple refuses a request (with Apple's error number)."""
    runs.progress(run, 5)
    token = run.vpp_token or (run.app.vpp_token if run.app_id else None)
    if token is not None and not token.is_usable:
        raise runs.RunFailed(f"The VPP token cannot be used: {token.get_state_display()}.")
    try:
        if (run.summary or {}).get("license_ids"):
            events = _run_release_listed(run)
        else:
            events = REVOKERS[run.kind](run)
    except RunFailed as exc:
        if token is not None:
            record_token_error(token, exc.error)
        run.summary = {
            **(run.summary or {}),
            "events": list(exc.error.events and [e.event_id for e in exc.error.events]),
        }
        raise runs.RunFailed(apple_text(exc.error), exc.error.number) from exc
    run.summary = {**(run.summary or {}), "events": events}
    run.save(update_fields=["summary"])
    runs.progress(run, 50)
    return run
