"""The access matrix: every URL pattern of the URLconf × {anonymous, no role, help desk, administrator}.

- Anonymous users learn nothing: every page and endpoint answers them the same way whether or not the id in
  the URL exists (a sign-in redirect for pages, 401 for the API), and never shows an object.
- Someone signed in without a role sees nothing (404 everywhere, existing id or not).
- Help desk writes nothing: every write method on every URL is refused and the database is unchanged.
- Administrators never meet a server error on a GET.
"""

from __future__ import annotations

import pytest
from django.apps import apps as django_apps
from django.test import Client
from rest_framework.test import APIClient

from console.models import AuditEntry
from tests import factories
from tests.security.urlconf import MISSING_ID, routes, seed_objects

pytestmark = pytest.mark.django_db

# Reachable without signing in, on purpose.
PUBLIC = {
    "login",  # the sign-in page
    "logout",  # signing out when not signed in is harmless
    "healthz",  # load balancers; says "ok" and the version, nothing about the data
    "set_language",  # the language switch (a cookie)
    "tokens:notify",  # Apple's notifications: authenticated by the token's bearer secret, not a session
    "nanomdm-webhook",  # NanoMDM's events: authenticated by their HMAC signature (tests/deployment/test_webhook.py)
    "metrics",  # Prometheus: 404 unless enabled, then an address allow-list or a bearer token (its own tests)
}
# Help desk create and revoke their own API keys (a key has exactly its owner's rights).
HELP_DESK_SELF_SERVICE = {"api-keys", "api-key-revoke"}
WRITE_METHODS = ("post", "put", "patch", "delete")
# Inbound protocol endpoints with their own bearer-token authentication (SCIM 2.0 for identity providers):
# their own tests cover them; a session (signed in or not) never reaches their data.
OWN_AUTHENTICATION_PREFIXES = ("scim/v2/",)
ROUTES = [r for r in routes() if r.name not in PUBLIC and not r.route.startswith(OWN_AUTHENTICATION_PREFIXES)]
# Words that appear only on pages showing the seeded objects.
SEEDED_WORDS = ("Seeded Token Name", "Seeded App Name", "Seeded Person", "C02SEEDED01", "Seeded Group Name")


def _seed():
    seeded = seed_objects()
    seeded["token"].name = "Seeded Token Name"
    seeded["token"].save()
    seeded["app"].name = "Seeded App Name"
    seeded["app"].save()
    seeded["user"].display_name = "Seeded Person"
    seeded["user"].save()
    seeded["device"].serial_number = "C02SEEDED01"
    seeded["device"].save()
    seeded["group"].name = "Seeded Group Name"
    seeded["group"].save()
    return seeded


def _client(route, user):
    client = (APIClient if route.is_api else Client)(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def _answer(response) -> tuple:
    """What a response tells about the object: the status and where a redirect leads (without `next`)."""
    location = response.get("Location", "").split("?")[0]
    return response.status_code, location


def _state_counts() -> dict[str, int]:
    """Rows per table of the console's apps (every write changes one: at least its audit entry)."""
    counts = {}
    for label in ("console", "tokens", "apps", "directory", "assignments", "auth", "axes"):
        try:
            config = django_apps.get_app_config(label)
        except LookupError:
            continue
        for model in config.get_models():
            counts[model._meta.label] = model.objects.count()
    return counts


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_access_matrix_every_url_by_persona(route):
    """One URL pattern × {anonymous, no role, help desk, administrator} × its methods."""
    _seed()
    has_id = any(k not in route.uuid_kwargs for k in route.kwargs)
    methods = ("get", *WRITE_METHODS) if route.is_api else ("get", "post")

    # Anonymous: a sign-in redirect (pages) or 401 (API), the same for an existing and a missing id.
    anonymous = _client(route, None)
    for method in methods:
        existing = getattr(anonymous, method)(route.url())
        _assert_shows_nothing(existing, "anonymous", method)
        if route.is_api:
            assert existing.status_code == 401, ("anonymous", method, existing.status_code)
        else:
            assert existing.status_code == 302, ("anonymous", method, existing.status_code)
            assert existing["Location"].startswith("/login/")
        if has_id:
            missing = getattr(anonymous, method)(route.url(MISSING_ID))
            assert _answer(missing) == _answer(existing), ("anonymous", method)

    # Signed in without a role: nothing exists (404), whatever the id.
    nobody = _client(route, factories.UserFactory())
    for method in methods:
        existing = getattr(nobody, method)(route.url())
        _assert_shows_nothing(existing, "no role", method)
        assert existing.status_code in (404, 405), ("no role", method, existing.status_code)
        if has_id:
            assert getattr(nobody, method)(route.url(MISSING_ID)).status_code == existing.status_code

    # Help desk (M4): every write refused, nothing changed; reads work.
    desk = _client(route, factories.HelpDeskFactory())
    before = _state_counts()
    audit_before = AuditEntry.objects.count()
    if route.name not in HELP_DESK_SELF_SERVICE:
        for method in methods[1:]:
            response = getattr(desk, method)(route.url())
            assert response.status_code in (403, 405), ("help desk", method, response.status_code)
        assert _state_counts() == before
        assert AuditEntry.objects.count() == audit_before
    assert desk.get(route.url()).status_code < 500

    # Administrators: no server error on reads; a missing id is 404.
    admin = _client(route, factories.AdministratorFactory())
    assert admin.get(route.url()).status_code < 500
    if has_id:
        assert admin.get(route.url(MISSING_ID)).status_code in (404, 405)


def _assert_shows_nothing(response, persona: str, method: str) -> None:
    body = response.content.decode(errors="replace")
    assert not any(word in body for word in SEEDED_WORDS), (persona, method, body[:300])
