"""Playwright driving Debian's Chromium against a live server (pytest-django's live_server).

Playwright's own browser download cannot work here, so the harness launches the system Chromium
(`CHROMIUM_PATH`, else `chromium` on PATH). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import chromium_path, need
from tests.deployment.conftest import location, make_app, nanomdm  # noqa: F401  (fixtures of the deployment flow)

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
# Playwright's sync API runs an event loop in the test thread; the ORM calls tests make are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    need(path is not None, "Chromium (apt-get install chromium, or set CHROMIUM_PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        need(False, "the playwright package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport={"width": 1366, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def sign_in(page, username: str, password: str = "correct horse battery staple") -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=signed-in-user]")
