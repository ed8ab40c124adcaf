"""Celery tasks of the tokens app. Thin: they take ids, call a service, and the run row tells the story.
A sync run itself is run by console.tasks.execute_run (the runner)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from console.tasking import DB_RETRY

logger = logging.getLogger(__name__)


@shared_task(name="tokens.tasks.sync_all_tokens", **DB_RETRY)
def sync_all_tokens(trigger: str = "schedule") -> int:
    """Request a sync of every usable token (T6); tokens already syncing keep their run. Returns how many
    new runs were queued.
    """
    from tokens.models import VPPToken
    from tokens.sync import request_sync

    queued = 0
    tokens = VPPToken.objects.filter(state=VPPToken.State.VALID, expires_at__gt=timezone.now())
    for token in tokens.iterator():
        _run, created = request_sync(token=token, trigger=trigger)
        queued += int(created)
    return queued


@shared_task(name="tokens.tasks.check_all_tokens", **DB_RETRY)
def check_all_tokens() -> int:
    """Daily: re-check every token's state with Apple, then send the expiry alerts (B5)."""
    from tokens import services
    from tokens.models import VPPToken

    checked = 0
    for token in VPPToken.objects.all().iterator():
        try:
            services.token_check_state(token=token)
            checked += 1
        except Exception:  # one broken token must not stop the others being checked
            logger.exception("checking token %s failed", token.pk)
    services.send_expiry_alerts()
    return checked


@shared_task(name="tokens.tasks.process_notification", acks_late=True, **DB_RETRY)
def process_notification(receipt_id: int) -> str:
    """Apply one stored Apple notification (see tokens.notifications.notification_process)."""
    from tokens.notifications import notification_process

    return notification_process(receipt_id=receipt_id).result
