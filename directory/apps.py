from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DirectoryConfig(AppConfig):
    name = "directory"
    verbose_name = _("Directory")

    def ready(self) -> None:
        from console import runs
        from directory.csv_import import IMPORT_COUNT_LABELS, IMPORT_KIND

        # Recorded inline by csv_import.import_apply (no worker).
        runs.register(IMPORT_KIND, label=_("Directory import"), count_labels=IMPORT_COUNT_LABELS)
