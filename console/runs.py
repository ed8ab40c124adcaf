"""The runner of background runs (B8): one model (`console.models.Run`), one lifecycle, every kind.

A run is a row: queued by `enqueue` (the task is sent after commit), marked running and ended by `execute`
(completed, or failed with the message and Apple's error number), its heartbeat beaten while the work goes,
and shown on every run page by one progress partial (`console/partials/run_progress.html`). Runs whose
worker died are ended as lost by `sweep_lost` (beat, every minute) and, for kinds that ask for it, started
again.

Adding a kind (e.g. a deployment) takes a registration and a work function:

    # deployments/apps.py, in DeploymentsConfig.ready():
    from console import runs
    from deployments.sending import send_deployment
    runs.register("deploy", label=_("Deploy apps"), work=send_deployment,
                  count_labels={"commands": _("Commands sent")})

    # a service starts one; the worker runs it after commit:
    run, _created = runs.enqueue(kind="deploy", actor=actor, target=deployment, app=app, summary={...})

    # the work gets the running Run; raising ends it failed, returning ends it completed:
    def send_deployment(run: Run) -> None:
        runs.progress(run, 40, _("Sending commands"))    # also beats the heartbeat
        run.total, run.succeeded, run.failed = n, ok, bad   # saved when the run ends
        run.counts["commands"] = sent
        raise runs.RunFailed(message, number)           # optional: failed with this message

A work function that waits for something outside (Apple's events) returns `runs.WAITING`: the run stays
running, and whatever finishes it later calls `runs.finish(run)` (and `runs.beat(run)` while it waits, or
the run is ended as lost). An action done inline (a CSV import) is recorded with
`with runs.track(kind=...) as run:`. `exclusive_key` keeps one active run per key (one sync per token);
`model=` gives the work a proxy of Run (tokens.models.SyncRun); `requeue_when_lost=True` starts a lost run
again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import Any, cast

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from console import run_kinds
from console.messages import CANNOT_RUN, LOST, LOST_RESTARTED, Message, apple_text, term
from console.models import Run
from console.run_kinds import RunKind, register
from console.signals import send_run_finished
from vpp.errors import AppleError

logger = logging.getLogger(__name__)

EXECUTE_TASK = "console.tasks.execute_run"
WAITING = object()  # returned by a work function whose run is finished later (runs.finish)
# A run waiting for something outside (Apple's events, polled every 30 s by a countdown task that may sit
# behind long tasks in a busy worker) counts as alive this long after its last poll.
WAITING_GRACE = timedelta(minutes=15)

__all__ = [
    "WAITING",
    "RunFailed",
    "RunKind",
    "beat",
    "enqueue",
    "execute",
    "finish",
    "progress",
    "register",
    "sweep_lost",
    "track",
    "warn",
]


class RunFailed(Exception):
    """Raised by a work function to end its run failed with `message` (and Apple's error `number`)."""

    def __init__(self, message: Message | str, number: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.number = number


# --- starting --------------------------------------------------------------------------------------------


def _requested_by(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def enqueue[R: Run](
    *,
    kind: str,
    actor=None,
    trigger: str | None = None,
    exclusive_key: str = "",
    target=None,
    model: type[R] = Run,  # type: ignore[assignment]
    **fields: Any,
) -> tuple[R, bool]:
    """Queue a run of `kind` and send it to a worker after commit; returns `(run, True)`.

    With an `exclusive_key`, at most one queued or running run holds the key: while one does, it is returned
    with `False` and nothing is queued — unless its worker was lost (no heartbeat for
    RUN_LOST_AFTER_SECONDS), in which case it is ended as lost and a new run starts. `fields` are Run fields
    (vpp_token, app, summary…).
    """
    run_kinds.get(kind)  # an unknown kind fails here, not in the worker
    requested_by = _requested_by(actor)
    if trigger is None:
        trigger = Run.Trigger.MANUAL if requested_by else Run.Trigger.SYSTEM
    if target is not None:
        fields["target"] = target
    for _attempt in range(3):
        try:
            with transaction.atomic():
                run = model.objects.create(
                    kind=kind,
                    trigger=trigger,
                    requested_by=requested_by,
                    exclusive_key=exclusive_key,
                    heartbeat_at=timezone.now(),
                    **fields,
                )
        except IntegrityError:
            if not exclusive_key:
                raise
            existing = model.objects.filter(exclusive_key=exclusive_key, status__in=Run.ACTIVE).first()
            if existing is not None and not _end_if_lost(existing):
                return existing, False
            continue  # the active run ended between our insert and our read: try again
        transaction.on_commit(partial(_send, run.pk))
        return run, True
    raise RuntimeError("could not queue a run")  # pragma: no cover - three races in a row


def _send(run_id: int) -> None:
    # By name: the task module imports this one.
    current_app.send_task(EXECUTE_TASK, args=(run_id,))


# --- running ---------------------------------------------------------------------------------------------


def execute[R: Run](run: R | int) -> R:
    """Run a queued run (the Celery task calls this; tests may too): mark it running, call its kind's work
    with the heartbeat beating, and end it completed or failed. Never raises for a failure of the work: the
    run records it. A run that is not queued any more (done, or taken by another worker) is returned as is.
    """
    if isinstance(run, int):
        kind = run_kinds.get(Run.objects.values_list("kind", flat=True).get(pk=run))
        run = cast(R, (kind.model or Run).objects.get(pk=run))
    else:
        kind = run_kinds.get(run.kind)
    now = timezone.now()
    claimed = Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED).update(
        status=Run.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        run.refresh_from_db()
        return run
    run.status, run.started_at, run.heartbeat_at = Run.Status.RUNNING, now, now
    if kind.work is None:
        return finish(run, error=CANNOT_RUN)
    with _Heartbeat(run.pk):
        try:
            outcome = kind.work(run)
        except RunFailed as exc:
            return finish(run, error=exc.message, error_number=exc.number)
        except AppleError as exc:
            return finish(run, error=apple_text(exc), error_number=exc.number)
        except Exception as exc:  # any fault ends the run visibly
            logger.exception("run %s (%s) failed", run.pk, run.kind)
            return finish(run, error=f"{type(exc).__name__}: {exc}")
    if outcome is WAITING:
        run.heartbeat_at = timezone.now() + WAITING_GRACE
        _save_working(run, heartbeat_at=run.heartbeat_at)
        return run
    return finish(run)


WORKING_FIELDS = ["total", "succeeded", "failed", "skipped", "counts", "summary", "progress", "stage"]


def _save_working(run: Run, **extra: Any) -> int:
    values = {name: getattr(run, name) for name in WORKING_FIELDS}
    return Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).update(**values, **extra)


def finish[R: Run](run: R, *, error: Message | str = "", error_number: int | None = None) -> R:
    """End `run`: completed, or failed with `error` (and Apple's error number). Saves its counts and summary.

    A run already ended elsewhere (e.g. as lost) keeps that ending; `run` is then reloaded.
    """
    now = timezone.now()
    run.status = Run.Status.FAILED if error else Run.Status.COMPLETED
    run.error = error
    run.error_number = error_number
    run.finished_at = now
    run.heartbeat_at = now
    run.stage = term(gettext_lazy("Failed") if error else gettext_lazy("Completed"))
    if not error:
        run.progress = 100
    ended = _save_working(
        run,
        status=run.status,
        error=run.error,
        error_number=run.error_number,
        finished_at=now,
        heartbeat_at=now,
    )
    if not ended:
        run.refresh_from_db()
    else:
        send_run_finished(run_id=run.pk, kind=run.kind, status=run.status)
    return run


def progress(run: Run, percent: float, stage: Message | Promise | str | None = None) -> None:
    """Show how far `run` is (0-100) and what it does now; committed at once, and beats the heartbeat. A
    lazily translated `stage` (gettext_lazy) is stored as its words and said in the reader's language."""
    run.progress = max(0, min(100, int(percent)))
    fields: dict[str, Any] = {"progress": run.progress, "heartbeat_at": timezone.now()}
    if stage is not None:
        run.stage = fields["stage"] = term(stage) if isinstance(stage, Promise) else stage
    Run.objects.filter(pk=run.pk).update(**fields)


def beat(run: Run, *, waiting: bool = False) -> None:
    """Tell the sweep that `run` is alive. A run waiting for Apple beats on every poll with `waiting=True`:
    it stays alive for WAITING_GRACE, as its next poll may wait behind long tasks."""
    run.heartbeat_at = timezone.now() + (WAITING_GRACE if waiting else timedelta(0))
    Run.objects.filter(pk=run.pk, status__in=Run.ACTIVE).update(heartbeat_at=run.heartbeat_at)


def warn(run: Run, message: Message | str) -> None:
    """Note something that went wrong without failing the run."""
    run.warning = message
    Run.objects.filter(pk=run.pk).update(warning=run.warning)


class _Heartbeat:
    """Beats `heartbeat_at` every RUN_HEARTBEAT_SECONDS from a thread (its own database connection, outside
    the work's transactions) for as long as the work runs in this process."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.stopped = threading.Event()

    def __enter__(self) -> _Heartbeat:
        interval = float(getattr(settings, "RUN_HEARTBEAT_SECONDS", 30))
        if interval > 0:
            threading.Thread(
                target=self._beat, args=(interval,), daemon=True, name=f"run-{self.run_id}-heartbeat"
            ).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()

    def _beat(self, interval: float) -> None:
        try:
            while not self.stopped.wait(interval):
                try:
                    Run.objects.filter(pk=self.run_id, status=Run.Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError:
                    logger.warning("heartbeat of run %s could not be written", self.run_id, exc_info=True)
        finally:
            connections.close_all()


# --- recording an inline action ---------------------------------------------------------------------------


@contextmanager
def track(*, kind: str, actor=None, trigger: str | None = None, target=None, **fields: Any) -> Iterator[Run]:
    """Record an action done here and now (not by a worker) as a run: running on entry, completed on a normal
    exit, failed (with the messages of a ValidationError, or the exception) when the block raises, which it
    then re-raises. Use it outside the action's own transaction, so a rollback keeps the record."""
    run_kinds.get(kind)
    requested_by = _requested_by(actor)
    now = timezone.now()
    if target is not None:
        fields["target"] = target
    run = Run.objects.create(
        kind=kind,
        trigger=trigger or (Run.Trigger.MANUAL if requested_by else Run.Trigger.SYSTEM),
        requested_by=requested_by,
        status=Run.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        **fields,
    )
    try:
        yield run
    except ValidationError as exc:
        finish(run, error="\n".join(exc.messages[:50]))
        raise
    except Exception as exc:
        finish(run, error=f"{type(exc).__name__}: {exc}")
        raise
    finish(run)


# --- runs whose worker was lost ---------------------------------------------------------------------------


def _lost_before():
    return timezone.now() - timedelta(seconds=settings.RUN_LOST_AFTER_SECONDS)


def is_lost(run: Run) -> bool:
    """Running, and no heartbeat for RUN_LOST_AFTER_SECONDS: its worker stopped."""
    last = run.heartbeat_at or run.started_at or run.created_at
    return run.status == Run.Status.RUNNING and last < _lost_before()


def _end_if_lost(run: Run) -> bool:
    """End `run` failed as lost if it is; True when it was ended here."""
    if not is_lost(run):
        return False
    now = timezone.now()
    ended = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, heartbeat_at=run.heartbeat_at).update(
        status=Run.Status.FAILED,
        error=LOST,
        stage=term(gettext_lazy("Failed")),
        finished_at=now,
    )
    if ended:
        logger.warning("run %s (%s) was lost with its worker", run.pk, run.kind)
    return bool(ended)


def sweep_lost() -> dict[str, int]:
    """End the running runs whose heartbeat stopped (their worker died) and start again those whose kind asks
    for it (same kind, target, parameters and trigger: a full sync stays full); send again the queued runs
    whose message waited longer than RUN_LOST_AFTER_SECONDS (a broker that lost it; a duplicate is harmless,
    only one worker can claim a queued run). Returns what it did."""
    cutoff = _lost_before()
    done = {"lost": 0, "requeued": 0, "resent": 0}
    for run in Run.objects.filter(status=Run.Status.RUNNING, heartbeat_at__lt=cutoff):
        if not _end_if_lost(run):
            continue
        done["lost"] += 1
        if run_kinds.get(run.kind).requeue_when_lost:
            again: Run
            again, created = enqueue(
                kind=run.kind,
                trigger=run.trigger,
                exclusive_key=run.exclusive_key,
                vpp_token_id=run.vpp_token_id,
                app_id=run.app_id,
                user_id=run.user_id,
                device_id=run.device_id,
                assignment_id=run.assignment_id,
                target_type_id=run.target_type_id,
                target_id=run.target_id,
                summary={**run.summary, "retry_of": run.pk},
                actor=run.requested_by,
            )
            if created:
                done["requeued"] += 1
                Run.objects.filter(pk=run.pk).update(error=LOST_RESTARTED(id=again.pk))
    waiting = Run.objects.filter(status=Run.Status.QUEUED, heartbeat_at__lt=cutoff)
    for run_id in list(waiting.values_list("pk", flat=True)):
        if Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(heartbeat_at=timezone.now()):
            transaction.on_commit(partial(_send, run_id))
            done["resent"] += 1
    return done
