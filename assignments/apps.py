from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssignmentsConfig(AppConfig):
    name = "assignments"
    verbose_name = _("Assignments and licenses")

    def ready(self) -> None:
        # Not a cycle: Django's app loading. The receivers import models, which exist only once every app is
        # loaded, so they are connected here (the documented place), not at import time of this module.
        from assignments import hooks  # noqa: F401
