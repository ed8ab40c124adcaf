"""What the assignments app announces, after commit, for the layers above it (deployment through the MDM).

Every signal is sent with ids only (`sender` is None):

- `licenses_settled(app_ids)` — licenses of these apps were reserved, assigned or failed (D2: install where
  Apple assigned them, show the license reason where not);
- `assignment_removed(app_id, license_ids)` — an assignment was removed while an MDM server deploys apps; its
  licenses are reclaimed once the devices acknowledged the removal (S10, D3), not here;
- `uninstall_assigned(assignment_id)` — an assignment is (now) Uninstall (S3, D3).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

licenses_settled = Signal()
assignment_removed = Signal()
uninstall_assigned = Signal()


def send_after_commit(signal: Signal, **kwargs: Any) -> None:
    """Send `signal` once the current transaction commits (at once outside a transaction); a failing receiver
    is logged and does not undo the change."""
    transaction.on_commit(lambda: signal.send_robust(sender=None, **kwargs), robust=True)
