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

import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from apps import services as app_services
from apps.models import App, AppleAssignment
from apps.staging import ANALYZE_AFTER, STAGE, WRITER_GAP
from assignments.allocation import NO_LICENSES, available_for, request_pending, reserve, targets_for
from assignments.events import license_keys, mark_revoking
from assignments.models import Assignment, License, LicenseRun, VPPUser
from console import runs
from directory.models import Device
from tokens.apple import client_for
from vpp.types import AssetRef

SHOWN = 200  # drift items kept in a run's summary for the page


APPLE_NOW = "vpp_reconcile_apple"  # temporary tables of the comparing connection
OURS = "vpp_reconcile_ours"
UNTRACKED = "vpp_reconcile_untracked"


def sql_tables() -> dict[str, str]:
    """The quoted tables the set-based SQL of reconciliation and revocation names, and this module's
    temporary tables."""
    quote = connection.ops.quote_name
    return {
        "mirror": quote(AppleAssignment._meta.db_table),
        "device": quote(Device._meta.db_table),
        "vppuser": quote(VPPUser._meta.db_table),
        "license": quote(License._meta.db_table),
        "app": quote(App._meta.db_table),
        "apple": APPLE_NOW,
        "ours": OURS,
        "untracked": UNTRACKED,
    }


def _drop(cursor, *tables: str) -> None:
    for table in tables:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


@contextmanager
def apple_now(token) -> Iterator[str]:
    """Apple's assignments of `token`, read fresh (`GET assignments`, so the comparison does not depend on
    when the last sync ran), in a temporary table of this database connection: yields its name. Columns as the
    mirror's (vpp_token_id, app_id — NULL for an asset the catalogue lacks —, adam_id, pricing_param,
    serial_number, client_user_id), one row per assignment. The read streams through a spool file into the
    mirror's staging (`MirrorStage.load`), so a location of a million assignments holds no Python object per
    assignment; the comparisons below are set-based SQL."""
    t = sql_tables()
    with tempfile.TemporaryFile("w+", encoding="utf-8", prefix="vpp-reconcile-") as spool:
        with client_for(token) as client:
            app_services.spool_rows(client.iter_assignment_rows(), spool)
        try:
            with app_services.MirrorStage(token) as stage, connection.cursor() as cursor:
                stage.load(spool)
                _drop(cursor, APPLE_NOW)
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {APPLE_NOW} AS SELECT DISTINCT"  # noqa: S608
                    " CAST(%s AS integer) AS vpp_token_id, a.id AS app_id, s.adam_id, s.pricing_param,"
                    f" s.serial_number, s.client_user_id FROM {STAGE} s LEFT JOIN {t['app']} a"
                    " ON a.vpp_token_id = %s AND a.adam_id = s.adam_id AND a.pricing_param = s.pricing_param",
                    [token.pk, token.pk],
                )
                cursor.execute(f"CREATE INDEX {APPLE_NOW}_s ON {APPLE_NOW} (serial_number, adam_id)")
                cursor.execute(f"CREATE INDEX {APPLE_NOW}_u ON {APPLE_NOW} (client_user_id, adam_id)")
                if connection.vendor == "postgresql":
                    cursor.execute(f"ANALYZE {APPLE_NOW}")
            yield APPLE_NOW
        finally:
            with connection.cursor() as cursor:
                _drop(cursor, APPLE_NOW, OURS, UNTRACKED)


@dataclass
class Drift:
    """What Apple holds that we do not (untracked) and what we think is assigned that Apple lacks (missing).
    The untracked items themselves stay in the temporary table `UNTRACKED` for the repair
    (`_untracked_by_asset`); `untracked_shown` holds the first SHOWN of them, as (adam_id, pricing_param,
    "s"/"u", target, known)."""

    untracked_count: int
    untracked_unknown_count: int
    untracked_shown: list[tuple[str, str, str, str, bool]]
    missing: list[int]


