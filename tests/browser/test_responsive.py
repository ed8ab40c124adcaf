"""The console at a phone, a laptop and a wide screen: every main page fits and passes axe-core.

One browser for the session; each page group runs once per viewport (parametrized). Each visit saves a
screenshot to test-artifacts/, asserts the page body never scrolls sideways, and runs axe-core (served by the
console itself from static/vendor/axe-core) expecting no serious or critical violation.
"""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from monitoring.services import alerts_evaluate
from tests import factories
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {
    "phone": {"width": 390, "height": 844},
    "laptop": {"width": 1280, "height": 800},
    "wide": {"width": 1920, "height": 1080},
}

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""


def _console_data():
    from assignments.allocation import NO_LICENSES
    from assignments.models import Assignment, License

    token = factories.VPPTokenFactory(
        name="Contoso Headquarters, Redmond — primary location token",
        organization_name="Contoso Ltd",
    )
    app = factories.AppFactory(
        vpp_token=token,
        name="Microsoft Intune Company Portal for iPad and iPhone (long name)",
        bundle_id="com.microsoft.CompanyPortal.with.a.rather.long.bundle.identifier",
        total_licenses=120,
        used_licenses=7,
        available_licenses=113,
    )
    group = factories.GroupFactory(name="All iPads in the Redmond campus, building 92")
    assignment = Assignment.objects.create(app=app, group=group, intent="required", license_type="device")
    device = factories.DeviceFactory()
    person = factories.DirectoryUserFactory(display_name="Adele Vance")
    License.objects.create(
        app=app,
        assignment=assignment,
        license_type="device",
        device=device,
        state="assigned",
        apple_serial_number=device.serial_number,
    )
    License.objects.create(
        app=app,
        assignment=assignment,
        license_type="user",
        user=person,
        state="failed",
        error=NO_LICENSES,
    )
    from deployment.models import DeviceAppState, InstallState

    DeviceAppState.objects.create(device=device, app=app, state=InstallState.INSTALLED)
    DeviceAppState.objects.create(
        device=factories.DeviceFactory(name="Reception iPad with a long name"),
        app=app,
        state=InstallState.FAILED,
    )
    # An expiring token and an app at its limit: banners on every page, rows in Monitor › Alerts.
    factories.AppFactory(vpp_token=token, name="Keynote", total_licenses=10, used_licenses=10)
    factories.VPPTokenFactory(name="Fabrikam", expires_at=timezone.now() + timezone.timedelta(days=6))
    alerts_evaluate()
    return app


