"""Celery tasks of the deployment app: thin, by id, calling `deployment.services`."""

from __future__ import annotations

from celery import shared_task

from console.tasking import DB_RETRY
from deployment import services  # services import this module back (to enqueue); names are used at call time


@shared_task(acks_late=True, **DB_RETRY)
def apply_webhook_event(event_id: int) -> None:
    services.apply_webhook_event(event_id=event_id)


@shared_task(acks_late=True, **DB_RETRY)
def deploy_app(app_id: int) -> None:
    services.deploy_app(app_id=app_id)


@shared_task(acks_late=True, **DB_RETRY)
def deploy_device(device_id: int) -> None:
    services.deploy_device(device_id=device_id)


@shared_task(acks_late=True, **DB_RETRY)
def remove_for_licenses(app_id: int, license_ids: list[int]) -> None:
    services.remove_for_licenses(app_id=app_id, license_ids=license_ids)


@shared_task(acks_late=True, **DB_RETRY)
def uninstall_for_assignment(assignment_id: int) -> None:
    services.uninstall_for_assignment(assignment_id=assignment_id)


@shared_task(acks_late=True, **DB_RETRY)
def push_updates(app_id: int) -> None:
    services.push_updates(app_id=app_id)


@shared_task(**DB_RETRY)
def check_installs(app_id: int) -> None:
    services.check_installs(app_id=app_id)


@shared_task(**DB_RETRY)
def retry_unanswered() -> None:
    services.retry_unanswered()


@shared_task(**DB_RETRY)
def daily_inventory() -> None:
    services.apply_pending_events()
    services.daily_inventory()
