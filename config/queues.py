"""Celery queues and routing: interactive work never waits behind bulk work.

| queue         | what goes there                                                                     |
|---------------|-------------------------------------------------------------------------------------|
| `interactive` | "Sync now" and single-app syncs of tokens whose last sync saw at most                 |
|               | `VPP_INTERACTIVE_SYNC_MAX_ASSIGNMENTS` assignments; beat's heartbeat and the lost-run |
|               | sweep (served by every worker, so the sweep survives the loss of any one of them)    |
| `webhooks`    | Apple notifications and NanoMDM webhook events                                        |
| `sync`        | scheduled, upload-time and large syncs, the sync-all fan-out, token checks, reconciliation |
| `licenses`    | license runs (allocate, revoke, reclaim, reconcile), their polling, group and         |
|               | lifecycle changes                                                                    |
| `deploy`      | MDM install, removal and inventory commands and deployment runs (deployment app)      |
| `default`     | anything else (sweeps)                                                               |

A worker started with `-Q interactive,webhooks` therefore answers a help desk's "Sync now" of a small token
and NanoMDM's webhooks within seconds while another worker spends an hour on a 1M-assignment sync (README,
Running in production). An explicit `queue=` given by a caller wins over this router.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings

INTERACTIVE = "interactive"
WEBHOOKS = "webhooks"
SYNC = "sync"
LICENSES = "licenses"
DEPLOY = "deploy"
DEFAULT = "default"
ALL = [INTERACTIVE, WEBHOOKS, SYNC, LICENSES, DEPLOY, DEFAULT]

# A header stamped on every published task: the health check reads the age of the oldest waiting message.
SENT_AT_HEADER = "vpp_sent_at"

_BY_NAME = {
    "console.tasks.heartbeat": INTERACTIVE,
    # The sweep recovers runs whose worker died: it must not sit on a queue only that worker served.
    "console.tasks.sweep_lost_runs": INTERACTIVE,
    "tokens.tasks.process_notification": WEBHOOKS,
    "deployment.tasks.apply_webhook_event": WEBHOOKS,
    "tokens.tasks.sync_all_tokens": SYNC,
    "tokens.tasks.check_all_tokens": SYNC,
    "assignments.tasks.reconcile_all": SYNC,
}
_BY_PREFIX = [
    ("assignments.tasks.", LICENSES),
    ("deployment.tasks.", DEPLOY),
]
# Tasks that run a recorded run (console.runs): the run's kind decides.
_RUN_TASKS = ("console.tasks.execute_run", "tokens.tasks.sync_token")
_BY_RUN_KIND = {"deploy": DEPLOY}


def queue_for(name: str, args: tuple | list | None = None, kwargs: dict | None = None) -> str:
    """The queue a task goes to by default."""
    if name in _RUN_TASKS:
        run_id = args[0] if args else (kwargs or {}).get("run_id")
        return run_queue(run_id)
    if name in _BY_NAME:
        return _BY_NAME[name]
    for prefix, queue in _BY_PREFIX:
        if name.startswith(prefix):
            return queue
    return DEFAULT


def run_queue(run_id: Any) -> str:
    """Syncs by `sync_queue`; license runs (allocate, revoke, reclaim, reconcile) on `licenses`; deployments
    on `deploy`."""
    from assignments.models import LicenseRun
    from console.models import Run
    from tokens.models import SYNC

    run = Run.objects.filter(pk=run_id).values("kind", "trigger", "vpp_token_id").first()
    if run is None:
        return DEFAULT
    if run["kind"] == SYNC:
        return sync_queue(run)
    if run["kind"] in LicenseRun.Kind.values:
        return LICENSES
    return _BY_RUN_KIND.get(run["kind"], DEFAULT)


def sync_queue(run: Mapping[str, Any]) -> str:
    """A sync someone is waiting for ("Sync now", one app) of a token known to be small goes to `interactive`;
    scheduled, first (size unknown), notification-driven and large syncs go to `sync`."""
    from console.models import Run
    from tokens.models import SYNC

    if run["trigger"] != Run.Trigger.MANUAL:
        return SYNC
    last = (
        Run.objects.filter(kind=SYNC, vpp_token_id=run["vpp_token_id"], status=Run.Status.COMPLETED)
        .order_by("-finished_at")
        .values_list("counts__assignments_count", flat=True)
        .first()
    )
    if last is not None and int(last) <= settings.VPP_INTERACTIVE_SYNC_MAX_ASSIGNMENTS:
        return INTERACTIVE
    return SYNC


def route_task(name, args, kwargs, options, task=None, **kw):
    """Celery router (`CELERY_TASK_ROUTES`)."""
    return {"queue": queue_for(name, args, kwargs)}


def stamp_sent_at(sender=None, headers=None, **kwargs) -> None:
    """`before_task_publish`: record when the message was sent (read by console.health)."""
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())
