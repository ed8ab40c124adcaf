"""API throttles: per signed-in user, per address for anonymous requests and for failed credentials.

DRF authenticates before its throttles run, so a request with a wrong key ends in AuthenticationFailed and
never reaches them; the API's exception handler counts those failures with `AuthFailureThrottle` instead, and
once an address has used up its `auth_failure` rate it is answered 429 until the window passes.

The rates are read from the settings when a request is checked (DRF's own classes read them once, at import).
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


class _CurrentRates:
    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class UserThrottle(_CurrentRates, UserRateThrottle):
    """`user` rate per signed-in user (per address for anonymous requests that get this far)."""


class AnonThrottle(_CurrentRates, AnonRateThrottle):
    """`anon` rate per address for anonymous requests that reach the throttles."""


class AuthFailureThrottle(_CurrentRates, SimpleRateThrottle):
    """`auth_failure` rate of failed credentials per client address."""

    scope = "auth_failure"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
