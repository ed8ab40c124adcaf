"""Queueing a sync of one token (T6): a `SyncRun` (the `sync` kind of console.models.Run) and its task.

`request_sync` is the one way to start a sync (page, API, schedule, notification, upload): it queues the run
under the per-token lock (the run's `exclusive_key`) through the runner (console.runs), which sends it to a
worker after commit. The sync engine that does the work (reading Apple and writing apps, the assignment mirror
and users through their owners' services) is `applesync.sync`, a layer above this app, registered as the
`sync` run kind in `applesync.apps`: this app never imports the engine.
"""

from __future__ import annotations

from console import audit, runs
from tokens.models import SYNC, SyncRun, VPPToken


def request_sync(
    *, token: VPPToken, trigger: str, actor=None, full: bool = False, adam_id: str = ""
) -> tuple[SyncRun, bool]:
    """Queue a sync of `token` and enqueue it after commit; `(run, True)`.

    Two syncs of one token never run at once: if a run is already queued or running, that run is returned
    with `False` and nothing is enqueued (the caller shows it, e.g. "a sync is already running") — unless its
    worker was lost, in which case it is ended and a new run starts (console.runs.enqueue).
    """
    summary: dict = {"full": full}
    if adam_id:
        summary["adam_id"] = adam_id
    run, created = runs.enqueue(
        kind=SYNC,
        model=SyncRun,
        actor=actor,
        trigger=trigger,
        exclusive_key=SyncRun.key_for(token.pk),
        vpp_token=token,
        summary=summary,
    )
    if created:
        audit.record(
            actor=actor,
            action="sync.request",
            obj=run,
            after={"trigger": trigger, "full": full, "adam_id": adam_id or ""},
        )
    return run, created
