from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = _("Console")

    def ready(self) -> None:
        # On the logger itself, after LOGGING is applied: every handler (and every settings module) gets it.
        from console import log_filters

        log_filters.install()
        # Every app's `messages` module defines the codes its rows store (console.messages): all are known
        # before any row is read, in every process (web, worker, shell).
        autodiscover_modules("messages")
