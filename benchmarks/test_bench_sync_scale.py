"""The sync's write at scale (issue 13), on whatever DATABASE_URL says: a first full sync against its floor
measured in the same run (the same rows loaded straight into a table shaped like the mirror: COPY on
PostgreSQL, one executemany transaction on SQLite), the growth of peak RSS during the sync, an incremental
sync after 1 % of the assignments changed at Apple, and the Apple requests and rate-limit waiting each run
reported. Sizes: BENCH_SCALE_ASSETS, BENCH_SCALE_ASSIGNMENTS, BENCH_SCALE_USERS (small defaults).

Apple is played by the simulator in a process of its own (`manage.py run_apple_simulator`), as real Apple is
remote: the sync still makes every HTTP read, without sharing this process's interpreter lock (and memory)
with the server answering them.

    make bench PYTEST_ARGS="-k sync_scale -s"   (or: pytest benchmarks/test_bench_sync_scale.py -s)
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction

from applesync.sync import run_sync
from apps.models import AppleAssignment
from console.models import AuditEntry
from tests import factories
from tokens.apple import client_for
from tokens.models import SyncRun
from tokens.sync import request_sync
from vpp.simulator.control import SimulatorControl

pytestmark = pytest.mark.django_db(transaction=True)

ASSETS = int(os.environ.get("BENCH_SCALE_ASSETS", "200"))
ASSIGNMENTS = int(os.environ.get("BENCH_SCALE_ASSIGNMENTS", "50000"))
USERS = int(os.environ.get("BENCH_SCALE_USERS", "1000"))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    """The process's resident memory now (Linux), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _RssSampler(threading.Thread):
    """The highest resident memory seen while running (every 0.1 s): the process's peak during one sync, which
    `ru_maxrss` cannot tell once the in-process simulator's generation has peaked higher."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _current_rss_mb()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.1):
            self.peak = max(self.peak, _current_rss_mb())

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return max(self.peak, _current_rss_mb())


@contextmanager
def _simulator_process() -> Iterator[SimulatorControl]:
    """The Apple simulator served by another process on a free loopback port (pages of 1,000, the test
    settings' request rate), driven through its control API; stopped after."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="vpp-sim-") as tmp:
        command = [
            sys.executable,
            "manage.py",
            "run_apple_simulator",
            "--fixture",
            "empty",
            "--port",
            str(port),
        ]
        command += ["--page-size", "1000", "--event-delay", "0.05", "--max-request-per-second", "1000"]
        command += [
            "--key-file",
            str(Path(tmp) / "simulator.key"),
            "--quiet",
            "--allow-insecure-notification-urls",
        ]
        server = subprocess.Popen(command, cwd=django_settings.BASE_DIR, stdout=subprocess.DEVNULL)
        try:
            control = SimulatorControl(f"http://127.0.0.1:{port}", timeout=600)
            deadline = time.monotonic() + 60
            while not control.ping():
                assert server.poll() is None and time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.2)
            yield control
        finally:
            server.terminate()
            server.wait(60)


class _RefreshStart:
    """When the untracked-license refresh (the first statement writing `'untracked'` rows) started: the
    sync's time splits there into reading and saving the mirror, and the refresh after its commit."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self, execute, sql, params, many, context):
        if self.at is None and "'untracked'" in sql:
            self.at = time.time()  # wall clock, like the run's started_at and finished_at
        return execute(sql, params, many, context)


def _costs(run) -> dict:
    return AuditEntry.objects.get(action="sync.complete", object_id=str(run.pk)).after


def _floor(token) -> float:
    """Load the mirror's rows into an empty copy of the mirror's own table (`LIKE … INCLUDING ALL`: the same
    columns, defaults, primary key, unique key and indexes), the fastest way the database has, and commit:
    the floor the sync's write is compared with."""
    mirror = connection.ops.quote_name(AppleAssignment._meta.db_table)
    columns = [
        "vpp_token_id",
        "app_id",
        "adam_id",
        "pricing_param",
        "serial_number",
        "client_user_id",
        "updated_at",
    ]
    rows = AppleAssignment.objects.filter(vpp_token=token).values_list(*columns).iterator(chunk_size=10_000)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool, connection.cursor() as cursor:
        # Streamed to the spool: the floor's own reading must not raise the process's peak memory.
        spool.writelines("\t".join("\\N" if v is None else str(v) for v in row) + "\n" for row in rows)
        cursor.execute("DROP TABLE IF EXISTS bench_floor")
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TABLE bench_floor (LIKE {mirror} INCLUDING ALL)")
        else:  # SQLite has no LIKE: the mirror's own statement under another name, then its indexes
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = %s AND sql IS NOT NULL ORDER BY type DESC",
                [AppleAssignment._meta.db_table],
            )
            for (sql,) in cursor.fetchall():
                cursor.execute(
                    sql.replace(AppleAssignment._meta.db_table, "bench_floor").replace(
                        'INDEX "', 'INDEX "bench_floor_'
                    )
                )
        spool.seek(0)
        started = time.monotonic()
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY bench_floor ({', '.join(columns)}) FROM STDIN") as copy:
                    while chunk := spool.read(1 << 20):
                        copy.write(chunk)
            else:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(
                    f"INSERT INTO bench_floor ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    [
                        tuple(None if v == "\\N" else v for v in line.rstrip("\n").split("\t"))
                        for line in spool
                    ],
                )
        took = time.monotonic() - started
        cursor.execute("DROP TABLE bench_floor")
    return took


