"""Reconciliation with Apple (B2, T9): what Apple holds versus the licenses we think are assigned.

The comparison reads Apple's assignments fresh (`GET assignments`), so it does not depend on when the last
sync ran. Drift:
- *untracked*: at Apple, with no assigned/pending license of ours for that app and target (including targets
  this console does not know at all — no Device with that serial, no VPPUser with that client user id);
- *missing*: our license says assigned, Apple has no such assignment.

Repair revokes the untracked ones (per app, assets/disassociate) and re-requests the missing ones (reserved
under the App lock like any allocation, so repair never oversubscribes).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

from django.db import connection, transaction
from django.utils import timezone

from apps import services as app_services
from apps.models import App, AppleAssignment
from apps.staging import ANALYZE_AFTER, WRITER_GAP
from assignments.allocation import NO_LICENSES, available_for, request_pending, reserve, targets_for
from assignments.events import license_keys, mark_revoking
from assignments.models import Assignment, License, LicenseRun, VPPUser
from console import runs
from directory.models import Device
from tokens.apple import client_for
from vpp.types import AssetRef

SHOWN = 200  # drift items kept in a run's summary for the page


def apple_assignments(token) -> set[tuple[str, str, str, str]]:
    """(adam_id, pricing_param, kind, target) of every assignment Apple lists for the token; kind "s"
    (serial number) or "u" (client user id)."""
    result = set()
    with client_for(token) as client:
        for item in client.iter_assignments():
            if item.serial_number:
                result.add((item.adam_id, item.pricing_param, "s", item.serial_number))
            if item.client_user_id:
                result.add((item.adam_id, item.pricing_param, "u", item.client_user_id))
    return result


def _ours(token) -> dict[tuple[str, str, str, str], License]:
    licenses = License.objects.filter(
        app__vpp_token=token,
        state__in=[License.State.ASSIGNED, License.State.PENDING, License.State.REVOKING],
    ).select_related("app", "device")
    cids = {
        v.user_id: v.client_user_id
        for v in VPPUser.objects.filter(vpp_token=token).exclude(status=VPPUser.Status.RETIRED)
    }
    ours = {}
    for lic in licenses:
        if lic.license_type == "device" and lic.device:
            key = (lic.app.adam_id, lic.app.pricing_param, "s", lic.device.serial_number)
        elif lic.user_id in cids:
            key = (lic.app.adam_id, lic.app.pricing_param, "u", cids[lic.user_id])
        else:
            continue
        ours[key] = lic
    return ours


def drift(token, at_apple: set | None = None) -> dict:
    """{"untracked": [(adam, pricing, kind, target, known)], "missing": [license ids]}."""
    at_apple = apple_assignments(token) if at_apple is None else at_apple
    ours = _ours(token)
    serials = set(Device.objects.values_list("serial_number", flat=True))
    cids = set(VPPUser.objects.filter(vpp_token=token).values_list("client_user_id", flat=True))
    untracked = []
    for key in sorted(at_apple):
        if key in ours:
            continue
        known = key[3] in (serials if key[2] == "s" else cids)
        untracked.append((*key, known))
    missing = [
        lic.pk for key, lic in ours.items() if lic.state == License.State.ASSIGNED and key not in at_apple
    ]
    return {"untracked": untracked, "missing": missing}


Item = tuple[str, str, str, str]  # (adam_id, pricing_param, "s" or "u", serial number or client user id)


def _mirror(token) -> Iterator[Item]:
    """Apple's assignments of `token` as the last sync (and notifications since) left them."""
    rows = AppleAssignment.objects.filter(vpp_token=token).values_list(
        "adam_id", "pricing_param", "serial_number", "client_user_id"
    )
    for adam_id, pricing_param, serial, client_user_id in rows.iterator(chunk_size=5000):
        if serial:
            yield (adam_id, pricing_param, "s", serial)
        if client_user_id:
            yield (adam_id, pricing_param, "u", client_user_id)


