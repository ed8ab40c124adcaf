from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssignmentsConfig(AppConfig):
    name = "assignments"
    verbose_name = _("Assignments and licenses")

    def ready(self) -> None:
        # The license engines import the models: registered once the app registry is ready.
        from assignments.models import LicenseRun
        from assignments.runs import work
        from console import runs

        counts = {
            LicenseRun.Kind.RECONCILE: {
                "untracked_count": _("Untracked at Apple"),
                "missing_count": _("Missing at Apple"),
                "required_requested": _("Licenses requested again"),
            }
        }
        for kind, label in LicenseRun.Kind.choices:
            runs.register(kind, label=label, work=work, model=LicenseRun, count_labels=counts.get(kind))
