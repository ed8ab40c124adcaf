"""Receivers of the directory's signals (sent after commit): membership and lifecycle changes that affect
licenses. Each receiver only enqueues a task with ids; the tasks call services, which record runs and the
audit log. Connected when the app is ready (`AssignmentsConfig.ready`).
"""

from __future__ import annotations

from django.dispatch import receiver

from assignments import tasks
from directory import signals


@receiver(signals.members_added, dispatch_uid="assignments.members_added")
def on_members_added(
    sender, *, group_id: int, user_ids, device_ids, actor_id: int | None = None, **_kw
) -> None:
    """New members of a group get the group's Required assignments (in join order, S6)."""
    tasks.members_added.delay(group_id, list(user_ids or []), list(device_ids or []), actor_id)


@receiver(signals.members_removed, dispatch_uid="assignments.members_removed")
def on_members_removed(
    sender, *, group_id: int, user_ids, device_ids, actor_id: int | None = None, **_kw
) -> None:
    """Members who left a group lose the licenses they held through it (S11)."""
    tasks.members_removed.delay(group_id, list(user_ids or []), list(device_ids or []), actor_id)


@receiver(signals.user_deactivated, dispatch_uid="assignments.user_deactivated")
def on_user_deactivated(sender, *, user_id: int, actor_id: int | None = None, **_kw) -> None:
    """A deactivated user loses every user license (S11, B1)."""
    tasks.user_deactivated.delay(user_id, actor_id)


@receiver(signals.device_retired, dispatch_uid="assignments.device_retired")
def on_device_retired(
    sender, *, device_id: int, actor_id: int | None = None, serial_number: str = "", **_kw
) -> None:
    """A retired or deleted device loses its device licenses (B1).

    For a deleted device the serial number is passed: the row and its License rows are gone, so Apple is asked
    to revoke by serial number.
    """
    tasks.device_retired.delay(device_id, actor_id, serial_number)
