"""Live pages agree with themselves: while a run is active the whole summary refreshes, without a reload."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests import factories
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_token_summary_follows_a_sync_to_its_end_without_reload(page, administrator):
    from tokens.models import SyncRun, VPPToken

    token = factories.VPPTokenFactory(name="Contoso HQ")
    run = SyncRun.objects.create(vpp_token=token, status=SyncRun.Status.RUNNING, progress=50)
    VPPToken.objects.filter(pk=token.pk).update(last_sync_status=VPPToken.SyncStatus.IN_PROGRESS)
    sign_in(page, administrator.username)
    page.goto(f"/tokens/{token.pk}/")
    summary = page.locator("[data-testid=live-summary]")
    assert summary.get_attribute("data-live") == "1"
    assert "In progress" in summary.inner_text()
    # A marker the page would lose on a reload: the refresh must swap the summary in place.
    page.evaluate("window.__not_reloaded = true")

    # The worker finishes: three apps synced, the run completed, the token's last sync recorded.
    factories.AppFactory.create_batch(3, vpp_token=token)
    now = timezone.now()
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.COMPLETED, progress=100, finished_at=now)
    VPPToken.objects.filter(pk=token.pk).update(
        last_sync_status=VPPToken.SyncStatus.COMPLETED, last_sync_at=now
    )

    page.wait_for_selector("[data-testid=live-summary]:not([data-live])", timeout=10_000)
    text = summary.inner_text()
    # Progress, properties and history say the same thing: completed, apps counted, nothing queued.
    assert page.locator("[data-testid=run-status]").inner_text() == "Completed"
    assert "In progress" not in text and "Never synced" not in text and "Queued" not in text
    assert "Apps\n3" in text or "Apps\t3" in text
    latest = page.locator("[data-testid=sync-history] tbody tr").first
    assert latest.locator(".status").inner_text() == "Completed"
    assert page.evaluate("window.__not_reloaded === true")


def test_sync_runs_list_refreshes_while_a_run_is_active(page, administrator):
    from tokens.models import SyncRun

    token = factories.VPPTokenFactory(name="Contoso HQ")
    run = SyncRun.objects.create(vpp_token=token, status=SyncRun.Status.QUEUED)
    sign_in(page, administrator.username)
    page.goto("/tokens/sync-runs/")
    assert page.locator("[data-testid=live-table]").count() == 1
    page.evaluate("window.__not_reloaded = true")
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.COMPLETED, finished_at=timezone.now())
    page.wait_for_selector("[data-testid=list-table] .status-completed", timeout=10_000)
    # Once nothing is active the table stops polling.
    assert page.locator("[data-testid=live-table]").count() == 0
    assert page.evaluate("window.__not_reloaded === true")