def untracked_refresh(*, token, at_apple: Iterable[Item] | None = None) -> dict[str, int]:
    """T9: make the untracked License rows of `token` match what Apple holds for targets we do not know.

    `at_apple` is Apple's list of assignments (read fresh by a reconciliation); by default the mirror a sync
    keeps. A row appears for each (app, unknown serial number or client user id) at Apple, and an untracked
    row disappears when Apple no longer holds it or its target became known (a Device with that serial
    number, a VPPUser with that client user id). Rows being revoked are left to their Apple event.
    Returns {"created": n, "removed": n, "untracked": n}.
    """
    if at_apple is None:
        return untracked_refresh_from_mirror(token=token)
    items = at_apple
    serials = set(Device.objects.values_list("serial_number", flat=True))
    cids = set(VPPUser.objects.filter(vpp_token=token).values_list("client_user_id", flat=True))
    app_ids = {
        (adam_id, pricing): pk
        for pk, adam_id, pricing in App.objects.filter(vpp_token=token).values_list(
            "pk", "adam_id", "pricing_param"
        )
    }
    wanted: set[tuple[int, str, str]] = set()
    for adam_id, pricing, kind, target in items:
        app_id = app_ids.get((adam_id, pricing))
        if app_id is not None and target not in (serials if kind == "s" else cids):
            wanted.add((app_id, kind, target))
    current: dict[tuple[int, str, str], tuple[int, str]] = {}
    rows = (
        License.objects.filter(
            app__vpp_token=token, state__in=[License.State.UNTRACKED, License.State.REVOKING]
        )
        .exclude(apple_serial_number="", apple_client_user_id="")
        .values_list("pk", "app_id", "apple_serial_number", "apple_client_user_id", "state")
    )
    for pk, app_id, serial, cid, state in rows:
        current[(app_id, "s" if serial else "u", serial or cid)] = (pk, state)
    gone = [
        pk for key, (pk, state) in current.items() if state == License.State.UNTRACKED and key not in wanted
    ]
    new = [
        License(
            app_id=app_id,
            license_type=Assignment.LicenseType.DEVICE if kind == "s" else Assignment.LicenseType.USER,
            apple_serial_number=target if kind == "s" else "",
            apple_client_user_id=target if kind == "u" else "",
            state=License.State.UNTRACKED,
        )
        for app_id, kind, target in sorted(wanted)
        if (app_id, kind, target) not in current
    ]
    with transaction.atomic():
        for start in range(0, len(gone), 5000):
            License.objects.filter(pk__in=gone[start : start + 5000]).delete()
        License.objects.bulk_create(new, batch_size=2000)
    return {"created": len(new), "removed": len(gone), "untracked": len(wanted)}


