"""Receivers of what the layers below announce (signals sent after commit, with ids only).

- `assignments.signals.licenses_settled` → install where Apple assigned the licenses (D2);
- `assignments.signals.assignment_removed` → remove the app from the devices, then reclaim (S10, D3);
- `assignments.signals.uninstall_assigned` → remove the app from the group's devices (S3, D3);
- `apps.signals.versions_changed` → push the newer version (T11, D4);
- `directory.signals.device_retired` is handled by assignments (B1); a check-out sends it too (D1).

Each receiver only enqueues a task with ids; the tasks call `deployment.services`. With NANOMDM_URL unset the
console manages licenses only and the receivers do nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.dispatch import receiver

from apps import signals as app_signals
from assignments import signals as assignment_signals
from deployment import tasks


@receiver(assignment_signals.licenses_settled, dispatch_uid="deployment.licenses_settled")
def on_licenses_settled(sender, app_ids, **kwargs) -> None:
    if settings.NANOMDM_URL:
        for app_id in sorted(set(app_ids)):
            tasks.deploy_app.delay(app_id)


@receiver(assignment_signals.assignment_removed, dispatch_uid="deployment.assignment_removed")
def on_assignment_removed(sender, app_id, license_ids, **kwargs) -> None:
    if settings.NANOMDM_URL:
        tasks.remove_for_licenses.delay(app_id, list(license_ids))


@receiver(assignment_signals.uninstall_assigned, dispatch_uid="deployment.uninstall_assigned")
def on_uninstall_assigned(sender, assignment_id, **kwargs) -> None:
    if settings.NANOMDM_URL:
        tasks.uninstall_for_assignment.delay(assignment_id)


@receiver(app_signals.versions_changed, dispatch_uid="deployment.versions_changed")
def on_versions_changed(sender, app_ids, **kwargs) -> None:
    if settings.NANOMDM_URL:
        for app_id in sorted(set(app_ids)):
            tasks.push_updates.delay(app_id)
