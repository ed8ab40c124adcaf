"""What the directory announces, after commit, when membership or lifecycle changes.

The directory does not know about licenses: the apps that do (assignments: reclaim or hand out licenses, S11,
B1, S6) connect receivers to these signals. Every signal is sent with ids only (`sender` is None):

- `members_added(group_id, user_ids, device_ids, actor_id)` — new members of a group;
- `members_removed(group_id, user_ids, device_ids, actor_id)` — members who left a group;
- `user_deactivated(user_id, actor_id)` — a user deactivated;
- `device_retired(device_id, actor_id, serial_number)` — a device retired or deleted (for a deleted device the
  serial number, as the row is gone).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

members_added = Signal()
members_removed = Signal()
user_deactivated = Signal()
device_retired = Signal()


def send_after_commit(signal: Signal, **kwargs: Any) -> None:
    """Send `signal` once the current transaction commits (at once outside a transaction); a failing receiver
    is logged and does not undo the directory change."""
    transaction.on_commit(lambda: signal.send_robust(sender=None, **kwargs), robust=True)