_UNTRACKED_SQL = {
    # Apple's targets of `token` this console does not know: (app, serial) and (app, client user id).
    "wanted": (
        "SELECT m.app_id, 'device' AS license_type, m.serial_number AS s, '' AS c FROM {mirror} m"
        " WHERE m.vpp_token_id = %(token)s AND m.app_id IS NOT NULL AND m.serial_number <> ''{range}"
        " AND NOT EXISTS (SELECT 1 FROM {device} d WHERE d.serial_number = m.serial_number)"
        " UNION ALL"
        " SELECT m.app_id, 'user' AS license_type, '' AS s, m.client_user_id AS c FROM {mirror} m"
        " WHERE m.vpp_token_id = %(token)s AND m.app_id IS NOT NULL AND m.client_user_id <> ''{range}"
        " AND NOT EXISTS (SELECT 1 FROM {vppuser} v WHERE v.vpp_token_id = %(token)s"
        " AND v.client_user_id = m.client_user_id)"
    ),
    "insert": (
        "INSERT INTO {license} (app_id, license_type, apple_serial_number, apple_client_user_id, state,"
        " event_id, error, created_at, updated_at) SELECT w.app_id, w.license_type, w.s, w.c, 'untracked',"
        " '', '', %(now)s, %(now)s FROM ({wanted}) w WHERE NOT EXISTS (SELECT 1 FROM {license} l"
        " WHERE l.app_id = w.app_id AND l.state IN ('untracked', 'revoking')"
        " AND l.apple_serial_number = w.s AND l.apple_client_user_id = w.c)"
    ),
    "delete": (
        "DELETE FROM {license} WHERE id IN (SELECT l.id FROM {license} l"
        " WHERE {p}l.app_id IN (SELECT a.id FROM {app} a WHERE a.vpp_token_id = %(token)s)"
        " AND {p}l.state = 'untracked' AND l.user_id IS NULL"
        " AND l.device_id IS NULL AND (l.apple_serial_number <> '' OR l.apple_client_user_id <> ''){lrange}"
        " AND NOT ((l.apple_serial_number <> '' AND EXISTS (SELECT 1 FROM {mirror} m"
        " WHERE m.vpp_token_id = %(token)s AND m.serial_number <> ''"
        " AND m.serial_number = l.apple_serial_number"
        " AND m.app_id = l.app_id)"
        " AND NOT EXISTS (SELECT 1 FROM {device} d WHERE d.serial_number = l.apple_serial_number))"
        " OR (l.apple_serial_number = '' AND EXISTS (SELECT 1 FROM {mirror} m"
        " WHERE m.vpp_token_id = %(token)s AND m.client_user_id <> ''"
        " AND m.client_user_id = l.apple_client_user_id AND m.app_id = l.app_id)"
        " AND NOT EXISTS (SELECT 1 FROM {vppuser} v WHERE v.vpp_token_id = %(token)s"
        " AND v.client_user_id = l.apple_client_user_id))))"
    ),
}


def untracked_refresh_from_mirror(*, token, batch: int | None = None) -> dict[str, int]:
    """`untracked_refresh` against the mirror a sync keeps, in set-based SQL: no Python object per row, so a
    million assignments cost two statements. With `batch` (SQLite), the work goes in ranges of `batch` mirror
    (then license) ids, each its own short transaction, so no other write waits on it; call it outside any
    transaction then."""
    quote = connection.ops.quote_name
    tables = {
        "mirror": quote(AppleAssignment._meta.db_table),
        "device": quote(Device._meta.db_table),
        "vppuser": quote(VPPUser._meta.db_table),
        "license": quote(License._meta.db_table),
        "app": quote(App._meta.db_table),
    }
    params = {"token": token.pk, "now": timezone.now()}
    created = removed = 0
    with connection.cursor() as cursor:
        # Deleting first: the delete then looks only at the rows that were there, not at those just inserted
        # (which are wanted by construction).
        if batch is None:
            cursor.execute(_UNTRACKED_SQL["delete"].format(lrange="", p="", **tables), params)
            removed = cursor.rowcount
            wanted = _UNTRACKED_SQL["wanted"].format(range="", **tables)
            cursor.execute(_UNTRACKED_SQL["insert"].format(wanted=wanted, **tables), params)
            created = cursor.rowcount
            if connection.vendor == "postgresql" and created >= ANALYZE_AFTER:
                cursor.execute(f"ANALYZE {tables['license']}")  # the next sync plans with the new size
        else:
            for table, key, sql in (("license", "lrange", "delete"), ("mirror", "range", "insert")):
                # From the lowest id, not 0: ids start where the sequence stood (years of rows, tests).
                cursor.execute(f"SELECT COALESCE(MIN(id), 1), COALESCE(MAX(id), 0) FROM {tables[table]}")  # noqa: S608
                first, last = cursor.fetchone()
                column = "m.id" if table == "mirror" else "l.id"
                bounded = f" AND {column} > %(lo)s AND {column} <= %(hi)s"
                wanted = _UNTRACKED_SQL["wanted"].format(range=bounded, **tables)
                # "+" keeps SQLite on the id range instead of an index over every row of the token.
                unary = "+" if connection.vendor == "sqlite" else ""
                text = _UNTRACKED_SQL[sql].format(wanted=wanted, p=unary, **{key: bounded}, **tables)
                for lo in range(first - 1, last, batch):
                    with transaction.atomic():
                        cursor.execute(text, {**params, "lo": lo, "hi": lo + batch})
                        if sql == "insert":
                            created += max(cursor.rowcount, 0)
                        else:
                            removed += max(cursor.rowcount, 0)
                    time.sleep(WRITER_GAP)  # let a waiting writer in before the next batch
    return {"created": created, "removed": removed}


