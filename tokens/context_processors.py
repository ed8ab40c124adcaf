"""Template context of the tokens app: the token expiry banners on every console page."""

from __future__ import annotations

from console import roles
from tokens.alerts import token_banners as _banners


def token_banners(request) -> dict:
    """`token_banners` for people who may read the console (30/14/7 days and expired)."""
    user = getattr(request, "user", None)
    if user is None or not roles.can_view(user):
        return {}
    return {"token_banners": _banners()}
