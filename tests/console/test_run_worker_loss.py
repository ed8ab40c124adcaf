"""Runs survive workers (B8): a real Celery worker process is killed (SIGKILL) in the middle of a sync and of
a license allocation; the sweep ends the run as lost within the heartbeat window and starts it again, and the
next worker completes it (the allocation with no oversubscription and a bounded number of Apple requests).

The worker is a separate `celery worker` process on the same database. Its broker is Redis when REDIS_URL is
set (CI), otherwise kombu's filesystem transport in a temporary folder — the embedded broker of `make run`,
which does not redeliver a killed worker's message: the sweep is what recovers the run there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import current_app
from django.db import connection
from kombu import Connection

from assignments import services as assignment_services
from assignments.models import License, LicenseRun
from console import runs
from console.models import Run
from tests import factories
from tests.assignments import conftest as assignment_fixtures
from tests.assignments.conftest import add_members
from tests.tokens.test_sync import connect, mirror
from tokens.models import SyncRun
from tokens.sync import request_sync

# The assignments suite's fixtures: a fresh location at the simulator, apps with real counts there.
location = assignment_fixtures.location
make_app = assignment_fixtures.make_app

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT = 0.5  # the worker's RUN_HEARTBEAT_SECONDS
LOST_AFTER = 3  # RUN_LOST_AFTER_SECONDS in this test


def _broker(tmp_path: Path) -> tuple[str, dict]:
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url:
        return redis_url, {}
    folder = tmp_path / "broker"
    for name in ("queue", "processed", "control"):
        (folder / name).mkdir(parents=True)
    return "filesystem://", {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


class Worker:
    """A `celery worker` process (solo pool) on the test database, the given broker and the simulator."""

    def __init__(self, tmp_path: Path, settings_module: str) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        }
        self.log = tmp_path / f"worker-{time.monotonic_ns()}.log"
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo"]
        self.process = subprocess.Popen(
            [*command, "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while "ready." not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()


def _wait(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def worker_broker(apple, settings, tmp_path, monkeypatch):
    """Settings for worker processes on this test's database, broker and simulator; runs enqueued by this
    process go to that broker (this process's own broker may be the in-memory one)."""
    broker, options = _broker(tmp_path)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    (tmp_path / "worker_settings.py").write_text(
        "from config.settings.test import *  # noqa: F403\n"
        f"DATABASES['default']['NAME'] = {connection.settings_dict['NAME']!r}  # noqa: F405\n"
        f"CELERY_BROKER_URL = {broker!r}\n"
        f"CELERY_BROKER_TRANSPORT_OPTIONS = {options!r}\n"
        f"CELERY_TASK_DEFAULT_QUEUE = {queue!r}\n"
        f"APPLE_VPP_BASE_URL = {apple.base_url!r}\n"
        f"RUN_HEARTBEAT_SECONDS = {HEARTBEAT!r}\n"
    )
    settings.RUN_LOST_AFTER_SECONDS = LOST_AFTER

    def send(run_id: int) -> None:
        with Connection(broker, transport_options=options) as conn:
            current_app.send_task(runs.EXECUTE_TASK, args=(run_id,), connection=conn, queue=queue)

    monkeypatch.setattr(runs, "_send", send)


def _sweep_ends_lost_run(lost: Run, killed_at: float) -> Run:
    """The beat task's sweep, every few tenths of a second here, ends the run once its heartbeat is LOST_AFTER
    old and starts it again. Returns the new run."""
    lost.refresh_from_db()
    assert lost.status == "running"  # what a dead worker leaves behind
    swept = _wait(lambda: runs.sweep_lost()["lost"], LOST_AFTER + 10, "the sweep to end the lost run")
    assert swept == 1
    assert time.monotonic() - killed_at < LOST_AFTER + HEARTBEAT + 5
    lost.refresh_from_db()
    assert lost.status == "failed" and "worker running this stopped" in str(lost.error)
    again = Run.objects.get(status__in=Run.ACTIVE, kind=lost.kind)
    assert again.pk != lost.pk and again.trigger == lost.trigger and again.summary["retry_of"] == lost.pk
    return again


def _next_worker_completes(run: Run, tmp_path: Path) -> None:
    """A new worker takes the run started again and finishes it."""
    worker = Worker(tmp_path, "worker_settings")
    try:
        _wait(
            lambda: Run.objects.filter(pk=run.pk, status__in=Run.FINISHED).exists(),
            60,
            f"the next worker to finish the {run.kind} run",
        )
    finally:
        worker.stop()
    run.refresh_from_db()
    assert run.status == "completed", run.error


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_b8_sync_killed_with_its_worker_is_ended_and_started_again(apple, tmp_path, worker_broker):
    token = connect(apple)
    # Apple answers the first assignments page slowly: the worker is killed while it waits for it.
    apple.add_fault("slow", count=1, delay=30, path="assignments")

    first = Worker(tmp_path, "worker_settings")
    try:
        lost, created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, full=True)
        assert created
        _wait(
            lambda: Run.objects.filter(pk=lost.pk, status="running", progress__gte=40).exists(),
            30,
            "the sync to reach the assignments",
        )
        first.kill()
    finally:
        first.stop()
    again = SyncRun.objects.get(pk=_sweep_ends_lost_run(lost, time.monotonic()).pk)
    assert again.full and again.trigger == "manual"

    apple.clear_faults()
    _next_worker_completes(again, tmp_path)
    assert again.full and again.assets_count > 0
    assert mirror(token) and again.assignments_count == len(mirror(token))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_b8_allocation_killed_with_its_worker_is_ended_and_started_again(
    apple, location, make_app, administrator, tmp_path, worker_broker
):
    """A Required assignment of an app with 5 licenses to 3 devices. The worker is killed while Apple is
    slow to answer the association, which Apple then carries out anyway. The allocation started again asks
    Apple at most once more for the same devices; Apple and the console end with 3 licenses used, one per
    device."""
    _token, uid = location
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="device")
    devices = factories.DeviceFactory.create_batch(3)
    add_members(group, devices=devices)
    # Apple answers the association after 4 seconds (and carries it out): the worker is killed meanwhile.
    apple.add_fault("slow", count=1, delay=4, path="assets/associate")

    first = Worker(tmp_path, "worker_settings")
    try:
        assignment = assignment_services.assignment_create(
            app=app, group=group, intent="required", license_type="device", actor=administrator
        )
        lost = LicenseRun.objects.get(assignment=assignment, kind="allocate")
        # Reserved (the pending licenses are committed before any Apple call), now waiting for Apple.
        _wait(
            lambda: Run.objects.filter(pk=lost.pk, status="running", progress__gte=50).exists(),
            30,
            "the allocation to ask Apple",
        )
        time.sleep(0.5)
        first.kill()
    finally:
        first.stop()
    assert License.objects.filter(app=app, state="pending", event_id="").count() == len(devices)
    again = _sweep_ends_lost_run(lost, time.monotonic())

    _next_worker_completes(again, tmp_path)
    # No oversubscription: one license per device, at Apple and here.
    licenses = License.objects.filter(app=app)
    assert sorted(licenses.values_list("device_id", flat=True)) == sorted(d.pk for d in devices)
    assert set(licenses.values_list("state", flat=True)) == {"assigned"}
    asset = next(a for a in apple.location(uid)["assets"] if a["adamId"] == app.adam_id)
    assert (asset["assignedCount"], asset["availableCount"]) == (len(devices), 5 - len(devices))
    # Apple was asked for these devices twice at most: the lost run's request and the new run's.
    associations = [e for e in apple.state.events.values() if e.uid == uid and e.event_type == "ASSOCIATE"]
    assert 1 <= len(associations) <= 2
    assert sum(e.num_requested for e in associations) <= 2 * len(devices)
