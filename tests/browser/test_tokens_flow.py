"""A token from upload to synced apps, in a real browser, with a real Celery worker and the Apple simulator.

Tenant administration > Apple VPP tokens > Create: a garbage file is refused (nothing saved), then a token the
simulator minted is uploaded; its first sync is queued by the upload, "Sync now" starts (or reports) a sync
whose live progress is watched to the end, and Apps shows the location's apps with the simulator's counts.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GARAGEBAND = "408709785"


def _fill_token_form(page, path) -> None:
    page.set_input_files("#id_token_file", str(path))
    page.fill("#id_name", "Contoso HQ token")
    page.fill("#id_apple_id", "vpp-admin@contoso.example")
    page.select_option("#id_country_or_region", "US")
    page.select_option("#id_account_type", "business")
    page.check("#id_acknowledge_single_mdm")


def _row_cells(page, name: str) -> dict[str, str]:
    """The cells of the list-table row whose Name is `name`, keyed by column header."""
    table = page.locator("[data-testid=list-table]")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    row = table.locator("tbody tr").filter(has=page.get_by_role("link", name=name, exact=True))
    expect(row).to_have_count(1)
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    return dict(zip(headers, cells, strict=True))


def test_upload_token_sync_now_and_see_apps_with_counts(
    page, administrator, apple, celery_worker, artifacts, tmp_path
):
    from apps.models import App
    from tokens.models import SyncRun, VPPToken

    content = apple.mint_token(org_name="Contoso Ltd", location_name="Contoso HQ")
    uid = apple.uid_of(content)
    good = tmp_path / "contoso-hq.vpptoken"
    good.write_text(content)
    garbage = tmp_path / "garbage.vpptoken"
    garbage.write_bytes(b"\x00\x01 this is not a VPP token \xff\xfe")
    # Apple answers the asset listing slowly (once per sync), so each run stays visibly running for a moment.
    apple.add_fault("slow", delay=1.5, count=2, path="/mdm/v2/assets?")

    sign_in(page, administrator.username)
    page.click("nav.sidenav >> text=Tenant administration")
    page.wait_for_url("**/tokens/")
    expect(page.locator("ol.breadcrumbs")).to_contain_text("Apple VPP tokens")
    page.click("[data-testid=create-token]")
    page.wait_for_url("**/tokens/create/")
    expect(page.locator("h1")).to_have_text("Create VPP token")
    expect(page.locator("[data-testid=single-mdm-warning]")).to_be_visible()

    # Refusal: a file that is not a token is rejected on the file field, and nothing is created.
    _fill_token_form(page, garbage)
    page.click("[data-testid=token-form] button[type=submit]")
    error = page.locator("[data-testid=token-form] ul.errorlist").first
    expect(error).to_be_visible()
    expect(error).to_contain_text("The token file is not valid")
    expect(error).to_contain_text("exactly as downloaded from Apple Business or School Manager")
    assert page.url.endswith("/tokens/create/")
    assert VPPToken.objects.count() == 0
    assert SyncRun.objects.count() == 0

    # The real token: the form keeps the other fields; the file must be chosen again.
    expect(page.locator("#id_name")).to_have_value("Contoso HQ token")
    _fill_token_form(page, good)
    page.click("[data-testid=token-form] button[type=submit]")
    page.wait_for_url(re.compile(r"/tokens/\d+/$"))
    expect(page.locator("h1")).to_have_text("Contoso HQ token")
    expect(page.locator("[role=status]")).to_contain_text("its first sync has started")
    token = VPPToken.objects.get()
    assert token.location_uid == uid
    assert token.organization_name == "Contoso Ltd"
    assert SyncRun.objects.filter(vpp_token=token, trigger=SyncRun.Trigger.UPLOAD).count() == 1

    # Sync now: either a new run, or (the upload's first sync still going) the running one is reported.
    page.click("[data-testid=sync-now]")
    page.wait_for_url(re.compile(r"/tokens/\d+/$"))
    expect(page.locator("[role=status]")).to_contain_text(
        re.compile(r"Sync of “Contoso HQ token” requested|A sync of “Contoso HQ token” is already running")
    )
    progress = page.locator("[data-testid=run-progress]")
    expect(progress).to_be_visible()
    # The htmx partial re-polls every 2 s until the run is over; it then stops polling.
    expect(progress.locator(".status-completed")).to_be_visible(timeout=30_000)
    expect(progress).to_contain_text("100%")
    expect(progress).not_to_have_attribute("hx-get", re.compile(".+"))
    for run in SyncRun.objects.filter(vpp_token=token):
        assert run.status == SyncRun.Status.COMPLETED, run.error
    assert SyncRun.objects.filter(vpp_token=token).count() in (1, 2)
    page.reload()
    expect(page.locator("[data-testid=token-state]")).to_have_text("Valid")
    latest = page.locator("[data-testid=sync-history] tbody tr").first
    expect(latest.locator(".status")).to_have_text("Completed")

    # Apps: the location's apps with Apple's counts.
    page.click("nav.sidenav >> text=Apps")
    page.wait_for_url("**/apps/")
    expect(page.locator("h1")).to_have_text("Apps")
    assets = {a["adamId"]: a for a in apple.location(uid)["assets"]}
    assert App.objects.filter(vpp_token=token).count() == len(assets)
    garageband = _row_cells(page, "GarageBand")
    expected = assets[GARAGEBAND]
    assert (garageband["Token"], garageband["Adam ID"], garageband["Platforms"]) == (
        "Contoso HQ token",
        GARAGEBAND,
        "iOS",
    )
    assert (
        (garageband["Total"], garageband["Used"], garageband["Available"])
        == (
            str(expected["totalCount"]),
            str(expected["assignedCount"]),
            str(expected["availableCount"]),
        )
        == ("50", "3", "47")
    )
    procreate = _row_cells(page, "Procreate")
    assert (procreate["Total"], procreate["Used"], procreate["Available"]) == ("5", "5", "0")
    teams = _row_cells(page, "Microsoft Teams")
    assert (teams["Total"], teams["Available"]) == ("Unlimited", "Unlimited")
    page.screenshot(path=str(artifacts / "apps.png"), full_page=True)

    # One app's page carries the same counts.
    page.get_by_role("link", name="GarageBand", exact=True).click()
    tiles = page.locator("[data-testid=license-counts] .tile-value")
    expect(tiles).to_have_text(["50", "3", "47", "0"])
