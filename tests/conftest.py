"""Personas (administrator, help desk, anonymous), HTTP clients, the Apple simulator and required services.

Apple in tests is always the simulator over real HTTP. Tests that need PostgreSQL, Redis, a live worker or a
browser skip with the reason printed, except with REQUIRE_SERVICES=1 (CI), where a missing service fails them.
"""

from __future__ import annotations

import contextlib
import os
import shutil

import pytest
from django.conf import settings as django_settings
from django.utils import translation
from rest_framework.test import APIClient

from tests import factories

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false")


def need(available: bool, reason: str) -> None:
    """Skip (locally) or fail (CI, REQUIRE_SERVICES=1) when a service a test needs is missing."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def postgres(db):
    need(
        django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), "PostgreSQL (set DATABASE_URL)"
    )


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL", "")
    ok = False
    if url:
        import redis

        try:
            ok = bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
        except redis.RedisError:
            ok = False
    need(ok, "Redis (set REDIS_URL to a running server)")
    return url


# --- personas --------------------------------------------------------------------------------------------
@pytest.fixture
def administrator(db):
    return factories.AdministratorFactory()


@pytest.fixture
def help_desk(db):
    return factories.HelpDeskFactory()


@pytest.fixture
def no_role_user(db):
    return factories.UserFactory()


@pytest.fixture
def admin_web(client, administrator):
    client.force_login(administrator)
    return client


@pytest.fixture
def helpdesk_web(db, help_desk):
    from django.test import Client

    c = Client()
    c.force_login(help_desk)
    return c


@pytest.fixture
def anon_web(db):
    from django.test import Client

    return Client()


def api_key_for(user) -> str:
    """A new API key of `user` (setup, not audited). Marked as used just now, so that the first request of a
    test does not also write "last used" (query counts compare steady states)."""
    from django.utils import timezone

    from console.models import ApiKey

    key, plain = ApiKey.objects.create(user=user, expiry=None, name="tests")
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return plain


def _api_client(user) -> APIClient:
    api = APIClient()
    if user is not None:
        api.credentials(HTTP_AUTHORIZATION=f"Token {api_key_for(user)}")
    return api


@pytest.fixture
def admin_api(administrator):
    return _api_client(administrator)


@pytest.fixture
def helpdesk_api(help_desk):
    return _api_client(help_desk)


@pytest.fixture
def anon_api(db):
    return _api_client(None)


@pytest.fixture
def persona_clients(admin_web, helpdesk_web, anon_web):
    return {"administrator": admin_web, "help_desk": helpdesk_web, "anonymous": anon_web}


# --- Apple -----------------------------------------------------------------------------------------------
@pytest.fixture
def apple(settings, tmp_path):
    """A fresh in-process Apple simulator on a free loopback port; the console is pointed at it."""
    from vpp.simulator.testing import running_simulator

    with running_simulator(key_file=tmp_path / "simulator.key") as simulator:
        settings.APPLE_VPP_BASE_URL = simulator.base_url
        yield simulator


# --- Celery ----------------------------------------------------------------------------------------------
@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker consuming the configured broker in a thread (memory locally, Redis in CI)."""
    from celery.contrib.testing.worker import start_worker

    from config.celery_app import app

    if REQUIRE_SERVICES:
        need(django_settings.CELERY_BROKER_URL.startswith("redis://"), "Redis broker for the live worker")
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"
    ) as worker:
        yield worker


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request handled in Chinese leaves Chinese active in
    the thread (LocaleMiddleware activates, nothing deactivates), which a later test calling a service
    directly would otherwise inherit."""
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.activate(django_settings.LANGUAGE_CODE)


@pytest.fixture(scope="session", autouse=True)
def _drop_test_queue():
    """Tasks enqueued without a worker stay in this process's own queue; remove it from Redis at the end."""
    yield
    if django_settings.CELERY_BROKER_URL.startswith("redis://"):
        import redis

        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(django_settings.CELERY_BROKER_URL, socket_connect_timeout=2).delete(
                django_settings.CELERY_TASK_DEFAULT_QUEUE
            )