def _axe(page) -> list:
    """axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    return page.evaluate(AXE_RUN)


def _check(page, artifacts, name: str, viewport: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts / f"{name}-{viewport}.png"), full_page=True)
    widths = page.evaluate(
        "() => ({body: document.body.scrollWidth, doc: document.documentElement.scrollWidth,"
        " viewport: document.documentElement.clientWidth})"
    )
    assert widths["body"] <= widths["viewport"] and widths["doc"] <= widths["viewport"], (
        f"{name} at {viewport} scrolls sideways: {widths}"
    )
    violations = _axe(page)
    assert violations == [], f"{name} at {viewport}: " + json.dumps(violations, indent=1)


@pytest.fixture
def sized_page(browser, live_server, request):
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=VIEWPORTS[request.param])
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield request.param, page
    context.close()


@pytest.mark.parametrize("sized_page", list(VIEWPORTS), indirect=True)
def test_main_pages_fit_the_screen_and_pass_axe(sized_page, administrator, artifacts):
    viewport, page = sized_page
    app = _console_data()
    sign_in(page, administrator.username)
    _check(page, artifacts, "home", viewport)

    page.goto("/apps/")
    assert page.locator("h1").inner_text()
    _check(page, artifacts, "apps", viewport)

    page.goto(f"/assignments/apps/{app.pk}/")
    page.wait_for_selector("[data-testid=assignments-table]")
    _check(page, artifacts, "app-assignments", viewport)

    page.goto(f"/deployment/apps/{app.pk}/devices/")
    page.wait_for_selector("[data-testid=list-table]")
    _check(page, artifacts, "app-install-status", viewport)

    page.goto("/assignments/licenses/")
    page.wait_for_selector("[data-testid=list-table]")
    _check(page, artifacts, "monitor-licenses", viewport)

    page.goto("/monitor/alerts/")
    page.wait_for_selector("[data-testid=list-table]")
    _check(page, artifacts, "monitor-alerts", viewport)

    page.goto("/tokens/create/")
    page.wait_for_selector("form")
    _check(page, artifacts, "token-form", viewport)


def test_phone_navigation_is_a_menu_reachable_by_keyboard(browser, live_server, administrator):
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=VIEWPORTS["phone"])
    page = context.new_page()
    try:
        sign_in(page, administrator.username)
        nav = page.locator("nav.sidenav")
        toggle = page.locator("[data-testid=menu-toggle]")
        assert not nav.is_visible()
        assert toggle.get_attribute("aria-expanded") == "false"
        toggle.focus()
        page.keyboard.press("Enter")
        assert nav.is_visible()
        assert toggle.get_attribute("aria-expanded") == "true"
        # Focus moves into the menu; Escape closes it and returns focus to the button.
        assert page.evaluate("() => document.activeElement.closest('nav.sidenav') !== null")
        page.keyboard.press("Escape")
        assert not nav.is_visible()
        assert page.evaluate("() => document.activeElement.dataset.testid") == "menu-toggle"
        toggle.click()
        page.locator("nav.sidenav >> text=Audit log").click()
        page.wait_for_url("**/audit-log/")
        assert page.locator("h1").inner_text() == "Audit log"
    finally:
        context.close()


def test_wide_screen_shows_navigation_without_menu_button(browser, live_server, administrator):
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=VIEWPORTS["laptop"])
    page = context.new_page()
    try:
        sign_in(page, administrator.username)
        assert page.locator("nav.sidenav").is_visible()
        assert not page.locator("[data-testid=menu-toggle]").is_visible()
        # The first Tab reaches the skip link, which moves focus to the page content.
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.className") == "skip-link"
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "main"
    finally:
        context.close()


def test_license_filters_pick_people_and_apps_by_name_through_the_api(page, administrator):
    """Monitor › Licenses: typing a name finds the user through the API's search; the table follows."""
    app = _console_data()
    sign_in(page, administrator.username)
    page.goto("/assignments/licenses/")
    rows = page.locator("[data-testid=list-table] tbody tr")
    assert rows.count() == 2
    # The labels name things, not ids.
    labels = page.locator("form.filters label").all_inner_texts()
    assert not any(label.strip().lower().endswith(" id") for label in labels), labels

    user_box = page.locator("input[data-picker-text=user]")
    user_box.fill("Adele")
    option = page.locator("datalist option[value^='Adele Vance']")
    option.wait_for(state="attached")
    user_box.fill(option.get_attribute("value"))
    page.wait_for_url("**user=*")
    # Web-first waits (no string evaluated in the page: the console's CSP forbids eval, which a polling
    # wait_for_function needs once the first check fails).
    expect(rows).to_have_count(1)
    assert "No licenses available" in rows.first.inner_text()

    # The chosen user survives a reload: the box shows the name again, read back from the API.
    page.reload()
    expect(page.locator("input[data-picker-text=user]")).to_have_value(re.compile(r"^Adele Vance"))

    app_box = page.locator("input[data-picker-text=app]")
    app_box.fill("Company Portal")
    option = page.locator(f"datalist option[value$='{app.adam_id}']")
    option.wait_for(state="attached")
    app_box.fill(option.get_attribute("value"))
    page.wait_for_url(f"**app={app.pk}*")
    expect(rows).to_have_count(1)


