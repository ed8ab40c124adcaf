"""Brute force is throttled: console sign-in lock-out (django-axes) and API throttles (DRF)."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from console.models import AuditEntry
from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def _sign_in(client: Client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_hundred_wrong_passwords_then_the_right_one_does_not_sign_in(administrator, settings):
    settings.AXES_FAILURE_LIMIT = 5
    web = Client()
    for _attempt in range(100):
        response = _sign_in(web, administrator.username, "wrong")
    assert response.status_code == 429
    assert 'data-testid="locked-out"' in response.content.decode()
    right = _sign_in(web, administrator.username, PASSWORD)
    assert right.status_code == 429
    assert "_auth_user_id" not in web.session
    assert web.get(reverse("home")).status_code == 302  # still signed out
    # The lock is for this user name from this address: the same user from elsewhere still signs in.
    elsewhere = Client()
    assert _sign_in(elsewhere, administrator.username, PASSWORD, address="198.51.100.9").status_code == 302
    assert elsewhere.get(reverse("home")).status_code == 200


def test_lock_out_shows_after_the_configured_number_of_failures(administrator, settings):
    settings.AXES_FAILURE_LIMIT = 3
    web = Client()
    assert [_sign_in(web, administrator.username, "wrong").status_code for _ in range(3)] == [200, 200, 429]


def test_administrators_see_lock_outs_and_lift_them(administrator, help_desk, settings):
    settings.AXES_FAILURE_LIMIT = 3
    victim = factories.UserFactory(username="victim")
    attacker = Client()
    for _attempt in range(5):
        _sign_in(attacker, victim.username, "guess")
    attempt = AccessAttempt.objects.get(username="victim")
    admin = Client()
    admin.force_login(administrator)
    page = admin.get(reverse("sign-in-lockouts")).content.decode()
    assert "victim" in page and "203.0.113.7" in page and "Locked" in page
    assert 'data-testid="lift-lockout"' in page
    desk = Client()
    desk.force_login(help_desk)
    assert "victim" in desk.get(reverse("sign-in-lockouts")).content.decode()
    assert desk.post(reverse("sign-in-lockout-lift", args=[attempt.pk])).status_code == 403
    assert AccessAttempt.objects.filter(username="victim").exists()
    response = admin.post(reverse("sign-in-lockout-lift", args=[attempt.pk]))
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="victim").exists()
    assert AuditEntry.objects.filter(action="sign_in_lockout.lift", actor=administrator).exists()
    assert _sign_in(attacker, victim.username, PASSWORD).status_code == 302


def test_lock_out_page_query_count_is_flat(admin_web, django_assert_max_num_queries):
    for n in range(30):
        AccessAttempt.objects.create(
            username=f"u{n}", ip_address="203.0.113.7", user_agent="t", http_accept="*/*",
            path_info="/login/", get_data="", post_data="", failures_since_start=n,
        )  # fmt: skip
    with django_assert_max_num_queries(12):
        assert admin_web.get(reverse("sign-in-lockouts")).status_code == 200


def test_bad_api_keys_from_one_address_get_429_after_a_burst(settings, administrator, admin_api):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "1000/min", "user": "1000/min", "auth_failure": "10/min"},
    }
    attacker = APIClient()
    attacker.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    statuses = [attacker.get("/api/v1/apps/").status_code for _ in range(12)]
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]
    throttled = attacker.get("/api/v1/apps/")
    assert int(throttled["Retry-After"]) > 0
    assert "wrong credentials" in throttled.json()["detail"]
    # A valid key (the conftest fixture, however keys are stored) still works.
    assert admin_api.get("/api/v1/apps/").status_code == 200


def test_api_requests_are_throttled_per_user(settings, admin_api):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "1000/min", "user": "5/min", "auth_failure": "1000/min"},
    }
    statuses = [admin_api.get("/api/v1/apps/").status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429, 429]
