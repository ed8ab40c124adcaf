"""The sync's write of the Apple-assignment mirror: stage Apple's assignments beside it, then switch.

One design for both databases. While Apple is read, its assignments go to a spool file (one line each, in
PostgreSQL's COPY text format); the spool is loaded into a temporary staging table of the sync's own database
connection (invisible to everyone else, so loading it never holds up another write): with one streamed COPY
on PostgreSQL, in bounded batches on SQLite. The difference between the stage and the mirror is then applied
with set-based SQL (INSERT … WHERE NOT EXISTS … ON CONFLICT DO NOTHING, DELETE … WHERE NOT EXISTS), so a row
Apple did not change is never written and no per-row Python object exists for the whole location:

- PostgreSQL (`batched=False`): `switch` runs inside the caller's single transaction, so a failure anywhere
  leaves the previous mirror untouched;
- SQLite (`batched=True`): the difference is computed first (reads only) and written in batches of
  `SWITCH_BATCH` rows, each its own short transaction, so no other write waits on the sync for more than a
  fraction of a second (SQLite has one writer at a time). A failure part-way leaves some of Apple's changes
  applied (each row then is what Apple holds) and the token's versions unadvanced: the next sync finishes it.

SQL here names only this module's constants and the models' tables; every value is a bound parameter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import IO

from django.db import connection, transaction
from django.utils import timezone

from apps.models import App, AppleAssignment
from vpp.types import AssignmentRow

STAGE = "vpp_mirror_stage"
STAGE_NEW = "vpp_mirror_stage_new"
STAGE_GONE = "vpp_mirror_stage_gone"
STAGE_SWEPT = "vpp_mirror_stage_swept"
STAGE_ASSETS = "vpp_mirror_stage_assets"
LOAD_BATCH = 5000
ANALYZE_AFTER = 10_000  # rows changed by a switch beyond which the mirror's statistics are refreshed
SWITCH_BATCH = 1000
# SQLite's busy handler retries a waiting writer every 100 ms at most: a pause that long between two batches
# lets it in, instead of the next batch taking the lock again at once.
WRITER_GAP = 0.1
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_UNESCAPES = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}


def stage_line(row: AssignmentRow) -> str:
    """One spool line for an assignment row (PostgreSQL's COPY text format: tab-separated, backslash-escaped).

    Apple's identifiers hardly ever hold a tab, a line break or a backslash: the line is joined as it is and
    escaped field by field only when one of them does (a million rows per full sync)."""
    line = "\t".join(row)
    if line.count("\t") == 3 and "\\" not in line and "\n" not in line and "\r" not in line:
        return line + "\n"
    return "\t".join(value.translate(_COPY_ESCAPES) for value in row) + "\n"


SPOOL_BATCH = 5000  # spool lines written (and the progress callback called) at a time


def spool_rows(paged, spool: IO[str], *, on_batch: Callable[[int], None] | None = None) -> int:
    """Write every row of a paged walk of `AssignmentRow`s (`VPPClient.iter_assignment_rows`) to `spool` as
    `stage_line`s, from where the spool is; a restarted walk (versionId changed) rewinds it there. Lines go
    out SPOOL_BATCH at a time (a million per full read), `on_batch(rows so far)` after each. Returns the
    rows written."""
    origin = spool.tell()
    count = 0
    restarts = 0
    lines: list[str] = []
    for row in paged:
        if paged.restarts != restarts:  # the walk started over: so does what it wrote
            restarts = paged.restarts
            spool.seek(origin)
            spool.truncate()
            lines.clear()
            count = 0
        lines.append(stage_line(row))
        if len(lines) >= SPOOL_BATCH:
            spool.write("".join(lines))
            count += len(lines)
            lines.clear()
            if on_batch is not None:
                on_batch(count)
    spool.write("".join(lines))
    count += len(lines)
    spool.flush()
    return count


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        pair = value[i : i + 2]
        if pair in _COPY_UNESCAPES:
            out.append(_COPY_UNESCAPES[pair])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _mirror_table() -> str:
    return connection.ops.quote_name(AppleAssignment._meta.db_table)


def _app_table() -> str:
    return connection.ops.quote_name(App._meta.db_table)


INSERT_CHUNK = 400  # (serial number, client user id) pairs per INSERT of `insert_rows`


def insert_rows(*, token_id: int, app_id: int | None, adam_id: str, pricing_param: str, targets) -> int:
    """Insert mirror rows of one asset, `targets` being (serial number, client user id) pairs; how many were
    new. One `INSERT … SELECT … WHERE NOT EXISTS … ON CONFLICT DO NOTHING RETURNING` per few hundred rows
    (both databases): a row already there counts 0, exactly, also when another transaction inserted it
    meanwhile, and takes no id from the sequence (a sweep walks the ids in ranges)."""
    rows = sorted(set(targets))
    mirror, now, added = _mirror_table(), timezone.now(), 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            values = ", ".join(["(%s, %s)"] * len(chunk))
            params: list = [token_id, app_id, adam_id, pricing_param, now]
            for pair in chunk:
                params += pair
            params += [token_id, adam_id, pricing_param]
            cursor.execute(
                f"INSERT INTO {mirror} (vpp_token_id, app_id, adam_id, pricing_param, updated_at,"
                " serial_number, client_user_id) SELECT %s, %s, %s, %s, %s, v.column1, v.column2"
                f" FROM (VALUES {values}) v WHERE NOT EXISTS (SELECT 1 FROM {mirror} m"
                " WHERE m.vpp_token_id = %s AND m.adam_id = %s AND m.pricing_param = %s"
                " AND m.serial_number = v.column1 AND m.client_user_id = v.column2)"
                " ON CONFLICT (vpp_token_id, adam_id, pricing_param, serial_number, client_user_id)"
                " DO NOTHING RETURNING id",
                params,
            )
            added += len(cursor.fetchall())
    return added


_SAME_ROW = (
    "m.vpp_token_id = %s AND m.adam_id = s.adam_id AND m.pricing_param = s.pricing_param"
    " AND m.serial_number = s.serial_number AND m.client_user_id = s.client_user_id"
)


class MirrorStage:
    """Apple's assignments read by one sync, staged on the sync's connection until `switch` applies them.

    Use as a context manager (the temporary tables are dropped on exit). `batched` defaults to True on SQLite
    and False elsewhere; tests pass it to compare both paths on one database.
    """

    def __init__(self, token, *, batched: bool | None = None) -> None:
        self.token = token
        self.batched = connection.vendor != "postgresql" if batched is None else batched
        self.staged = 0
        self.full = False  # every mirror row of the token not staged goes
        self.swept: set[str] = set()  # … or only those of these adamIds
        self.inserted = 0
        self.deleted = 0
        # After `switch`: the mirror rows it inserted are the token's rows with an id above `new_from_id`; the
        # ones it deleted are listed in the STAGE_GONE table (id, app_id, serial_number, client_user_id) until
        # the stage is closed; `relinked` rows got their app only now (their app came after them).
        self.new_from_id = 0
        self.relinked = 0

    def __enter__(self) -> MirrorStage:
        self._drop()
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE {STAGE} (adam_id varchar(32) NOT NULL, pricing_param varchar(8)"
                " NOT NULL, serial_number varchar(64) NOT NULL, client_user_id varchar(256) NOT NULL)"
            )
            cursor.execute(f"CREATE TEMPORARY TABLE {STAGE_SWEPT} (adam_id varchar(32) PRIMARY KEY)")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._drop()

    def _drop(self) -> None:
        with connection.cursor() as cursor:
            for table in (STAGE, STAGE_NEW, STAGE_GONE, STAGE_SWEPT, STAGE_ASSETS):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")

    # -- staging --------------------------------------------------------------------------------------------

    def load(self, spool: IO[str]) -> int:
        """Stage every line of `spool` (written with `stage_line`); returns how many."""
        spool.flush()
        spool.seek(0)
        count = 0
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                columns = "adam_id, pricing_param, serial_number, client_user_id"
                with cursor.cursor.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as copy:
                    while chunk := spool.read(1 << 20):
                        count += chunk.count("\n")
                        copy.write(chunk)
            else:
                batch: list[list[str]] = []
                for line in spool:
                    batch.append([_unescape(v) for v in line.rstrip("\n").split("\t")])
                    if len(batch) >= LOAD_BATCH:
                        count += self._insert_stage(cursor, batch)
                if batch:
                    count += self._insert_stage(cursor, batch)
        self.staged += count
        return count

    @staticmethod
    def _insert_stage(cursor, batch: list[list[str]]) -> int:
        # Autocommit, not a transaction: a transaction would take SQLite's write lock on the database, while
        # these statements write only the connection's own temporary table.
        cursor.executemany(f"INSERT INTO {STAGE} VALUES (%s, %s, %s, %s)", batch)
        n = len(batch)
        batch.clear()
        return n

    def sweep(self, adam_ids: Iterable[str] | None = None) -> None:
        """After the switch, mirror rows not staged go: all of the token's (None) or those of `adam_ids`."""
        if adam_ids is None:
            self.full = True
            return
        new = set(adam_ids) - self.swept
        if new:
            with connection.cursor() as cursor, transaction.atomic():
                cursor.executemany(f"INSERT INTO {STAGE_SWEPT} VALUES (%s)", [[a] for a in sorted(new)])
            self.swept |= new

    def _analyze(self) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"ANALYZE {STAGE}")
            else:
                cursor.execute(
                    f"CREATE INDEX IF NOT EXISTS {STAGE}_key ON {STAGE}"
                    " (adam_id, pricing_param, serial_number, client_user_id)"
                )

    def counts_after(self, adam_ids: Iterable[str] | None = None) -> dict[tuple[str, str], int]:
        """Mirror rows per (adamId, pricingParam) once the stage is applied without sweeping: one GROUP BY
        over the mirror (only the assets `adam_ids` and the staged ones when given) plus the staged rows it
        lacks. Compared with Apple's `assignedCount`, a difference shows removals an incremental read cannot
        carry (Apple's deltas have no tombstones)."""
        self._analyze()
        counts: dict[tuple[str, str], int] = {}
        with connection.cursor() as cursor:
            only, params = "", [self.token.pk]
            if adam_ids is not None:
                cursor.execute(f"DROP TABLE IF EXISTS {STAGE_ASSETS}")
                cursor.execute(f"CREATE TEMPORARY TABLE {STAGE_ASSETS} (adam_id varchar(32) PRIMARY KEY)")
                cursor.execute(f"INSERT INTO {STAGE_ASSETS} SELECT DISTINCT adam_id FROM {STAGE}")
                cursor.executemany(
                    f"INSERT INTO {STAGE_ASSETS} VALUES (%s) ON CONFLICT DO NOTHING",
                    [[a] for a in sorted(set(adam_ids))],
                )
                only = f" AND adam_id IN (SELECT adam_id FROM {STAGE_ASSETS})"
            cursor.execute(
                f"SELECT adam_id, pricing_param, COUNT(*) FROM {_mirror_table()} WHERE vpp_token_id = %s"
                f"{only} GROUP BY adam_id, pricing_param",
                params,
            )
            for adam_id, pricing_param, n in cursor.fetchall():
                counts[(adam_id, pricing_param)] = n
            cursor.execute(
                "SELECT adam_id, pricing_param, COUNT(*) FROM (SELECT DISTINCT s.adam_id, s.pricing_param,"
                f" s.serial_number, s.client_user_id FROM {STAGE} s WHERE NOT EXISTS (SELECT 1 FROM"
                f" {_mirror_table()} m WHERE {_SAME_ROW})) d GROUP BY adam_id, pricing_param",
                [self.token.pk],
            )
            for adam_id, pricing_param, n in cursor.fetchall():
                counts[(adam_id, pricing_param)] = counts.get((adam_id, pricing_param), 0) + n
        return counts

    # -- switching ------------------------------------------------------------------------------------------

    def _sweep_clause(self) -> str:
        if self.full:
            return ""
        return f" AND m.adam_id IN (SELECT adam_id FROM {STAGE_SWEPT})"

    def switch(self) -> tuple[int, int]:
        """Apply the stage to the mirror: rows Apple added are inserted, rows gone from a swept asset deleted.

        Not batched (PostgreSQL): call inside the sync's transaction. Batched (SQLite): call outside any
        transaction; every batch commits on its own. Returns (inserted, deleted)."""
        self._analyze()
        token_id, now = self.token.pk, timezone.now()
        mirror, apps = _mirror_table(), _app_table()
        # DISTINCT only where the rows are numbered into batches: one INSERT … ON CONFLICT DO NOTHING already
        # takes a row Apple repeated once (and sorting a million rows for it costs seconds).
        new_rows = (
            f"SELECT{' DISTINCT' if self.batched else ''} s.adam_id, s.pricing_param, s.serial_number,"
            f" s.client_user_id FROM {STAGE} s WHERE NOT EXISTS (SELECT 1 FROM {mirror} m WHERE {_SAME_ROW})"
        )
        insert = (
            f"INSERT INTO {mirror} (vpp_token_id, app_id, adam_id, pricing_param, serial_number,"
            " client_user_id, updated_at) SELECT %s, a.id, n.adam_id, n.pricing_param, n.serial_number,"
            " n.client_user_id, %s FROM {source} n LEFT JOIN "
            f"{apps} a ON a.vpp_token_id = %s AND a.adam_id = n.adam_id AND a.pricing_param = n.pricing_param"
            " {where} ON CONFLICT (vpp_token_id, adam_id, pricing_param, serial_number, client_user_id)"
            " DO NOTHING"
        )
        gone_rows = (
            f"SELECT m.id, m.app_id, m.serial_number, m.client_user_id FROM {mirror} m"
            f" WHERE m.vpp_token_id = %s{self._sweep_clause()} AND NOT EXISTS"
            f" (SELECT 1 FROM {STAGE} s WHERE s.adam_id = m.adam_id AND s.pricing_param = m.pricing_param"
            " AND s.serial_number = m.serial_number AND s.client_user_id = m.client_user_id)"
        )
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {mirror}")
            self.new_from_id = cursor.fetchone()[0]
            # What goes is listed first (few rows unless Apple removed much), for the untracked licenses.
            cursor.execute(
                f"CREATE TEMPORARY TABLE {STAGE_GONE} AS SELECT ROW_NUMBER() OVER () AS n, d.*"
                f" FROM ({gone_rows}) d",
                [token_id],
            )
            if connection.vendor == "postgresql":
                cursor.execute(f"ANALYZE {STAGE_GONE}")
            if not self.batched:
                cursor.execute(
                    insert.format(source=f"({new_rows})", where="WHERE true"),
                    [token_id, now, token_id, token_id],
                )
                self.inserted = cursor.rowcount
                cursor.execute(f"DELETE FROM {mirror} WHERE id IN (SELECT id FROM {STAGE_GONE})")
                self.deleted = cursor.rowcount
            else:
                # Numbered, so that each batch is a range of the difference.
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {STAGE_NEW} AS SELECT ROW_NUMBER() OVER () AS n, d.*"
                    f" FROM ({new_rows}) d",
                    [token_id],
                )
                self.inserted = self._in_batches(
                    cursor,
                    STAGE_NEW,
                    insert.format(source=STAGE_NEW, where="WHERE n.n > %s AND n.n <= %s"),
                    [token_id, now, token_id],
                )
                self.deleted = self._in_batches(
                    cursor,
                    STAGE_GONE,
                    f"DELETE FROM {mirror} WHERE id IN (SELECT id FROM {STAGE_GONE} g"
                    " WHERE g.n > %s AND g.n <= %s)",
                    [],
                )
            if connection.vendor == "postgresql" and self.inserted + self.deleted >= ANALYZE_AFTER:
                # What follows in this transaction (relinking, untracked licenses) reads the mirror: plan it
                # with its new size, not with statistics from before a million rows came in.
                cursor.execute(f"ANALYZE {mirror}")
            # Rows staged before their app existed (or whose app came back) point at it now.
            with transaction.atomic():
                cursor.execute(
                    f"UPDATE {mirror} SET app_id = (SELECT a.id FROM {apps} a WHERE a.vpp_token_id ="
                    f" {mirror}.vpp_token_id AND a.adam_id = {mirror}.adam_id AND a.pricing_param ="
                    f" {mirror}.pricing_param) WHERE vpp_token_id = %s AND app_id IS NULL"
                    f" AND EXISTS (SELECT 1 FROM {apps} a WHERE a.vpp_token_id = {mirror}.vpp_token_id"
                    f" AND a.adam_id = {mirror}.adam_id AND a.pricing_param = {mirror}.pricing_param)",
                    [token_id],
                )
                self.relinked = max(cursor.rowcount, 0)
        return self.inserted, self.deleted

    @staticmethod
    def _in_batches(cursor, table: str, sql: str, params: list) -> int:
        cursor.execute(f"SELECT COALESCE(MAX(n), 0) FROM {table}")
        last = cursor.fetchone()[0]
        done = 0
        for start in range(0, last, SWITCH_BATCH):
            with transaction.atomic():
                cursor.execute(sql, [*params, start, start + SWITCH_BATCH])
                done += max(cursor.rowcount, 0)
            time.sleep(WRITER_GAP)
        return done
