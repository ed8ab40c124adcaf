"""Celery tasks of the inbound path from Apple. Thin: they take ids, call the engine, and the run row tells
the story. They keep the names they had when they lived in the tokens app (queued messages and `tokens.sync`
use them)."""

from __future__ import annotations

from celery import shared_task

from applesync.notifications import notification_process
from applesync.sync import run_sync
from console.tasking import DB_RETRY


@shared_task(name="tokens.tasks.sync_token", acks_late=True, reject_on_worker_lost=True, **DB_RETRY)
def sync_token(run_id: int) -> str:
    """Messages queued before runs had one runner: run the sync run `run_id` (new ones go to
    console.tasks.execute_run)."""
    return run_sync(run_id=run_id).status


@shared_task(name="tokens.tasks.process_notification", acks_late=True, **DB_RETRY)
def process_notification(receipt_id: int) -> str:
    """Apply one stored Apple notification (see applesync.notifications.notification_process)."""
    return notification_process(receipt_id=receipt_id).result
