"""Signals the console's runner sends upward, so layers above (monitoring) react without being imported.

`run_finished` is sent after the transaction that ended a run commits, with ids only (`sender` is None):
`run_id`, `kind` and `status`. Receivers run through `send_robust`: a failing receiver never fails the run.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

run_finished = Signal()


def send_run_finished(*, run_id: int, kind: str, status: str) -> None:
    """Send `run_finished` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(
        lambda: run_finished.send_robust(sender=None, run_id=run_id, kind=kind, status=status), robust=True
    )
