from django.apps import AppConfig


class VppConfig(AppConfig):
    """Holds the Apple client, the simulator and their management commands; no models."""

    name = "vpp"
    verbose_name = "Apple VPP"
