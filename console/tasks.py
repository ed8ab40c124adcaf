"""Celery tasks of the console: the runner (run one queued run; sweep the runs whose worker was lost,
console.runs) and beat's heartbeat (console.health)."""

from __future__ import annotations

from celery import shared_task

from console import health, runs
from console.tasking import DB_RETRY


@shared_task(name=runs.EXECUTE_TASK, acks_late=True, reject_on_worker_lost=True, **DB_RETRY)
def execute_run(run_id: int) -> str:
    """Run the queued run `run_id` with its kind's work; a redelivered message finds it taken and does
    nothing."""
    return runs.execute(run_id).status


@shared_task(name="console.tasks.sweep_lost_runs", **DB_RETRY)
def sweep_lost_runs() -> dict[str, int]:
    """Every minute: end runs whose worker stopped and start again those that should be (console.runs)."""
    return runs.sweep_lost()


@shared_task(name="console.tasks.heartbeat", ignore_result=True, **DB_RETRY)
def heartbeat() -> None:
    """Beat sends this every HEARTBEAT_SECONDS; /healthz reports how long ago it last ran."""
    health.record_heartbeat()