def _every_page(administrator) -> dict[str, str]:
    """name → URL of every main page of the navigation, with a row of each kind to show."""
    from assignments.models import LicenseRun
    from console import api_keys, audit
    from console.models import Run
    from scim import services as scim_services
    from tokens.models import SyncRun

    app = _console_data()
    token, assignment = app.vpp_token, app.assignments.get()
    person, device = factories.DirectoryUserFactory(display_name="Megan Bowen"), factories.DeviceFactory()
    group = assignment.group
    sync = SyncRun.objects.create(kind="sync", vpp_token=token, status="completed", progress=100)
    license_run = LicenseRun.objects.create(kind="allocate", app=app, assignment=assignment, status="running")
    audit.record(
        actor=administrator, action="assignment.create", obj=assignment, after={"intent": "required"}
    )
    api_keys.api_key_create(user=administrator, name="Inventory script", actor=administrator)
    scim_client, _token = scim_services.scim_client_create(name="Entra ID", actor=administrator)
    return {
        "home": "/",
        "tokens": "/tokens/",
        "token": f"/tokens/{token.pk}/",
        "token-form": "/tokens/create/",
        "token-edit": f"/tokens/{token.pk}/edit/",
        "sync-runs": "/tokens/sync-runs/",
        "sync-run": f"/tokens/sync-runs/{sync.pk}/",
        "apps": "/apps/",
        "books": "/apps/books/",
        "app": f"/apps/{app.pk}/",
        "app-assignments": f"/assignments/apps/{app.pk}/",
        "app-install-devices": f"/deployment/apps/{app.pk}/devices/",
        "app-install-users": f"/deployment/apps/{app.pk}/users/",
        "users": "/directory/users/",
        "user": f"/directory/users/{person.pk}/",
        "devices": "/directory/devices/",
        "device": f"/directory/devices/{device.pk}/",
        "groups": "/directory/groups/",
        "group": f"/directory/groups/{group.pk}/",
        "import": "/directory/import/",
        "monitor-licenses": "/assignments/licenses/",
        "monitor-alerts": "/monitor/alerts/",
        "report-app-licenses": "/reports/app-licenses/",
        "report-install-status": "/reports/install-status/",
        "report-assignments": "/reports/assignments/",
        "license-runs": "/assignments/runs/",
        "license-run": f"/assignments/runs/{license_run.pk}/",
        "runs": "/runs/",
        "run": f"/runs/{Run.objects.get(pk=sync.pk).pk}/",
        "reconciliation": "/assignments/reconciliation/",
        "audit-log": "/audit-log/",
        "api-keys": "/api-keys/",
        "scim-clients": "/scim-clients/",
        "scim-client": f"/scim-clients/{scim_client.pk}/",
        "not-found": "/no-such-page/",
    }


# At 390 px: the pages whose tables and forms fold the most.
PHONE_PAGES = ["home", "token", "token-form", "app", "users", "device", "runs", "audit-log", "not-found"]


def test_every_main_page_passes_axe_at_desktop_and_a_phone(browser, live_server, administrator, artifacts):
    """axe-core on every page of the navigation (one browser context, one visit each): no serious or critical
    violation at 1280 px, nor at 390 px for the pages that change the most on a phone."""
    pages = _every_page(administrator)
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=VIEWPORTS["laptop"])
    context.set_default_timeout(15_000)
    page = context.new_page()
    found: dict[str, list] = {}
    try:
        sign_in(page, administrator.username)
        visits = [(name, "laptop") for name in pages] + [(name, "phone") for name in PHONE_PAGES]
        for name, viewport in visits:
            page.set_viewport_size(VIEWPORTS[viewport])
            response = page.goto(pages[name])
            assert response is not None and response.status == (404 if name == "not-found" else 200), name
            expect(page.locator("h1").first).to_be_visible()
            if violations := _axe(page):
                found[f"{name} at {viewport}"] = violations
    finally:
        context.close()
    assert found == {}, json.dumps(found, indent=1)
