from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = _("Console")

    def ready(self) -> None:
        # On the logger itself, after LOGGING is applied: every handler (and every settings module) gets it.
        from console import log_filters

        log_filters.install()
