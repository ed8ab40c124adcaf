from django.db import migrations


class Migration(migrations.Migration):
    """LicenseRun rows now live in console.Run (the license kinds); LicenseRun stays as a proxy of it."""

    dependencies = [
        ("console", "0005_carry_over_sync_and_license_runs"),
        ("assignments", "0003_untracked_licenses"),
    ]

    operations = [
        migrations.DeleteModel(name="LicenseRun"),
        migrations.CreateModel(
            name="LicenseRun",
            fields=[],
            options={
                "verbose_name": "license run",
                "verbose_name_plural": "license runs",
                "ordering": ["-created_at", "-id"],
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("console.run",),
        ),
    ]
