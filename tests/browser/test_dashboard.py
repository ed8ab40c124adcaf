"""The dashboard after a demo-like run in a real browser: two enrolled iPads, one license, a Required
assignment; one device installs, the other fails ("No licenses available"). The failed-install count on Home
leads to the app's failed rows and on to the device that failed. The console, a real Celery worker, the Apple
simulator and the NanoMDM stand-in talk over HTTP; the test waits on rows, never on time."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from directory.models import Device
from monitoring import services as monitoring
from tests import factories
from tests.assignments.conftest import add_members
from tests.browser.conftest import sign_in
from tests.deployment.conftest import wait_for
from tests.deployment.test_flows import _bundle, _enrol, _required, _states

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_dashboard_failed_install_count_leads_to_the_device_that_failed(
    page, administrator, apple, location, make_app, nanomdm, celery_worker, artifacts
):
    app = _bundle(apple, make_app(1, name="Field Guide"))
    group = factories.GroupFactory(name="Lab iPads", group_type="device")
    devices = factories.DeviceFactory.create_batch(2)
    add_members(group, devices=devices)
    devices = _enrol(nanomdm, devices)
    _required(apple, app, group, administrator)
    wait_for(lambda: _states(app) == {"installed": 1, "failed": 1}, message="one installed, one failed")
    failed = Device.objects.get(app_states__app=app, app_states__state="failed")
    monitoring.usage_snapshot_take()

    sign_in(page, administrator.username)
    page.goto("/")
    tile = page.locator("[data-testid=tile-failed-installs]")
    expect(tile.locator(".tile-value")).to_have_text("1")
    expect(page.locator(f"[data-testid=health-{app.vpp_token_id}]")).to_contain_text(app.vpp_token.name)
    expect(page.locator("[data-testid=chart-top-apps] img")).to_be_visible()
    page.screenshot(path=str(artifacts / "dashboard-desktop.png"), full_page=True)

    tile.click()
    count = page.locator(f"[data-testid=failed-installs-{app.pk}]")
    expect(count).to_have_text("1")
    count.click()
    page.wait_for_url(f"**/deployment/apps/{app.pk}/devices/?install_state=failed*")
    rows = page.locator("[data-testid=list-table] tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("No licenses available")
    rows.first.locator("a", has_text=failed.serial_number).click()
    page.wait_for_url(f"**/directory/devices/{failed.pk}/")
    expect(page.locator("h1")).to_contain_text(failed.name)
    expect(page.locator("[data-testid=device-apps]")).to_contain_text("Field Guide")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    expect(page.locator("[data-testid=tile-failed-installs] .tile-value")).to_have_text("1")
    page.screenshot(path=str(artifacts / "dashboard-390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
