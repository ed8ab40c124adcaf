"""Queueing a sync of one token (T6): the `SyncRun` row and the task, after commit.

`request_sync` is the one way to start a sync (page, API, schedule, notification, upload): it creates the
queued `SyncRun` under the per-token lock (the partial unique constraint `one_active_sync_per_token`) and
enqueues the task `tokens.tasks.sync_token` after commit. The sync engine that runs it (reading Apple and
writing apps, the assignment mirror and users through their owners' services) is `applesync.sync`, a layer
above this app: the task is sent by its registered name (the same name beat and queued messages use), so
this app never imports the engine.
"""

from __future__ import annotations

from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from console import audit
from tokens.models import SyncRun, VPPToken

SYNC_TASK = "tokens.tasks.sync_token"


def _enqueue(run_id: int) -> None:
    current_app.signature(SYNC_TASK, args=(run_id,)).delay()


def request_sync(
    *, token: VPPToken, trigger: str, actor=None, full: bool = False, adam_id: str = ""
) -> tuple[SyncRun, bool]:
    """Queue a sync of `token` and enqueue it after commit; `(run, True)`.

    Two syncs of one token never run at once: if a run is already queued or running, that run is returned with
    `False` and nothing is enqueued (the caller shows it, e.g. "a sync is already running").
    """
    requested_by = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    run = None
    for _attempt in range(3):
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(
                    vpp_token=token,
                    trigger=trigger,
                    full=full,
                    adam_id=adam_id or "",
                    requested_by=requested_by,
                )
            break
        except IntegrityError:
            existing = SyncRun.objects.filter(vpp_token=token, status__in=SyncRun.ACTIVE).first()
            if existing is not None and not _abandon_if_stale(existing):
                return existing, False
            # The active run finished between our insert and our read: try again.
    if run is None:  # pragma: no cover - three races in a row
        raise RuntimeError("could not queue a sync run")
    audit.record(
        actor=actor,
        action="sync.request",
        obj=run,
        after={"trigger": trigger, "full": full, "adam_id": adam_id or ""},
    )
    run_id = run.pk
    transaction.on_commit(lambda: _enqueue(run_id))
    return run, True


def _abandon_if_stale(run: SyncRun) -> bool:
    """End a run whose worker is gone (older than the task time limit), so the token is not locked forever."""
    stale_after = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 300)
    if timezone.now() - (run.started_at or run.created_at) < stale_after:
        return False
    return bool(
        SyncRun.objects.filter(pk=run.pk, status__in=SyncRun.ACTIVE).update(
            status=SyncRun.Status.FAILED,
            finished_at=timezone.now(),
            error=_("The run stopped without finishing (its worker was lost); a new sync was requested."),
        )
    )
