"""Carry every SyncRun (tokens) and LicenseRun (assignments) over to console.Run, oldest first.

Runs get new ids (the two old tables numbered theirs independently); everything else is kept: kind, status,
trigger, progress, what it acted on, counts, summary, error and Apple's error number, who, and when.
"""

from django.db import migrations

SYNC_COUNTS = ["assets_count", "apps_created", "apps_updated", "apps_removed", "assignments_count", "users_count"]


def carry_over(apps, schema_editor):
    Run = apps.get_model("console", "Run")
    SyncRun = apps.get_model("tokens", "SyncRun")
    LicenseRun = apps.get_model("assignments", "LicenseRun")
    rows = []
    for old in SyncRun.objects.all().iterator():
        summary = {"full": old.full}
        if old.adam_id:
            summary["adam_id"] = old.adam_id
        rows.append(
            Run(
                kind="sync",
                status=old.status,
                trigger=old.trigger,
                progress=old.progress,
                stage=old.stage,
                exclusive_key=f"sync:{old.vpp_token_id}",
                vpp_token_id=old.vpp_token_id,
                counts={name: getattr(old, name) for name in SYNC_COUNTS},
                summary=summary,
                error=old.error,
                error_number=old.error_number,
                warning=old.warning,
                requested_by_id=old.requested_by_id,
                created_at=old.created_at,
                started_at=old.started_at,
                finished_at=old.finished_at,
                heartbeat_at=old.finished_at or old.started_at or old.created_at,
            )
        )
    for old in LicenseRun.objects.all().iterator():
        rows.append(
            Run(
                kind=old.kind,
                status=old.status,
                trigger="manual" if old.requested_by_id else "system",
                progress=old.progress,
                vpp_token_id=old.vpp_token_id,
                app_id=old.app_id,
                user_id=old.user_id,
                device_id=old.device_id,
                assignment_id=old.assignment_id,
                total=old.total,
                succeeded=old.succeeded,
                failed=old.failed,
                summary=old.summary or {},
                error=old.error,
                error_number=old.error_number,
                requested_by_id=old.requested_by_id,
                created_at=old.created_at,
                started_at=old.started_at,
                finished_at=old.finished_at,
                heartbeat_at=old.finished_at or old.started_at or old.created_at,
            )
        )
    rows.sort(key=lambda run: (run.created_at, run.kind != "sync"))
    # Keep the old request times: auto_now_add would stamp every row with now.
    created_at = Run._meta.get_field("created_at")
    created_at.auto_now_add = False
    try:
        Run.objects.bulk_create(rows, batch_size=1000)
    finally:
        created_at.auto_now_add = True


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0004_run"),
        ("tokens", "0002_sync_run_warning"),
        ("assignments", "0002_license_devices"),
    ]

    # Going back would need the old tables' rows again: not supported (restore a backup instead).
    operations = [migrations.RunPython(carry_over, migrations.RunPython.noop)]
