from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApplesyncConfig(AppConfig):
    """The inbound path from Apple: the sync engine and Apple's notifications (no tables of its own)."""

    name = "applesync"
    verbose_name = "Apple sync"

    def ready(self) -> None:
        # The engine imports the models: registered once the app registry is ready.
        from applesync.sync import sync_work
        from console import runs
        from tokens.models import SYNC, SYNC_COUNT_LABELS, SyncRun

        runs.register(
            SYNC,
            label=_("Sync with Apple"),
            work=sync_work,
            count_labels=SYNC_COUNT_LABELS,
            requeue_when_lost=True,
            model=SyncRun,
        )
