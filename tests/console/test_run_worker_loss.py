"""Runs survive workers (B8): a real Celery worker process is killed (SIGKILL) in the middle of a sync; the
sweep ends the run as lost within the heartbeat window and starts it again, and the next worker completes it.

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

from console import runs
from console.models import Run
from tests.tokens.test_sync import connect, mirror
from tokens.models import SyncRun
from tokens.sync import request_sync

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


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_b8_sync_killed_with_its_worker_is_ended_and_started_again(apple, settings, tmp_path, monkeypatch):
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
        """Runs go to the worker's broker (this process's own broker may be the in-memory one)."""
        with Connection(broker, transport_options=options) as conn:
            current_app.send_task(runs.EXECUTE_TASK, args=(run_id,), connection=conn, queue=queue)

    monkeypatch.setattr(runs, "_send", send)
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
    killed_at = time.monotonic()
    lost.refresh_from_db()
    assert lost.status == "running"  # what a dead worker leaves behind

    # The beat task's sweep, every few tenths of a second here, ends it once its heartbeat is LOST_AFTER old.
    swept = _wait(lambda: runs.sweep_lost()["lost"], LOST_AFTER + 10, "the sweep to end the lost run")
    assert swept == 1
    assert time.monotonic() - killed_at < LOST_AFTER + HEARTBEAT + 5
    lost.refresh_from_db()
    assert lost.status == "failed" and "worker running this stopped" in str(lost.error)
    again = SyncRun.objects.get(status__in=Run.ACTIVE)
    assert again.pk != lost.pk and again.full and again.trigger == "manual"

    apple.clear_faults()
    second = Worker(tmp_path, "worker_settings")
    try:
        _wait(
            lambda: Run.objects.filter(pk=again.pk, status__in=Run.FINISHED).exists(),
            60,
            "the next worker to finish the sync",
        )
    finally:
        second.stop()
    again.refresh_from_db()
    assert again.status == "completed", again.error
    assert again.full and again.assets_count > 0
    assert mirror(token) and again.assignments_count == len(mirror(token))
