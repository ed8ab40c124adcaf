"""Connector health per VPP token, the way Intune shows a tenant's connector status.

- unhealthy: expired, revoked, invalid or taken by another MDM; the last sync failed; or no successful sync
  for 3 days (a token younger than that: not yet);
- warning: expires within 30 days, or the last successful sync is older than a day;
- healthy otherwise.
Each reason is a sentence in the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from monitoring.conditions import UNUSABLE_STATES
from tokens.models import VPPToken

HEALTHY, WARNING, UNHEALTHY = "healthy", "warning", "unhealthy"
LABELS = {
    HEALTHY: gettext_lazy("Healthy"),
    WARNING: gettext_lazy("Warning"),
    UNHEALTHY: gettext_lazy("Unhealthy"),
}
STALE_AFTER = timedelta(days=1)
UNHEALTHY_AFTER = timedelta(days=3)
EXPIRY_WARNING = timedelta(days=30)


@dataclass
class Health:
    status: str
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return str(LABELS[self.status])


def token_health(
    *,
    state: str,
    expires_at: datetime,
    last_sync_status: str,
    last_success_at: datetime | None,
    created_at: datetime,
    now: datetime,
) -> Health:
    """The health of one token from its state, expiry, last sync and last successful sync."""
    bad: list[str] = []
    if expires_at <= now or state == VPPToken.State.EXPIRED:
        bad.append(_("The token has expired."))
    elif state in UNUSABLE_STATES:
        bad.append(str(VPPToken.State(state).label))
    if last_sync_status == VPPToken.SyncStatus.FAILED:
        bad.append(_("The last sync failed."))
    since = last_success_at or created_at
    if now - since > UNHEALTHY_AFTER:
        bad.append(_("No successful sync for 3 days."))
    if bad:
        return Health(UNHEALTHY, bad)
    warn: list[str] = []
    if expires_at - now <= EXPIRY_WARNING:
        warn.append(_("The token expires within 30 days."))
    if last_success_at is None:
        warn.append(_("Not synced yet."))
    elif now - last_success_at > STALE_AFTER:
        warn.append(_("The last successful sync is more than a day old."))
    return Health(WARNING, warn) if warn else Health(HEALTHY)
