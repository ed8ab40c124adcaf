"""Token expiry banners (30/14/7 days and expired) shown on every console page."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tokens.models import VPPToken

BANNER_DAYS = (30, 14, 7)


def token_banners() -> list[dict]:
    """One banner per token that expires within 30 days or has expired; one query."""
    now = timezone.now()
    soon = VPPToken.objects.filter(expires_at__lte=now + timezone.timedelta(days=BANNER_DAYS[0])).only(
        "id", "name", "expires_at", "state"
    )
    banners = []
    for token in soon:
        if token.expires_at <= now or token.state == VPPToken.State.EXPIRED:
            banners.append(
                {
                    "level": "error",
                    "token": token,
                    "text": _("The VPP token “%(name)s” has expired.") % {"name": token.name},
                }
            )
            continue
        days = (token.expires_at - now).days
        level = "error" if days < BANNER_DAYS[2] else "warning"
        text = ngettext(
            "The VPP token “%(name)s” expires in %(days)d day.",
            "The VPP token “%(name)s” expires in %(days)d days.",
            days,
        ) % {"name": token.name, "days": days}
        banners.append({"level": level, "token": token, "text": text})
    return banners
