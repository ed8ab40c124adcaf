"""The work of license runs (allocate, revoke, reclaim, reconcile), called by the runner (console.runs).

Runs are created by services.py (`revocation.create_run`). A run that sent requests to Apple waits for Apple's
events: it returns `runs.WAITING`, `tasks.poll_license_run` polls them and `events.poll_run` finishes it.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction

from assignments.allocation import run_allocation
from assignments.models import LicenseRun
from assignments.reconciliation import run_reconcile
from assignments.revocation import run_revocation
from console import runs


def work(run: LicenseRun) -> object:
    """Carry out a running license run of any kind; `runs.WAITING` while Apple's events are pending."""
    if run.kind == LicenseRun.Kind.ALLOCATE:
        run_allocation(run)
    elif run.kind == LicenseRun.Kind.RECONCILE:
        run_reconcile(run)
    else:
        run_revocation(run)
    if not _waits(run):
        return None
    from assignments.tasks import POLL_SECONDS, poll_license_run  # tasks import this module

    transaction.on_commit(partial(poll_license_run.apply_async, (run.pk,), countdown=POLL_SECONDS))
    return runs.WAITING


def _waits(run: LicenseRun) -> bool:
    summary = run.summary or {}
    return bool(summary.get("events") or summary.get("user_events"))


def execute(run: LicenseRun) -> LicenseRun:
    """Carry out a queued run (tests call this; the worker runs console.tasks.execute_run)."""
    return runs.execute(run)
