"""Bookkeeping of LicenseRun rows (B8): start, progress, finish, and queueing the work of a run.

Services queue the Celery tasks of this app by their registered names (`assignments.tasks.*`): the tasks call
the services, so the services do not import the task module.
"""

from __future__ import annotations

from celery import current_app
from django.utils import timezone

from assignments.models import LicenseRun

POLL_SECONDS = 30
EXECUTE_TASK = "assignments.tasks.execute_license_run"
POLL_EVENTS_TASK = "assignments.tasks.poll_license_events"


def enqueue_run(run_id: int) -> None:
    """Send the queued run `run_id` to a worker (call it from `transaction.on_commit`)."""
    current_app.signature(EXECUTE_TASK, args=(run_id,)).delay()


def enqueue_event_poll(token_id: int, event_ids: list[str]) -> None:
    """Poll Apple's events `event_ids` of a token in POLL_SECONDS (call it from `transaction.on_commit`)."""
    current_app.signature(POLL_EVENTS_TASK, args=(token_id, event_ids), countdown=POLL_SECONDS).apply_async()


def start_run(run: LicenseRun) -> LicenseRun:
    run.status = LicenseRun.Status.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.progress = max(run.progress, 5)
    run.save(update_fields=["status", "started_at", "progress"])
    return run


def finish_run(run: LicenseRun, *, error: str = "", error_number: int | None = None) -> LicenseRun:
    """Completed, or failed with `error` (and Apple's error number)."""
    run.status = LicenseRun.Status.FAILED if error else LicenseRun.Status.COMPLETED
    run.error = error
    run.error_number = error_number
    run.progress = 100
    run.finished_at = timezone.now()
    run.save(
        update_fields=["status", "error", "error_number", "progress", "finished_at", "succeeded", "failed"]
    )
    return run


def is_finished(run: LicenseRun) -> bool:
    return run.status in (LicenseRun.Status.COMPLETED, LicenseRun.Status.FAILED)
