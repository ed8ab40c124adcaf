from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    """Alerts (B5) and their deliveries, the dashboard's health rules and charts, daily usage snapshots."""

    name = "monitoring"
    verbose_name = _("Monitoring")

    def ready(self) -> None:
        # Not a cycle: Django's app loading. The receivers and checks import models, which exist only once
        # the apps are ready.
        from monitoring import checks, receivers  # noqa: F401
