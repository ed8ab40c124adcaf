from django.apps import AppConfig


class ApplesyncConfig(AppConfig):
    """The inbound path from Apple: the sync engine and Apple's notifications (no tables of its own)."""

    name = "applesync"
    verbose_name = "Apple sync"