def test_bench_sync_scale_full_vs_floor_and_incremental(benchmark, settings):
    with _simulator_process() as simulator:
        settings.APPLE_VPP_BASE_URL = simulator.base_url
        content = simulator.generate_location(
            org_name="Bench", location_name="Scale", assets=ASSETS, assignments=ASSIGNMENTS, users=USERS
        )
        (uid,) = [loc["uId"] for loc in simulator.locations() if loc["locationName"] == "Scale"]
        token = factories.VPPTokenFactory(token_content=content, location_uid=uid)
        simulator.set_mdm_info(uid, id=str(token.mdm_info_id), name="VPP Console", metadata="bench")

        rss_before = _rss_mb()
        resident_before = _current_rss_mb()
        sampler = _RssSampler()
        sampler.start()
        started = time.monotonic()

        def full_sync() -> SyncRun:
            queued, _ = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, full=True)
            return run_sync(run_id=queued.pk)

        refresh = _RefreshStart()
        with connection.execute_wrapper(refresh):
            run = benchmark.pedantic(
                full_sync, rounds=1, iterations=1
            )  # so `make bench` (--benchmark-only) runs it
        full_seconds = time.monotonic() - started
        # The run's own duration, as its page shows it; what follows it in the same thread (alerts evaluated
        # on the run's end: a generated location opens an alert per exhausted app) is reported beside it.
        run_seconds = (run.finished_at - run.started_at).total_seconds()
        assert refresh.at is not None  # every target of a generated location is unknown: untracked rows
        mirror_seconds = refresh.at - run.started_at.timestamp()
        untracked_seconds = run.finished_at.timestamp() - refresh.at
        resident_peak = sampler.stop()
        rss_growth = _rss_mb() - rss_before
        assert run.status == "completed", run.error
        assert AppleAssignment.objects.filter(vpp_token=token).count() == ASSIGNMENTS
        full_costs = _costs(run)
        floor = _floor(token)

        # 1 % of the assignments change at Apple: half removed, half added (not through our allocation).
        changed = max(2, ASSIGNMENTS // 100)
        victims = list(
            AppleAssignment.objects.filter(vpp_token=token)
            .exclude(serial_number="")
            .order_by("serial_number")  # spread over many assets: each one with a removal is read again
            .values_list("adam_id", "serial_number")[: changed // 2]
        )
        with client_for(token) as client:
            by_asset: dict[str, list[str]] = {}
            for adam_id, serial in victims:
                by_asset.setdefault(adam_id, []).append(serial)
            for adam_id, serials in by_asset.items():
                client.disassociate_assets([adam_id], serial_numbers=serials)
            adam_id = victims[0][0]
            client.associate_assets(
                [adam_id], serial_numbers=[f"BENCHNEW{n:06d}" for n in range(changed // 2)]
            )
        assert simulator.wait_idle(120)
        started = time.monotonic()
        run2, _ = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
        run2 = run_sync(run_id=run2.pk)
        incremental_total = time.monotonic() - started
        incremental_seconds = (run2.finished_at - run2.started_at).total_seconds()
        assert run2.status == "completed", run2.error
        assert not run2.full
        inc_costs = _costs(run2)
        mirror_rows = AppleAssignment.objects.filter(vpp_token=token).count()
        at_apple = sum(
            a["assignedCount"] for a in simulator.location(uid, include_assignments=False)["assets"]
        )
        assert mirror_rows == at_apple  # removals and additions both applied

        # The nightly reconciliation (B2) reads Apple's whole location fresh and compares it with our own.
        from assignments.models import LicenseRun
        from assignments.services import token_reconcile
        from console.runs import execute

        resident_before_check = _current_rss_mb()
        sampler = _RssSampler()
        sampler.start()
        check = execute(token_reconcile(token=token, actor=None, allocate_required=True))
        check_peak = sampler.stop()
        check = LicenseRun.objects.get(pk=check.pk)
        assert check.status == "completed", check.error
        assert check.summary["untracked_count"] == at_apple  # every target of a generated location is unknown
        check_seconds = (check.finished_at - check.started_at).total_seconds()

    print(
        f"\n[sync-scale] db={connection.vendor} assets={ASSETS} assignments={ASSIGNMENTS} users={USERS}"
        f"\n  full sync {run_seconds:.2f}s (the run, started to finished), floor {floor:.2f}s,"
        f" ratio {run_seconds / floor:.1f}x; with what follows the run's end in its thread (alerts)"
        f" {full_seconds:.2f}s"
        f"\n  of which until the mirror's commit {mirror_seconds:.2f}s, untracked licenses after it"
        f" {untracked_seconds:.2f}s;"
        f" resident memory during the sync: before {resident_before:.0f} MB, peak {resident_peak:.0f} MB"
        f" (+{resident_peak - resident_before:.0f} MB; ru_maxrss growth {rss_growth:.0f} MB,"
        f" process peak {_rss_mb():.0f} MB)"
        f"\n  full: Apple requests {full_costs['apple_requests']},"
        f" rate-limit wait {full_costs['rate_limit_wait_ms']} ms"
        f"\n  incremental after {changed} changes ({changed / ASSIGNMENTS:.1%}): {incremental_seconds:.2f}s"
        f" (with alerts after it {incremental_total:.2f}s),"
        f" Apple requests {inc_costs['apple_requests']}, assets re-read {inc_costs['assets_reread']},"
        f" mirror +{inc_costs['mirror_inserted']} -{inc_costs['mirror_deleted']}"
        f"\n  reconciliation check: {check_seconds:.2f}s, {check.summary['untracked_count']} untracked found,"
        f" resident memory before {resident_before_check:.0f} MB, peak {check_peak:.0f} MB"
        f" (+{check_peak - resident_before_check:.0f} MB)"
    )
