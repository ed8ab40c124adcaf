from django.db import migrations


class Migration(migrations.Migration):
    """SyncRun rows now live in console.Run (kind "sync"); SyncRun stays as a proxy of it."""

    dependencies = [
        ("console", "0005_carry_over_sync_and_license_runs"),
        ("tokens", "0002_sync_run_warning"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="syncrun", name="one_active_sync_per_token"),
        migrations.DeleteModel(name="SyncRun"),
        migrations.CreateModel(
            name="SyncRun",
            fields=[],
            options={
                "verbose_name": "sync run",
                "verbose_name_plural": "sync runs",
                "ordering": ["-created_at", "-id"],
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("console.run",),
        ),
    ]
