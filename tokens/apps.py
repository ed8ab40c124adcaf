from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TokensConfig(AppConfig):
    name = "tokens"
    verbose_name = _("Apple VPP tokens")

    def ready(self) -> None:
        # The sync engine imports the models: registered once the app registry is ready.
        from console import runs
        from tokens.models import SYNC, SYNC_COUNT_LABELS, SyncRun
        from tokens.sync import sync_work

        runs.register(
            SYNC,
            label=_("Sync with Apple"),
            work=sync_work,
            count_labels=SYNC_COUNT_LABELS,
            requeue_when_lost=True,
            model=SyncRun,
        )
