"""One Required assignment followed on the app's Device install status pane, in a real browser: the device is
busy (NotNow) so the install waits in "Pending install"; when it checks in again the install goes through and
the pane shows "Installed". The console, a real Celery worker, the Apple simulator and the NanoMDM stand-in
talk over HTTP."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from assignments.services import assignment_create
from deployment.models import DeviceAppState
from tests import factories
from tests.assignments.conftest import add_members, settle
from tests.browser.conftest import sign_in
from tests.deployment.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _reload_until(page, selector: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator(selector).count():
            return
        time.sleep(0.5)
        page.reload()
    pytest.fail(f"{selector} did not appear")


def test_d2_required_assignment_goes_from_pending_install_to_installed(
    page,
    administrator,
    apple,
    location,
    make_app,
    nanomdm,
    celery_worker,
    artifacts,
):
    from assignments.models import LicenseRun
    from directory.models import Device

    app = make_app(3, name="Field Guide")
    info = apple.state.find_licenses(app.adam_id)
    app.bundle_id = info["bundleId"] or f"app.adam{app.adam_id}"
    app.save(update_fields=["bundle_id"])
    device = factories.DeviceFactory(name="Lab iPad 1")
    nanomdm.enroll_serials([device.serial_number])
    wait_for(lambda: Device.objects.filter(pk=device.pk, mdm_enrolled=True).exclude(udid="").exists())
    device.refresh_from_db()  # named as the device reported itself when it enrolled
    group = factories.GroupFactory(name="Lab iPads", group_type="device")
    add_members(group, devices=[device])
    nanomdm.set_behaviour(device.udid, not_now=True)  # busy: the install waits

    assignment = assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    run = wait_for(
        lambda: LicenseRun.objects.filter(assignment=assignment, summary__has_key="requested").first(),
        message="the allocation asked Apple",
    )
    settle(apple, run, rounds=8)
    wait_for(
        lambda: (
            DeviceAppState.objects.filter(app=app, device=device, state="pending_install").exists()
            and device.mdm_commands.filter(status="not_now").exists()
        ),
        message="install pending on a busy device",
    )

    sign_in(page, administrator.username)
    page.goto(f"/apps/{app.pk}/")
    page.click("[data-testid=app-device-status]")
    page.wait_for_url(f"**/deployment/apps/{app.pk}/devices/")
    row = page.locator("[data-testid=list-table] tbody tr", has_text=device.serial_number)
    expect(row.locator("[data-state=pending_install]")).to_have_text("Pending install")
    expect(row).to_contain_text(device.udid)
    page.screenshot(path=str(artifacts / "deployment-pending-install.png"), full_page=True)

    nanomdm.set_behaviour(device.udid, not_now=False)
    nanomdm.check_in(device.udid)
    _reload_until(page, "[data-testid=list-table] [data-state=installed]")
    row = page.locator("[data-testid=list-table] tbody tr", has_text=device.serial_number)
    expect(row.locator("[data-state=installed]")).to_have_text("Installed")
    page.screenshot(path=str(artifacts / "deployment-installed.png"), full_page=True)

    # The device page lists the app with its license and install state.
    row.locator("a", has_text=device.serial_number).click()
    section = page.locator("[data-testid=device-apps]")
    expect(section).to_contain_text("Field Guide")
    expect(section.locator("[data-state=installed]")).to_have_text("Installed")
