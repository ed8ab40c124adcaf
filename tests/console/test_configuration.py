"""Configuration that other tools rely on: the environment variables, the broker, the Makefile commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def _variables_read_by_settings() -> set[str]:
    names: set[str] = set()
    pattern = re.compile(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']""")
    for path in (ROOT / "config" / "settings").glob("*.py"):
        names.update(pattern.findall(path.read_text()))
    return names


def test_env_example_lists_every_variable_the_settings_read():
    listed = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    missing = _variables_read_by_settings() - listed
    assert not missing, f".env.example does not list {sorted(missing)}"


def test_product_interface_variables_are_read():
    # product.md §5: the names other tools depend on.
    for name in [
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "APPLE_VPP_BASE_URL",
        "PUBLIC_BASE_URL",
        "FIELD_ENCRYPTION_KEY",
        "DJANGO_SECRET_KEY",
    ]:
        assert name in _variables_read_by_settings()


def test_readme_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


@pytest.mark.redis
def test_healthz_with_redis_broker(redis_url, client, db):
    from config.celery_app import app
    from console.tasks import heartbeat

    heartbeat()

    original = app.conf.broker_url
    app.conf.broker_url = redis_url
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 200
    assert response.json()["broker"] == "ok"
