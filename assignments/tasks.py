"""Celery tasks: thin, by id, calling the services. Apple's events are polled no faster than every 30 s."""

from __future__ import annotations

from celery import shared_task

from assignments import events, services
from assignments.messages import APPLE_TOO_SLOW
from assignments.models import LicenseRun
from assignments.runs import POLL_SECONDS
from console import runs
from console.tasking import DB_RETRY
from directory.models import Device, DirectoryUser
from tokens.models import VPPToken

MAX_POLLS = 240  # two hours of polling, then the run ends failed and reconciliation settles the rest


@shared_task(acks_late=True, **DB_RETRY)
def execute_license_run(run_id: int) -> None:
    """Messages queued before runs had one runner: run the license run `run_id` (new ones go to
    console.tasks.execute_run, and the work queues the first poll)."""
    services.execute(LicenseRun.objects.get(pk=run_id))


@shared_task(**DB_RETRY)
def poll_license_run(run_id: int, attempt: int = 1) -> None:
    run = LicenseRun.objects.get(pk=run_id)
    if events.poll_run(run):
        return
    if attempt >= MAX_POLLS:
        runs.finish(run, error=APPLE_TOO_SLOW)
        return
    poll_license_run.apply_async((run_id, attempt + 1), countdown=POLL_SECONDS)


@shared_task(**DB_RETRY)
def poll_license_events(token_id: int, event_ids: list[str], attempt: int = 1) -> None:
    """Poll single requests (an install, a revoke) until Apple finished them."""
    token = VPPToken.objects.get(pk=token_id)
    still = events.poll_events(token=token, event_ids=event_ids)
    if still and attempt < MAX_POLLS:
        poll_license_events.apply_async((token_id, still, attempt + 1), countdown=POLL_SECONDS)


@shared_task(**DB_RETRY)
def request_waiting_licenses(token_id: int, user_ids: list[int]) -> None:
    """Associate the licenses that waited for these users' registration (after the notification committed;
    Apple's ASSET_MANAGEMENT notifications, a run's poll or reconciliation complete them)."""
    events.request_waiting(token_id=token_id, user_ids=user_ids)


@shared_task(**DB_RETRY)
def members_added(
    group_id: int, user_ids: list[int], device_ids: list[int], actor_id: int | None = None
) -> None:
    services.group_members_added(
        group_id=group_id, user_ids=user_ids, device_ids=device_ids, actor=services.actor_by_id(actor_id)
    )


@shared_task(**DB_RETRY)
def members_removed(
    group_id: int, user_ids: list[int], device_ids: list[int], actor_id: int | None = None
) -> None:
    services.group_members_removed(
        group_id=group_id, user_ids=user_ids, device_ids=device_ids, actor=services.actor_by_id(actor_id)
    )


@shared_task(**DB_RETRY)
def user_deactivated(user_id: int, actor_id: int | None = None) -> None:
    services.user_left(user=DirectoryUser.objects.get(pk=user_id), actor=services.actor_by_id(actor_id))


@shared_task(**DB_RETRY)
def device_retired(device_id: int, actor_id: int | None = None, serial_number: str = "") -> None:
    device = Device.objects.filter(pk=device_id).first()
    actor = services.actor_by_id(actor_id)
    if device is not None and not device.is_active:
        services.device_detach_user_licenses(device=device, actor=actor)
    services.device_left(device=device, serial_number=serial_number, actor=actor)


@shared_task(**DB_RETRY)
def reconcile_all() -> None:
    """Nightly (B2): a reconciliation run per usable token."""
    for token in VPPToken.objects.all():
        if token.is_usable:
            services.token_reconcile(token=token, actor=None, allocate_required=True)
