"""Assigning an app to a device group with too few licenses, in a real browser, end to end.

A synced token (iMovie cut down to 4 licenses at the simulator, 2 of them already used); an administrator
creates a device group in the UI and adds 4 devices, opens iMovie's Assignments pane, adds the group as
Required with device licensing, sees the pre-flight figures (4 needed, 2 available) and the oversubscription
warning, saves, and then sees 2 licenses assigned (Apple's notification, processed by a real Celery worker,
settles them) and the 2 others failed with "No licenses available", on the pane, the app page, the license
run and Monitor > Licenses.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IMOVIE = "377298193"


def _wait_for(predicate, *, timeout: float = 20.0, what: str = "condition"):
    """Poll `predicate` (a database check) until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_assign_group_with_too_few_licenses(
    page, administrator, apple, celery_worker, live_server, settings, artifacts
):
    from apps.models import App
    from assignments.events import poll_run
    from assignments.models import Assignment, License, LicenseRun
    from directory.models import Group
    from tokens.models import SyncRun
    from tokens.services import token_create

    # Apple posts its notifications to this console (the live server): they settle the licenses at once.
    settings.PUBLIC_BASE_URL = live_server.url

    content = apple.mint_token(org_name="Contoso Ltd", location_name="Contoso HQ")
    uid = apple.uid_of(content)
    apple.change_count(uid, IMOVIE, -46)  # 50 → 4 licenses; 2 are assigned already
    token = token_create(
        file=content,
        name="Contoso HQ",
        apple_id="vpp-admin@contoso.example",
        country_or_region="US",
        account_type="business",
        automatic_app_updates=False,
        acknowledge_single_mdm=True,
        actor=administrator,
    )
    run = SyncRun.objects.get(vpp_token=token)
    _wait_for(
        lambda: SyncRun.objects.filter(pk=run.pk).exclude(status__in=SyncRun.ACTIVE).exists(),
        what="the first sync",
    )
    run.refresh_from_db()
    assert run.status == SyncRun.Status.COMPLETED, run.error
    imovie = App.objects.get(vpp_token=token, adam_id=IMOVIE)
    assert (imovie.total_licenses, imovie.used_licenses, imovie.available_licenses) == (4, 2, 2)
    devices = [factories.DeviceFactory(name=f"Lab iPad {n}") for n in range(1, 5)]
    serials = [d.serial_number for d in devices]

    sign_in(page, administrator.username)

    # Groups › New group, then its members in order (the first members get the licenses).
    page.click("nav.sidenav >> text=Groups")
    page.wait_for_url("**/directory/groups/")
    page.click("[data-testid=new-group]")
    page.fill("#id_name", "Art lab iPads")
    page.select_option("#id_group_type", "device")
    page.fill("#id_description", "The iPads of the art lab")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/directory/groups/\d+/$"))
    expect(page.locator("h1")).to_have_text("Art lab iPads")
    page.fill("#id_members", "\n".join(serials))
    page.click("[data-testid=add-members]")
    expect(page.locator("[role=status]")).to_contain_text("4 member(s) added.")
    members = page.locator("[data-testid=members-table] tbody tr")
    expect(members).to_have_count(4)
    for row, serial in zip(members.all(), serials, strict=True):
        expect(row).to_contain_text(serial)
    group = Group.objects.get(name="Art lab iPads")

    # Apps › iMovie › Assignments.
    page.click("nav.sidenav >> text=Apps")
    page.wait_for_url("**/apps/")
    page.get_by_role("link", name="iMovie", exact=True).click()
    expect(page.locator("[data-testid=license-counts] .tile-value")).to_have_text(["4", "2", "2", "0"])
    page.click("[data-testid=app-assignments]")
    page.wait_for_url(f"**/assignments/apps/{imovie.pk}/")
    expect(page.locator("h1")).to_have_text("Assignments of iMovie")
    expect(page.locator("[data-testid=assignments-table]")).to_contain_text("not assigned to any group")

    # Add group: Required, device licensing; the htmx pre-flight shows the figures and the warning.
    form = page.locator("[data-testid=assignment-form]")
    form.locator("select[name=intent]").select_option("required")
    form.locator("select[name=license_type]").select_option("device")
    # The group is a type-ahead picker over the API's search.
    group_box = form.locator("input[data-picker-text=group]")
    group_box.fill("Art lab")
    form.locator("datalist option[value='Art lab iPads']").wait_for(state="attached")
    group_box.fill("Art lab iPads")
    preflight = page.locator("[data-testid=preflight]")
    expect(preflight).to_contain_text("This assignment needs 4 licenses; 2 are available.")
    expect(preflight).to_contain_text("Oversubscribed")
    expect(preflight).to_contain_text("No licenses available")
    expect(preflight).to_have_class(re.compile(r"\bwarning-box\b"))
    preflight.screenshot(path=str(artifacts / "assignment-preflight.png"))
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/assignments/apps/{imovie.pk}/")
    expect(page.locator(".banner-warning[role=status]")).to_contain_text(
        "Saved. This assignment needs 4 licenses and 2 are available"
    )
    expect(page.locator("[data-testid=assignments-table] tbody tr")).to_contain_text(
        ["Art lab iPads Device group Required Device licensing"]
    )
    assignment = Assignment.objects.get(app=imovie, group=group)
    assert (assignment.intent, assignment.license_type) == ("required", "device")

    # The worker allocates; Apple finishes the event and its notification, processed by the worker, settles
    # the licenses.
    _wait_for(
        lambda: (
            License.objects.filter(app=imovie, state=License.State.ASSIGNED).count() == 2
            and License.objects.filter(app=imovie, state=License.State.FAILED).count() == 2
        ),
        what="2 assigned and 2 failed licenses",
    )
    page.reload()
    licenses = page.locator("[data-testid=app-licenses] tbody tr")
    # Ours, and (T9) the two Apple already held for devices this console does not know.
    expect(licenses).to_have_count(6)
    for serial in ("C02HQD00001", "C02HQD00002"):
        expect(licenses.filter(has_text=serial).locator(".status")).to_have_text("Untracked")
    for serial in serials[:2]:
        row = licenses.filter(has_text=serial)
        expect(row.locator(".status")).to_have_text("Assigned")
    for serial in serials[2:]:
        row = licenses.filter(has_text=serial)
        expect(row.locator(".status")).to_have_text("Failed")
        expect(row).to_contain_text("No licenses available")
    expect(page.locator(".tile-error .tile-value")).to_have_text("2")
    page.screenshot(path=str(artifacts / "assignment.png"), full_page=True)

    # The license run ends at its next poll of Apple's events (a task every 30 s; done here at once): 2
    # succeeded, 2 failed.
    run = LicenseRun.objects.get(assignment=assignment)

    def run_finished() -> bool:
        run.refresh_from_db()
        return run.status == LicenseRun.Status.COMPLETED or poll_run(run)

    _wait_for(run_finished, what="the license run to finish")
    run.refresh_from_db()
    assert run.total == 4 and run.failed == 2
    page.click("nav.sidenav >> text=Monitor")
    page.click("nav.sidenav >> text=License runs")
    page.wait_for_url("**/assignments/runs/")
    page.locator("[data-testid=list-table] tbody tr").first.locator("a").first.click()
    progress = page.locator("[data-testid=run-progress]")
    expect(progress.locator(".status-completed")).to_be_visible(timeout=20_000)
    expect(progress).to_contain_text(re.compile(r"Total\s*4\W*Succeeded\s*2\W*Failed\s*2"))

    # The app page: all 4 licenses used, none available; Apple agrees.
    page.goto(f"/apps/{imovie.pk}/")
    expect(page.locator("[data-testid=license-counts] .tile-value")).to_have_text(["4", "4", "0", "0"])
    asset = next(a for a in apple.location(uid)["assets"] if a["adamId"] == IMOVIE)
    assert (asset["assignedCount"], asset["availableCount"]) == (4, 0)

    # Monitor › Licenses, failed ones of this app: the two last members, with the reason.
    page.goto(f"/assignments/licenses/?app={imovie.pk}&state=failed")
    rows = page.locator("[data-testid=list-table] tbody tr")
    expect(rows).to_have_count(2)
    for serial in serials[2:]:
        expect(rows.filter(has_text=serial)).to_contain_text("No licenses available")
