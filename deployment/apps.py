from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeploymentConfig(AppConfig):
    name = "deployment"
    verbose_name = _("Deployment")

    def ready(self) -> None:
        # Not a cycle: Django's app loading. The receivers and checks import models, which exist only once
        # every app is loaded, so they are connected here (the documented place).
        from console import runs
        from deployment import checks, hooks  # noqa: F401

        runs.register(
            "deploy",
            label=_("Send apps to devices"),
            count_labels={
                "commands": _("Commands sent"),
                "enqueue_requests": _("Requests to the MDM server"),
            },
        )
