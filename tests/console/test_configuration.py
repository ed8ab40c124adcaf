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
    # docs/rules.md, Stable interfaces: the names other tools depend on.
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


def _settings_in_subprocess(module: str, environ: dict[str, str], names: list[str]) -> dict:
    """The named settings as a fresh process reads them from the environment."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {names!r}}}))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": module, **environ}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


EMAIL_NAMES = [
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
    "EMAIL_TIMEOUT",
    "DEFAULT_FROM_EMAIL",
    "SERVER_EMAIL",
]


def test_b5_email_configuration_comes_from_email_url():
    got = _settings_in_subprocess(
        "config.settings.local",
        {
            "EMAIL_URL": "smtp+tls://alerts%40example.com:p%40ss@mail.example.com:587?timeout=10",
            "DEFAULT_FROM_EMAIL": "VPP Console <vpp@example.com>",
        },
        EMAIL_NAMES,
    )
    assert got == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "alerts@example.com",
        "EMAIL_HOST_PASSWORD": "p@ss",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
        "EMAIL_TIMEOUT": 10,
        "DEFAULT_FROM_EMAIL": "VPP Console <vpp@example.com>",
        "SERVER_EMAIL": "VPP Console <vpp@example.com>",
    }


def test_b5_email_defaults_console_in_development_smtp_localhost_otherwise():
    local = _settings_in_subprocess("config.settings.local", {"EMAIL_URL": ""}, EMAIL_NAMES)
    assert local["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    base = _settings_in_subprocess("config.settings.base", {"EMAIL_URL": ""}, EMAIL_NAMES)
    assert (base["EMAIL_BACKEND"], base["EMAIL_HOST"], base["EMAIL_PORT"]) == (
        "django.core.mail.backends.smtp.EmailBackend",
        "localhost",
        25,
    )
    ssl = _settings_in_subprocess(
        "config.settings.base", {"EMAIL_URL": "smtp+ssl://u:p@mail.example.com:465"}, EMAIL_NAMES
    )
    assert (ssl["EMAIL_USE_SSL"], ssl["EMAIL_USE_TLS"], ssl["EMAIL_PORT"]) == (True, False, 465)


def test_email_url_with_an_unknown_option_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    from config.settings.base import email_settings

    with pytest.raises(ImproperlyConfigured, match="colour"):
        email_settings("smtp://mail.example.com:25?colour=blue")


def test_tests_keep_mail_in_memory(mailoutbox):
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.locmem.EmailBackend"
