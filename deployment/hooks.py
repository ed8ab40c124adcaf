"""What the layers below call (inside `transaction.on_commit`) when something deployment must act on happens.

The assignments app calls these when licenses settle or assignments are removed or become Uninstall, the
tokens sync when an app's version changed. Each hook only enqueues a task with ids; the tasks call
`deployment.services`. With NANOMDM_URL unset the console manages licenses only: the hooks do nothing and
`removal_waits_for_devices()` is False, so assignments reclaim licenses at once as before.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings


def removal_waits_for_devices() -> bool:
    """S3/D3: True when a removed assignment's licenses are reclaimed only after the devices acknowledged
    the removal (deployment is on); False when assignments should reclaim them at once."""
    return bool(settings.NANOMDM_URL)


def on_licenses_settled(app_ids: Iterable[int]) -> None:
    """Licenses of these apps were reserved, assigned or failed: install where Apple assigned them (D2)."""
    if not settings.NANOMDM_URL:
        return
    from deployment.tasks import deploy_app

    for app_id in sorted(set(app_ids)):
        deploy_app.delay(app_id)


def on_assignment_removed(app_id: int, license_ids: Iterable[int]) -> None:
    """An assignment was removed: remove the app from its devices, then reclaim its licenses (S10, D3)."""
    if not settings.NANOMDM_URL:
        return
    from deployment.tasks import remove_for_licenses

    remove_for_licenses.delay(app_id, list(license_ids))


def on_uninstall_assigned(assignment_id: int) -> None:
    """An assignment is (now) Uninstall: remove the app from its group's devices (S3, D3)."""
    if not settings.NANOMDM_URL:
        return
    from deployment.tasks import uninstall_for_assignment

    uninstall_for_assignment.delay(assignment_id)


def on_app_versions_changed(app_ids: Iterable[int]) -> None:
    """A sync saw newer versions of these apps on a token with automatic updates On (T11, D4)."""
    if not settings.NANOMDM_URL:
        return
    from deployment.tasks import push_updates

    for app_id in sorted(set(app_ids)):
        push_updates.delay(app_id)
