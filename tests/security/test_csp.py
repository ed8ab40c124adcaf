"""Content-Security-Policy (django-csp) on every page, in every settings module; no inline script anywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests import factories

ROOT = Path(settings.BASE_DIR)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"""\son[a-z]+\s*=\s*["']""", re.I)
STYLE_ATTRIBUTE = re.compile(r"""\sstyle\s*=\s*["']""", re.I)


def _directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part}


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["home", "tokens:list", "apps:list", "directory:users", "login"])
def test_pages_carry_a_policy_that_forbids_inline_script(name, admin_web):
    response = admin_web.get(reverse(name))
    directives = _directives(response["Content-Security-Policy"])
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert all("'unsafe-inline'" not in v and "'unsafe-eval'" not in v for k, v in directives.items())
    page = response.content.decode()
    assert not INLINE_SCRIPT.search(page), INLINE_SCRIPT.search(page)
    assert not EVENT_HANDLER.search(page)


@pytest.mark.django_db
def test_api_docs_load_their_script_from_a_url(admin_web):
    response = admin_web.get("/api/v1/docs/")
    assert response.status_code == 200
    assert "'unsafe-inline'" not in _directives(response["Content-Security-Policy"])["script-src"]
    assert not INLINE_SCRIPT.search(response.content.decode())


def test_production_settings_send_the_policy():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 50,
        "FIELD_ENCRYPTION_KEY": "Mf0S7t7C6gLk0dmKZr6Yq3u0sNLwq9W8w1ZQ3nM6bZs=",
        "DJANGO_ALLOWED_HOSTS": "vpp.example.com",
    }
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.MIDDLEWARE, s.CONTENT_SECURITY_POLICY['DIRECTIVES']['script-src']]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    middleware, script_src = json.loads(out.stdout.strip().splitlines()[-1])
    assert "csp.middleware.CSPMiddleware" in middleware
    assert script_src == ["'self'"]


def test_templates_have_no_inline_scripts_handlers_or_style_attributes():
    offenders = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text()
        for pattern in (INLINE_SCRIPT, EVENT_HANDLER, STYLE_ATTRIBUTE):
            for match in pattern.finditer(text):
                offenders.append(f"{path.relative_to(ROOT)}: {match.group(0).strip()}")
    assert offenders == []


def test_behaviours_moved_out_of_templates_live_in_a_static_file(admin_web, db):
    script = (ROOT / "static" / "js" / "console.js").read_text()
    assert "data-submit-on-change" in script and "dataset.confirm" in script
    page = admin_web.get(reverse("home")).content.decode()
    assert "js/console.js" in page
    assert "data-submit-on-change" in page
    app = factories.AppFactory()
    assignments = admin_web.get(reverse("assignments:app-assignments", args=[app.pk])).content.decode()
    assert "data-confirm=" in assignments
