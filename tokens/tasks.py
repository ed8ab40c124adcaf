"""Celery tasks of the tokens app. Thin: they take ids, call a service, and the run row tells the story.

A sync run itself is run by the runner (`console.tasks.execute_run`, the `sync` kind registered in
`applesync.apps`); Apple's notifications (`tokens.tasks.process_notification`) by `applesync.tasks`.
"""

from __future__ import annotations

import logging

from celery import current_app, shared_task
from django.utils import timezone

from console.tasking import DB_RETRY
from tokens import services
from tokens.models import SyncRun, VPPToken
from tokens.sync import request_sync

logger = logging.getLogger(__name__)
EVALUATE_ALERTS_TASK = "monitoring.tasks.evaluate_alerts"


@shared_task(name="tokens.tasks.sync_all_tokens", **DB_RETRY)
def sync_all_tokens(trigger: str = SyncRun.Trigger.SCHEDULE) -> int:
    """Request a sync of every usable token (T6); tokens already syncing keep their run. Returns how many
    new runs were queued.
    """
    queued = 0
    tokens = VPPToken.objects.filter(state=VPPToken.State.VALID, expires_at__gt=timezone.now())
    for token in tokens.iterator():
        _run, created = request_sync(token=token, trigger=trigger)
        queued += int(created)
    return queued


@shared_task(name="tokens.tasks.check_all_tokens", **DB_RETRY)
def check_all_tokens() -> int:
    """Daily: re-check every token's state with Apple, then have the alerts evaluated (B5, by task name: the
    monitoring layer sits above this one)."""
    checked = 0
    for token in VPPToken.objects.all().iterator():
        try:
            services.token_check_state(token=token)
            checked += 1
        except Exception:  # one broken token must not stop the others being checked
            logger.exception("checking token %s failed", token.pk)
    current_app.send_task(EVALUATE_ALERTS_TASK, kwargs={"probe": False})
    return checked
