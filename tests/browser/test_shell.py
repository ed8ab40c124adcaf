"""The console shell in a real browser: sign-in, navigation, language switch, a screenshot of home."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_navigate_and_screenshot_home(page, administrator, artifacts, live_server):
    sign_in(page, administrator.username)
    assert page.locator("[data-testid=signed-in-user]").inner_text().startswith(administrator.username)
    assert page.locator("h1").inner_text() == "Home"
    page.screenshot(path=str(artifacts / "home.png"), full_page=True)
    assert (artifacts / "home.png").stat().st_size > 1000

    page.click("nav.sidenav >> text=Audit log")
    page.wait_for_url("**/audit-log/")
    assert page.locator("h1").inner_text() == "Audit log"
    # The breadcrumb leads back home.
    page.click("ol.breadcrumbs >> text=Home")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "Home"


def test_wrong_password_shows_an_error(page, administrator):
    page.goto("/login/")
    page.fill("#id_username", administrator.username)
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.locator(".banner-error").is_visible()


def test_language_switch_to_simplified_chinese_and_back(page, help_desk):
    sign_in(page, help_desk.username)
    page.select_option("[data-testid=language-switch]", "zh-hans")
    page.wait_for_selector("html[lang=zh-hans]")
    assert page.locator("h1").inner_text() == "主页"
    page.select_option("[data-testid=language-switch]", "en")
    page.wait_for_selector("html[lang=en]")
    assert page.locator("h1").inner_text() == "Home"