def untracked_refresh_changes(
    *, token, new_from_id: int, gone_table: str, batch: int | None = None
) -> dict[str, int]:
    """`untracked_refresh_from_mirror` for what one sync changed in the mirror only, so that an incremental
    sync costs what changed: the token's mirror rows with an id above `new_from_id` (just inserted) may need
    an untracked license; the rows listed in the temporary table `gone_table` (id, app_id, serial_number,
    client_user_id; just deleted) may leave one behind. Targets that became known in between are left to the
    next full sync's refresh. With `batch` (SQLite) the work goes in short transactions, as there."""
    quote = connection.ops.quote_name
    tables = {
        "mirror": quote(AppleAssignment._meta.db_table),
        "device": quote(Device._meta.db_table),
        "vppuser": quote(VPPUser._meta.db_table),
        "license": quote(License._meta.db_table),
        "app": quote(App._meta.db_table),
    }
    params = {"token": token.pk, "now": timezone.now(), "from": new_from_id}
    gone = quote(gone_table)
    # Driven by the gone rows (through the license's Apple-target index), not by the token's licenses. A gone
    # row's (app, target) is not in the mirror any more: the mirror holds one row per (asset, target).
    delete = (
        "DELETE FROM {license} WHERE id IN (SELECT l.id FROM {gone} g JOIN {license} l ON l.app_id = g.app_id"
        " AND l.apple_serial_number = g.serial_number AND l.apple_client_user_id = g.client_user_id"
        " WHERE l.state = 'untracked' AND l.user_id IS NULL AND l.device_id IS NULL{grange})"
    )
    created = removed = 0
    with connection.cursor() as cursor:
        if batch is None:
            cursor.execute(delete.format(gone=gone, grange="", **tables), params)
            removed = cursor.rowcount
            wanted = _UNTRACKED_SQL["wanted"].format(range=" AND m.id > %(from)s", **tables)
            cursor.execute(_UNTRACKED_SQL["insert"].format(wanted=wanted, **tables), params)
            created = cursor.rowcount
            return {"created": created, "removed": removed}
        cursor.execute(f"SELECT COALESCE(MAX(n), 0) FROM {gone}")  # noqa: S608
        last_gone = cursor.fetchone()[0]
        text = delete.format(gone=gone, grange=" AND g.n > %(lo)s AND g.n <= %(hi)s", **tables)
        for lo in range(0, last_gone, batch):
            with transaction.atomic():
                cursor.execute(text, {**params, "lo": lo, "hi": lo + batch})
                removed += max(cursor.rowcount, 0)
            time.sleep(WRITER_GAP)
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {tables['mirror']}")  # noqa: S608
        last = cursor.fetchone()[0]
        bounded = " AND m.id > %(lo)s AND m.id <= %(hi)s"
        text = _UNTRACKED_SQL["insert"].format(
            wanted=_UNTRACKED_SQL["wanted"].format(range=bounded, **tables), **tables
        )
        for lo in range(new_from_id, last, batch):
            with transaction.atomic():
                cursor.execute(text, {**params, "lo": lo, "hi": lo + batch})
                created += max(cursor.rowcount, 0)
            time.sleep(WRITER_GAP)
    return {"created": created, "removed": removed}


