"""News from the layers below, received without them importing monitoring.

- A run ended (`console.signals.run_finished`): alerts are evaluated at once, in the process that ended it
  (a few aggregate queries), so a failed sync or a license run that used the last licenses alerts now.
- Someone signed in: their language is remembered for their alert emails.
"""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import translation

from console.signals import run_finished
from monitoring import services

logger = logging.getLogger(__name__)


@receiver(run_finished, dispatch_uid="monitoring.evaluate_after_run")
def evaluate_after_run(sender, run_id: int, kind: str, status: str, **kwargs) -> None:
    services.alerts_evaluate()


@receiver(user_logged_in, dispatch_uid="monitoring.remember_language")
def remember_language(sender, request, user, **kwargs) -> None:
    language = getattr(request, "LANGUAGE_CODE", None) or translation.get_language()
    services.recipient_language_record(user=user, language=language)
