"""The alert banner on every console page: open alerts nobody has acknowledged yet (one query)."""

from __future__ import annotations

from console import roles
from monitoring import selectors
from monitoring.messages import level_of, message_of

BANNER_LIMIT = 5


def alert_banners(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not roles.can_view(user):
        return {}
    alerts = list(selectors.banner_alerts()[: BANNER_LIMIT + 1])
    banners = [{"level": level_of(a), "text": message_of(a), "kind": a.kind} for a in alerts[:BANNER_LIMIT]]
    return {"alert_banners": banners, "alert_banners_more": len(alerts) > BANNER_LIMIT}
