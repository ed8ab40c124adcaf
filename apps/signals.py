"""What the catalogue announces, after commit, for the layers above it (deployment through the MDM).

- `versions_changed(app_ids)` — a sync saw newer versions of these apps on a token with automatic app updates
  On (T11, D4). Sent with ids only (`sender` is None).
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

versions_changed = Signal()


def send_versions_changed(app_ids: list[int]) -> None:
    """Send `versions_changed` once the sync's transaction commits; a failing receiver is only logged."""
    ids = sorted(app_ids)
    transaction.on_commit(lambda: versions_changed.send_robust(sender=None, app_ids=ids), robust=True)
