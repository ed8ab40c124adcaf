from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeploymentConfig(AppConfig):
    name = "deployment"
    verbose_name = _("Deployment")

    def ready(self) -> None:
        from deployment import checks  # noqa: F401  (registers the system checks)