_OURS_SQL = (
    # Our licenses that should be at Apple, keyed as Apple lists them: a device license by its device's serial
    # number, a user license by the client user id of the user's (not retired) Apple user on this token.
    "CREATE TEMPORARY TABLE {ours} AS SELECT l.id, l.state, a.adam_id, a.pricing_param,"
    " CASE WHEN l.license_type = 'device' AND d.id IS NOT NULL THEN 's' ELSE 'u' END AS kind,"
    " CASE WHEN l.license_type = 'device' AND d.id IS NOT NULL THEN d.serial_number ELSE v.client_user_id END"
    " AS target FROM {license} l JOIN {app} a ON a.id = l.app_id LEFT JOIN {device} d ON d.id = l.device_id"
    " LEFT JOIN {vppuser} v ON v.user_id = l.user_id AND v.vpp_token_id = %(token)s"
    " AND v.status <> %(retired)s"
    " WHERE a.vpp_token_id = %(token)s AND l.state IN ('assigned', 'pending', 'revoking')"
    " AND ((l.license_type = 'device' AND d.id IS NOT NULL) OR v.id IS NOT NULL)"
)
_UNTRACKED_DRIFT_SQL = (
    "CREATE TEMPORARY TABLE {untracked} AS SELECT n.adam_id, n.pricing_param, n.kind, n.target,"
    " CASE WHEN n.kind = 's' THEN (SELECT COUNT(*) FROM {device} d WHERE d.serial_number = n.target)"
    " ELSE (SELECT COUNT(*) FROM {vppuser} v WHERE v.vpp_token_id = %(token)s"
    " AND v.client_user_id = n.target)"
    " END AS known FROM (SELECT adam_id, pricing_param, 's' AS kind, serial_number AS target FROM {apple}"
    " WHERE serial_number <> '' UNION SELECT adam_id, pricing_param, 'u', client_user_id FROM {apple}"
    " WHERE client_user_id <> '') n WHERE NOT EXISTS (SELECT 1 FROM {ours} o WHERE o.adam_id = n.adam_id"
    " AND o.pricing_param = n.pricing_param AND o.kind = n.kind AND o.target = n.target)"
)
_MISSING_SQL = (
    "SELECT o.id FROM {ours} o WHERE o.state = 'assigned'"
    " AND NOT (o.kind = 's' AND EXISTS (SELECT 1 FROM {apple} n WHERE n.serial_number = o.target"
    " AND n.adam_id = o.adam_id AND n.pricing_param = o.pricing_param))"
    " AND NOT (o.kind = 'u' AND EXISTS (SELECT 1 FROM {apple} n WHERE n.client_user_id = o.target"
    " AND n.adam_id = o.adam_id AND n.pricing_param = o.pricing_param)) ORDER BY o.id"
)


def _in_order(*columns: str) -> str:
    """ORDER BY in code-point order on every database (PostgreSQL's default collation sorts otherwise)."""
    collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    return " ORDER BY " + ", ".join(f"{column}{collate}" for column in columns)


def drift(token, apple: str) -> Drift:
    """Compare Apple's assignments in the table `apple` (`apple_now`) with our licenses, in SQL."""
    t = {**sql_tables(), "apple": apple}
    params = {"token": token.pk, "retired": VPPUser.Status.RETIRED}
    with connection.cursor() as cursor:
        _drop(cursor, OURS, UNTRACKED)
        cursor.execute(_OURS_SQL.format(**t), params)
        cursor.execute(f"CREATE INDEX {OURS}_key ON {OURS} (target, adam_id, pricing_param, kind)")
        cursor.execute(_UNTRACKED_DRIFT_SQL.format(**t), params)
        cursor.execute(f"CREATE INDEX {UNTRACKED}_asset ON {UNTRACKED} (adam_id, pricing_param)")
        cursor.execute(
            f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN known = 0 THEN 1 ELSE 0 END), 0) FROM {UNTRACKED}"  # noqa: S608
        )
        untracked_count, unknown_count = cursor.fetchone()
        cursor.execute(
            f"SELECT adam_id, pricing_param, kind, target, known FROM {UNTRACKED}"  # noqa: S608
            + _in_order("adam_id", "pricing_param", "kind", "target")
            + f" LIMIT {SHOWN}"
        )
        shown = [(adam, pricing, kind, target, bool(known)) for adam, pricing, kind, target, known in cursor]
        cursor.execute(_MISSING_SQL.format(**t))
        missing = [pk for (pk,) in cursor.fetchall()]
    return Drift(int(untracked_count), int(unknown_count), shown, missing)


