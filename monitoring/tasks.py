"""Celery tasks of monitoring: thin, by id; the services do the work.

- `evaluate_alerts` (beat, every ALERTS_EVALUATE_MINUTES; also after every run ends): probe NanoMDM, then
  open and resolve alerts.
- `deliver_alert` sends one notice, retried with ALERT_DELIVERY_BACKOFF.
- `snapshot_usage` (beat, hourly): today's license figures per token for the history chart.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from console.tasking import DB_RETRY
from monitoring import services
from monitoring.models import AlertDelivery


@shared_task(name="monitoring.tasks.evaluate_alerts", **DB_RETRY)
def evaluate_alerts(probe: bool = True) -> dict[str, int]:
    if probe:
        services.nanomdm_check()
    outcome = services.alerts_evaluate()
    return {"opened": outcome.opened, "escalated": outcome.escalated, "resolved": outcome.resolved}


@shared_task(name="monitoring.tasks.deliver_alert", bind=True, max_retries=None)
def deliver_alert(self, delivery_id: int) -> str:
    delivery = services.delivery_attempt(delivery_id=delivery_id)
    if delivery.status == AlertDelivery.Status.RETRYING:
        backoff = settings.ALERT_DELIVERY_BACKOFF
        raise self.retry(countdown=backoff[min(delivery.attempts, len(backoff)) - 1])
    return delivery.status


@shared_task(name="monitoring.tasks.snapshot_usage", **DB_RETRY)
def snapshot_usage() -> int:
    return services.usage_snapshot_take()
