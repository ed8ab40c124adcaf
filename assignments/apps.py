from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssignmentsConfig(AppConfig):
    name = "assignments"
    verbose_name = _("Assignments and licenses")

    def ready(self) -> None:
        # Not a cycle: Django's app loading. The receivers and the run kinds' work import models, which
        # exist only once every app is loaded, so they are connected here (the documented place).
        from assignments import hooks  # noqa: F401
        from assignments.models import LicenseRun
        from assignments.services import license_run_work
        from console import runs

        counts = {
            LicenseRun.Kind.RECONCILE: {
                "untracked_count": _("Untracked at Apple"),
                "missing_count": _("Missing at Apple"),
                "required_requested": _("Licenses requested again"),
            }
        }
        for kind, label in LicenseRun.Kind.choices:
            runs.register(
                kind,
                label=label,
                work=license_run_work,
                model=LicenseRun,
                count_labels=counts.get(kind),
                # A Required assignment's allocation lost with its worker starts again by itself: it reserves
                # only for targets without a license and asks Apple only for licenses not yet requested.
                requeue_when_lost=kind == LicenseRun.Kind.ALLOCATE,
            )
