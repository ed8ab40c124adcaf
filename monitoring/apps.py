from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    """Alerts (B5) and their deliveries, the dashboard's health rules and charts, daily usage snapshots."""

    name = "monitoring"
    verbose_name = _("Monitoring")

    def ready(self) -> None:
        from monitoring import receivers  # noqa: F401  (connects the signal receivers)
