"""Queueing the follow-up work of license runs (B8) by the Celery tasks' registered names.

The runs themselves are rows of console.models.Run run by the one runner (console.runs); their work is
`services.license_run_work`. A run that sent requests to Apple waits for Apple's events: the poll task
(`assignments.tasks.poll_license_run`) checks them every POLL_SECONDS and `events.poll_run` finishes the run;
an ASSET_MANAGEMENT notification that settles the run's last open licenses finishes it at once
(`events.finish_settled_runs`).
Tasks are sent by name: the tasks call the services, so the services do not import the task module.
"""

from __future__ import annotations

from celery import current_app

POLL_SECONDS = 30
POLL_RUN_TASK = "assignments.tasks.poll_license_run"
POLL_EVENTS_TASK = "assignments.tasks.poll_license_events"


def enqueue_run_poll(run_id: int) -> None:
    """Poll the Apple events of the waiting run `run_id` in POLL_SECONDS (call it from `on_commit`)."""
    current_app.signature(POLL_RUN_TASK, args=(run_id,), countdown=POLL_SECONDS).apply_async()


def enqueue_event_poll(token_id: int, event_ids: list[str]) -> None:
    """Poll Apple's events `event_ids` of a token in POLL_SECONDS (call it from `transaction.on_commit`)."""
    current_app.signature(POLL_EVENTS_TASK, args=(token_id, event_ids), countdown=POLL_SECONDS).apply_async()
