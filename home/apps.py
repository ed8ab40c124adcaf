from django.apps import AppConfig


class HomeConfig(AppConfig):
    """The console's front: the home page, the demo data and `manage.py run_console` (no tables)."""

    name = "home"
    verbose_name = "Home"
