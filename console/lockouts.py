"""Sign-in lock-outs (django-axes keeps the failed attempts): which pairs are locked, and lifting a lock."""

from __future__ import annotations

from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from console import audit


def lockout_list() -> QuerySet[AccessAttempt]:
    """Failed sign-ins per (user name, address), newest first."""
    return AccessAttempt.objects.order_by("-attempt_time", "-id")


def is_locked(attempt: AccessAttempt) -> bool:
    """True while the pair has reached the failure limit and the cool-off has not passed."""
    if attempt.failures_since_start < settings.AXES_FAILURE_LIMIT:
        return False
    return attempt.attempt_time > timezone.now() - settings.AXES_COOLOFF_TIME


@transaction.atomic
def lockout_lift(*, attempt: AccessAttempt, actor) -> None:
    """Forget the failed sign-ins of the attempt's user name from its address; a lock, if any, is lifted."""
    before = {
        "username": attempt.username,
        "ip_address": attempt.ip_address,
        "failures": attempt.failures_since_start,
    }
    reset(ip=attempt.ip_address, username=attempt.username)
    audit.record(
        actor=actor,
        action="sign_in_lockout.lift",
        object_type="axes.accessattempt",
        object_id=str(attempt.pk),
        object_repr=f"{attempt.username} @ {attempt.ip_address}",
        before=before,
    )