def _repair(token, found: dict) -> list[str]:
    events: list[str] = []
    by_asset: dict = defaultdict(lambda: ([], []))
    for adam, pricing, kind, target, _known in found["untracked"]:
        by_asset[(adam, pricing)][0 if kind == "s" else 1].append(target)
    with client_for(token) as client:
        for (adam, pricing), (serials, cids) in by_asset.items():
            sent = client.disassociate_assets(
                [AssetRef(adam, pricing)], serial_numbers=serials, client_user_ids=cids
            )
            # T9: the untracked rows of unknown targets follow the request (revoking, then revoked).
            rows = list(
                License.objects.filter(
                    app__vpp_token=token,
                    app__adam_id=adam,
                    app__pricing_param=pricing,
                    state=License.State.UNTRACKED,
                )
            )
            events += (
                mark_revoking(rows, license_keys(token, rows), sent) if rows else [e.event_id for e in sent]
            )
    missing = License.objects.filter(pk__in=found["missing"], state=License.State.ASSIGNED)
    app_ids = sorted(set(missing.values_list("app_id", flat=True)))
    for app_id in app_ids:
        with transaction.atomic():
            app = App.objects.select_for_update().get(pk=app_id)
            rows = list(missing.filter(app=app).order_by("id"))
            # They were counted as used; Apple says they are not.
            app_services.counts_move(Counter({app.pk: -len(rows)}))
            app.refresh_from_db()
            available = available_for(app)
            for lic in rows:
                if available is None or available > 0:
                    lic.state, lic.event_id, lic.error, lic.error_number = License.State.PENDING, "", "", None
                    if available is not None:
                        available -= 1
                else:
                    lic.state, lic.error, lic.error_number = License.State.FAILED, NO_LICENSES, None
            License.objects.bulk_update(rows, ["state", "event_id", "error", "error_number"])
        events += request_pending(app=App.objects.select_related("vpp_token").get(pk=app_id))["events"]
    return events


def request_required(token) -> tuple[int, list[str]]:
    """S11: reserve and request a license for every target a Required assignment of `token` reaches that
    holds none (a license lost while an assignment still wanted it). Returns (licenses reserved, event ids).
    """
    reserved = 0
    app_ids: set[int] = set()
    assignments = Assignment.objects.filter(
        app__vpp_token=token, intent=Assignment.Intent.REQUIRED
    ).select_related("app__vpp_token", "group")
    for assignment in assignments:
        targets = targets_for(
            app=assignment.app, group=assignment.group, license_type=assignment.license_type
        )
        counts = reserve(
            app=assignment.app, targets=targets, license_type=assignment.license_type, assignment=assignment
        )
        reserved += counts["reserved"]
        if counts["reserved"]:
            app_ids.add(assignment.app_id)
    events: list[str] = []
    for app in App.objects.filter(pk__in=sorted(app_ids)).select_related("vpp_token"):
        events += request_pending(app=app)["events"]
    return reserved, events


def run_reconcile(run: LicenseRun) -> LicenseRun:
    """Compare (and with summary.repair, fix); the run's summary lists the drift for the page.

    Raises RunFailed when the token cannot be used; an AppleError fails the run through the runner."""
    runs.progress(run, 5)
    token = run.vpp_token
    if not token.is_usable:
        raise runs.RunFailed(f"The VPP token cannot be used: {token.get_state_display()}.")
    repair = bool((run.summary or {}).get("repair"))
    allocate_required = bool((run.summary or {}).get("allocate_required"))
    required = 0
    at_apple = apple_assignments(token)
    untracked_refresh(token=token, at_apple=at_apple)
    found = drift(token, at_apple)
    events = _repair(token, found) if repair else []
    if repair or allocate_required:
        required, required_events = request_required(token)
        events += required_events
    run.total = len(found["untracked"]) + len(found["missing"])
    run.summary = {
        "repair": repair,
        "allocate_required": allocate_required,
        "required_requested": required,
        "untracked_count": len(found["untracked"]),
        "untracked_unknown_count": sum(1 for i in found["untracked"] if not i[4]),
        "missing_count": len(found["missing"]),
        "untracked": [list(i) for i in found["untracked"][:SHOWN]],
        "missing": found["missing"][:SHOWN],
        "events": events,
    }
    run.counts = {
        "untracked_count": len(found["untracked"]),
        "missing_count": len(found["missing"]),
        "required_requested": required,
    }
    if not repair:
        run.skipped = run.total  # drift found and reported, nothing changed
    run.save(update_fields=["total", "skipped", "summary", "counts"])
    runs.progress(run, 50)
    return run
