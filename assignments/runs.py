"""Bookkeeping of LicenseRun rows (B8): start, progress, finish. Runs are created by services.py."""

from __future__ import annotations

from django.utils import timezone

from assignments.models import LicenseRun


def start_run(run: LicenseRun) -> LicenseRun:
    run.status = LicenseRun.Status.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.progress = max(run.progress, 5)
    run.save(update_fields=["status", "started_at", "progress"])
    return run


def finish_run(run: LicenseRun, *, error: str = "", error_number: int | None = None) -> LicenseRun:
    """Completed, or failed with `error` (and Apple's error number)."""
    run.status = LicenseRun.Status.FAILED if error else LicenseRun.Status.COMPLETED
    run.error = error
    run.error_number = error_number
    run.progress = 100
    run.finished_at = timezone.now()
    run.save(
        update_fields=["status", "error", "error_number", "progress", "finished_at", "succeeded", "failed"]
    )
    return run


def execute(run: LicenseRun) -> LicenseRun:
    """Carry out a queued run of any kind (the Celery task and tests call this)."""
    from assignments.allocation import run_allocation
    from assignments.reconciliation import run_reconcile
    from assignments.revocation import run_revocation

    if run.status != LicenseRun.Status.QUEUED:
        return run
    if run.kind == LicenseRun.Kind.ALLOCATE:
        return run_allocation(run)
    if run.kind == LicenseRun.Kind.RECONCILE:
        return run_reconcile(run)
    return run_revocation(run)


def is_finished(run: LicenseRun) -> bool:
    return run.status in (LicenseRun.Status.COMPLETED, LicenseRun.Status.FAILED)
