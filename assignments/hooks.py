"""What the directory calls (inside `transaction.on_commit`) when membership or lifecycle changes.

Each hook only enqueues a task with ids; the tasks call services, which record runs and the audit log.
"""

from __future__ import annotations


def on_members_added(group_id: int, user_ids, device_ids, actor_id: int | None = None) -> None:
    """New members of a group get the group's Required assignments (in join order, S6)."""
    from assignments.tasks import members_added

    members_added.delay(group_id, list(user_ids or []), list(device_ids or []), actor_id)


def on_members_removed(group_id: int, user_ids, device_ids, actor_id: int | None = None) -> None:
    """Members who left a group lose the licenses they held through it (S11)."""
    from assignments.tasks import members_removed

    members_removed.delay(group_id, list(user_ids or []), list(device_ids or []), actor_id)


def on_user_deactivated(user_id: int, actor_id: int | None = None) -> None:
    """A deactivated user loses every user license (S11, B1)."""
    from assignments.tasks import user_deactivated

    user_deactivated.delay(user_id, actor_id)


def on_device_retired(device_id: int, actor_id: int | None = None, serial_number: str = "") -> None:
    """A retired or deleted device loses its device licenses (B1).

    For a deleted device pass its serial number: the row and its License rows are gone, so Apple is asked to
    revoke by serial number.
    """
    from assignments.tasks import device_retired

    device_retired.delay(device_id, actor_id, serial_number)