def _untracked_by_asset() -> Iterator[tuple[str, str, list[str], list[str]]]:
    """The untracked items of the last `drift`, one asset at a time: (adam_id, pricing_param, serial numbers,
    client user ids). Only one asset's targets are in memory at once."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT adam_id, pricing_param FROM {UNTRACKED} GROUP BY adam_id, pricing_param"  # noqa: S608
            + _in_order("adam_id", "pricing_param")
        )
        assets = cursor.fetchall()
    for adam_id, pricing_param in assets:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT kind, target FROM {UNTRACKED} WHERE adam_id = %s AND pricing_param = %s"  # noqa: S608
                + _in_order("kind", "target"),
                [adam_id, pricing_param],
            )
            rows = cursor.fetchall()
        yield (
            adam_id,
            pricing_param,
            [target for kind, target in rows if kind == "s"],
            [target for kind, target in rows if kind == "u"],
        )


def untracked_refresh(*, token, source: str | None = None) -> dict[str, int]:
    """T9: make the untracked License rows of `token` match what Apple holds for targets we do not know.

    Apple's assignments come from the table `source` (`apple_now`: read fresh by a reconciliation), by default
    the mirror a sync keeps. A row appears for each (app, unknown serial number or client user id) at Apple,
    and an untracked row disappears when Apple no longer holds it or its target became known (a Device with
    that serial number, a VPPUser with that client user id). Rows being revoked are left to their Apple event.
    Returns {"created": n, "removed": n}.
    """
    with transaction.atomic():
        return untracked_refresh_from_mirror(token=token, source=source)


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


def untracked_refresh_from_mirror(
    *, token, batch: int | None = None, source: str | None = None
) -> dict[str, int]:
    """`untracked_refresh` against the mirror a sync keeps, in set-based SQL: no Python object per row, so a
    million assignments cost two statements. With `batch` (SQLite), the work goes in ranges of `batch` mirror
    (then license) ids, each its own short transaction, so no other write waits on it; call it outside any
    transaction then. `source` names a table of the mirror's columns to read instead of the mirror
    (`apple_now`)."""
    tables = sql_tables()
    if source is not None:
        tables["mirror"] = source
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
    tables = sql_tables()
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


def _repair(token, found: Drift) -> list[str]:
    events: list[str] = []
    with client_for(token) as client:
        for adam, pricing, serials, cids in _untracked_by_asset():
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
    missing = License.objects.filter(pk__in=found.missing, state=License.State.ASSIGNED)
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
    with apple_now(token) as apple:
        untracked_refresh(token=token, source=apple)
        found = drift(token, apple)
        events = _repair(token, found) if repair else []
    if repair or allocate_required:
        required, required_events = request_required(token)
        events += required_events
    run.total = found.untracked_count + len(found.missing)
    run.summary = {
        "repair": repair,
        "allocate_required": allocate_required,
        "required_requested": required,
        "untracked_count": found.untracked_count,
        "untracked_unknown_count": found.untracked_unknown_count,
        "missing_count": len(found.missing),
        "untracked": [list(i) for i in found.untracked_shown],
        "missing": found.missing[:SHOWN],
        "events": events,
    }
    run.counts = {
        "untracked_count": found.untracked_count,
        "missing_count": len(found.missing),
        "required_requested": required,
    }
    if not repair:
        run.skipped = run.total  # drift found and reported, nothing changed
    run.save(update_fields=["total", "skipped", "summary", "counts"])
    runs.progress(run, 50)
    return run
