"""Celery tasks of the console shell."""

from __future__ import annotations

from celery import shared_task

from console import health
from console.tasking import DB_RETRY


@shared_task(name="console.tasks.heartbeat", ignore_result=True, **DB_RETRY)
def heartbeat() -> None:
    """Beat sends this every HEARTBEAT_SECONDS; /healthz reports how long ago it last ran."""
    health.record_heartbeat()
