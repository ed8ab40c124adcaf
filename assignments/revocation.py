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

from assignments.allocation import record_token_error
from assignments.events import license_keys, mark_revoking
from assignments.models import License, LicenseRun, VPPUser
from assignments.reconciliation import apple_now, sql_tables, untracked_refresh
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
    """T14: revoke every license of the token at Apple: the targets our assigned and untracked licenses name,
    every target Apple's assignments (the mirror) name, and the devices of pending requests; RECLAIM_CHUNK
    targets at a time, so a location of a million never holds them all as objects."""
    token = run.vpp_token
    params = {"token": token.pk, "retired": VPPUser.Status.RETIRED}
    keys = f"{_KEYS_SQL['assigned']} UNION ALL {_KEYS_SQL['untracked']}"
    also = (
        "SELECT 's' AS kind, serial_number AS target FROM {mirror} WHERE vpp_token_id = %(token)s"
        " AND serial_number <> ''"
        " UNION SELECT 'u', client_user_id FROM {mirror} WHERE vpp_token_id = %(token)s"
        " AND client_user_id <> ''"
        " UNION SELECT 's', d.serial_number FROM {license} l JOIN {app} a ON a.id = l.app_id"
        " JOIN {device} d ON d.id = l.device_id WHERE a.vpp_token_id = %(token)s AND l.state = 'pending'"
    )
    return _revoke_in_chunks(run, token, keys=keys, also=also, params=params)


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
_KEYS = "vpp_revoke_keys"  # temporary tables of the revoking connection
_TARGETS = "vpp_revoke_targets"
# Licenses to mark revoking, keyed by their target at Apple as `events.license_keys` keys them: a device
# license by its device's serial number; otherwise by the client user id of the user's Apple user on this
# token (the latest one not retired, else the first retired one); an untracked license by Apple's target.
_KEYS_SQL = {
    "assigned": (
        "SELECT l.id AS license_id, CASE WHEN l.license_type = 'device' AND d.id IS NOT NULL THEN 's'"
        " ELSE 'u' END AS kind, CASE WHEN l.license_type = 'device' AND d.id IS NOT NULL THEN d.serial_number"
        " ELSE (SELECT v.client_user_id FROM {vppuser} v WHERE v.user_id = l.user_id"
        " AND v.vpp_token_id = %(token)s"
        " ORDER BY CASE WHEN v.status <> %(retired)s THEN -v.id ELSE v.id END LIMIT 1) END AS target"
        " FROM {license} l JOIN {app} a ON a.id = l.app_id LEFT JOIN {device} d ON d.id = l.device_id"
        " WHERE a.vpp_token_id = %(token)s AND l.state = 'assigned'"
    ),
    "untracked": (
        "SELECT l.id AS license_id, CASE WHEN l.apple_serial_number <> '' THEN 's' ELSE 'u' END AS kind,"
        " CASE WHEN l.apple_serial_number <> '' THEN l.apple_serial_number ELSE l.apple_client_user_id END"
        " AS target FROM {license} l JOIN {app} a ON a.id = l.app_id WHERE a.vpp_token_id = %(token)s"
        " AND l.state = 'untracked' AND l.user_id IS NULL AND l.device_id IS NULL"
        " AND (l.apple_serial_number <> '' OR l.apple_client_user_id <> '')"
    ),
}


def _revoke_in_chunks(run: LicenseRun, token, *, keys: str, also: str | None, params: dict) -> list[str]:
    """Revoke, RECLAIM_CHUNK targets at a time, every target the licenses of `keys` (SQL: license_id, kind,
    target) name plus those of `also` (SQL: kind, target), marking those licenses revoking. The targets are
    numbered in SQL first; each step loads only its own licenses. Sets run.total to the targets."""
    tables = sql_tables()
    sources = [also.format(**tables)] if also else []
    sources.append(f"SELECT kind, target FROM {_KEYS}")  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_KEYS}")
        cursor.execute(f"DROP TABLE IF EXISTS {_TARGETS}")
        cursor.execute(f"CREATE TEMPORARY TABLE {_KEYS} AS {keys.format(**tables)}", params)
        cursor.execute(f"DELETE FROM {_KEYS} WHERE target IS NULL OR target = ''")  # noqa: S608
        cursor.execute(
            f"CREATE TEMPORARY TABLE {_TARGETS} AS SELECT kind, target, ROW_NUMBER() OVER"  # noqa: S608
            f" (ORDER BY kind, target) AS n FROM ({' UNION '.join(sources)}) t",
            params if also else None,
        )
        cursor.execute(f"CREATE INDEX {_TARGETS}_n ON {_TARGETS} (n)")
        cursor.execute(f"CREATE INDEX {_TARGETS}_key ON {_TARGETS} (target, kind)")
        cursor.execute(f"SELECT COUNT(*) FROM {_TARGETS}")  # noqa: S608
        (total,) = cursor.fetchone()
    run.total = total
    run.save(update_fields=["total"])
    events: list[str] = []
    try:
        for low in range(0, total, RECLAIM_CHUNK):
            window = [low, low + RECLAIM_CHUNK]
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT kind, target FROM {_TARGETS} WHERE n > %s AND n <= %s", window)  # noqa: S608
                targets = cursor.fetchall()
                cursor.execute(
                    f"SELECT k.license_id FROM {_KEYS} k JOIN {_TARGETS} t ON t.target = k.target"  # noqa: S608
                    " AND t.kind = k.kind WHERE t.n > %s AND t.n <= %s",
                    window,
                )
                ids = [pk for (pk,) in cursor.fetchall()]
            licenses = list(License.objects.filter(pk__in=ids).select_related("app__vpp_token", "device"))
            events += revoke_targets(
                token=token,
                serial_numbers=[target for kind, target in targets if kind == "s"],
                client_user_ids=[target for kind, target in targets if kind == "u"],
                licenses=licenses,
            )
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {_KEYS}")
            cursor.execute(f"DROP TABLE IF EXISTS {_TARGETS}")
    return events


def _run_reclaim_untracked(run: LicenseRun) -> list[str]:
    """B2: revoke what Apple holds for targets this console does not know: the untracked License rows (T9),
    brought up to date with Apple first. Each goes revoking, then revoked when Apple's event completes;
    RECLAIM_CHUNK targets at a time, so a million untracked licenses are never all held as objects."""
    token = run.vpp_token
    try:
        with apple_now(token) as apple:
            untracked_refresh(token=token, source=apple)
    except AppleError as exc:
        raise RunFailed(exc) from exc
    params = {"token": token.pk}
    return _revoke_in_chunks(run, token, keys=_KEYS_SQL["untracked"], also=None, params=params)


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
