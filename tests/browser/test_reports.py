"""Monitor › App licenses and Install status in a real browser, at a phone's width and a desktop's: the page
fits without sideways scrolling, passes axe-core, and a failed count leads to the device that failed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_responsive import VIEWPORTS, _check, _console_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sized_page(browser, live_server, request):
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=VIEWPORTS[request.param])
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield request.param, page
    context.close()


@pytest.mark.parametrize("sized_page", ["phone", "laptop"], indirect=True)
def test_reports_fit_the_screen_pass_axe_and_lead_to_the_failed_device(sized_page, help_desk, artifacts):
    viewport, page = sized_page
    app = _console_data()
    sign_in(page, help_desk.username)

    page.goto("/reports/app-licenses/")
    rows = page.locator("[data-testid=list-table] tbody tr")
    expect(rows).to_have_count(2)  # the Company Portal and Keynote, the app at its limit
    rows = rows.filter(has_text="Company Portal")
    expect(rows.first).to_contain_text("6 % (7 of 120 used)")
    _check(page, artifacts, "report-app-licenses", viewport)

    # The app's failed count opens the failed rows of Install status.
    rows.first.locator("td[data-label=Failed] a").click()
    page.wait_for_url(re.compile(rf"/reports/install-status/\?app={app.pk}&install_state=failed$"))
    status_rows = page.locator("[data-testid=list-table] tbody tr")
    expect(status_rows).to_have_count(1)
    expect(status_rows.first).to_contain_text("The device reported the failure without a reason.")
    expect(page.locator("[data-testid=state-counts] a[data-state=installed]")).to_contain_text("1")
    _check(page, artifacts, "report-install-status", viewport)

    # The counts per state filter the rows; the device picker finds a device by name.
    page.locator("[data-testid=state-counts] a[data-state=installed]").click()
    expect(status_rows).to_have_count(1)
    expect(status_rows.first).to_contain_text("Installed")
    page.goto("/reports/install-status/")
    expect(status_rows).to_have_count(2)
    box = page.locator("input[data-picker-text=device]")
    box.fill("Reception")
    option = page.locator("datalist option[value^='Reception iPad']")
    option.wait_for(state="attached")
    box.fill(option.get_attribute("value"))
    page.wait_for_url("**device=*")
    expect(status_rows).to_have_count(1)

    # The failed row opens the device that failed.
    status_rows.first.locator("td[data-label=Device] a").click()
    expect(page.locator("h1")).to_contain_text("Reception iPad with a long name")
    expect(page.locator("[data-testid=device-apps]")).to_contain_text("Failed")
