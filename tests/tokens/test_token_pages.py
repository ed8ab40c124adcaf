"""Token console pages: personas, query-count guards, the create pane (T1, T2), detail (T7, B8), delete (T13),
revoke-all (T14), sync now (T6) and the sync-run pages."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests import factories
from tokens.models import SyncRun, VPPToken

pytestmark = pytest.mark.django_db

READ_PAGES = ["tokens:list", "tokens:detail", "tokens:sync-runs", "tokens:sync-run", "tokens:run-progress"]
WRITE_PAGES = ["tokens:create", "tokens:edit", "tokens:delete", "tokens:revoke-licenses"]


def _url(name: str, token: VPPToken, run: SyncRun) -> str:
    if name in ("tokens:detail", "tokens:edit", "tokens:delete", "tokens:revoke-licenses"):
        return reverse(name, kwargs={"pk": token.pk})
    if name in ("tokens:sync-run", "tokens:run-progress"):
        return reverse(name, kwargs={"pk": run.pk})
    return reverse(name)


@pytest.fixture
def token_and_run():
    token = factories.VPPTokenFactory()
    run = SyncRun.objects.create(
        vpp_token=token, trigger=SyncRun.Trigger.MANUAL, status=SyncRun.Status.RUNNING
    )
    return token, run


@pytest.mark.parametrize("page", READ_PAGES + WRITE_PAGES)
def test_pages_by_persona(page, token_and_run, admin_web, helpdesk_web, anon_web, no_role_user, client):
    url = _url(page, *token_and_run)
    assert admin_web.get(url).status_code == 200
    assert helpdesk_web.get(url).status_code == (403 if page in WRITE_PAGES else 200)
    response = anon_web.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    client.force_login(no_role_user)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    "name", ["tokens:sync", "tokens:delete", "tokens:revoke-licenses", "tokens:sync-all"]
)
def test_m4_help_desk_cannot_post_actions(name, helpdesk_web):
    token = factories.VPPTokenFactory()
    url = reverse(name) if name == "tokens:sync-all" else reverse(name, kwargs={"pk": token.pk})
    assert helpdesk_web.post(url).status_code == 403
    assert VPPToken.objects.filter(pk=token.pk).exists()
    assert not SyncRun.objects.exists()


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_token_list_query_count_is_flat(admin_web):
    for _ in range(3):
        factories.AppFactory(vpp_token=factories.VPPTokenFactory())
    few = _queries(admin_web, reverse("tokens:list"))
    for _ in range(27):
        factories.AppFactory(vpp_token=factories.VPPTokenFactory())
    assert _queries(admin_web, reverse("tokens:list")) == few


def test_sync_run_list_query_count_is_flat(admin_web):
    def add(n):
        for _ in range(n):
            SyncRun.objects.create(
                vpp_token=factories.VPPTokenFactory(), trigger="manual", status="completed"
            )

    add(3)
    few = _queries(admin_web, reverse("tokens:sync-runs"))
    add(27)
    assert _queries(admin_web, reverse("tokens:sync-runs")) == few


def test_t7_list_shows_expiry_sync_and_app_count_and_exports_csv(admin_web):
    token = factories.VPPTokenFactory(name="Marketing", last_sync_status="failed")
    factories.AppFactory(vpp_token=token)
    factories.AppFactory(vpp_token=token)
    page = admin_web.get(reverse("tokens:list")).content.decode()
    assert "Marketing" in page and "days left" in page and "Failed" in page
    assert reverse("tokens:create") in page and reverse("tokens:sync-all") in page
    response = admin_web.get(reverse("tokens:list") + "?search=market&export=csv")
    body = b"".join(response.streaming_content).decode()
    header, row = body.splitlines()[:2]
    assert header.startswith("Name,Organization,Location,Apple ID")
    assert row.startswith("Marketing,") and row.endswith(",2")
    assert token.token_content not in body


def test_help_desk_sees_no_write_buttons(helpdesk_web):
    token = factories.VPPTokenFactory()
    page = helpdesk_web.get(reverse("tokens:list")).content.decode()
    assert reverse("tokens:create") not in page
    detail = helpdesk_web.get(reverse("tokens:detail", kwargs={"pk": token.pk})).content.decode()
    assert reverse("tokens:delete", kwargs={"pk": token.pk}) not in detail


def _create_post(content: str, **overrides) -> dict:
    data = {
        "token_file": SimpleUploadedFile("acme.vpptoken", content.encode()),
        "name": "Acme HQ",
        "apple_id": "vpp@acme.example",
        "country_or_region": "US",
        "account_type": "business",
        "automatic_app_updates": "true",
        "acknowledge_single_mdm": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_t1_create_pane_uploads_and_redirects_to_the_token(apple, admin_web):
    content = apple.mint_token(org_name="Acme", location_name="HQ")
    form = admin_web.get(reverse("tokens:create")).content.decode()
    assert 'data-testid="single-mdm-warning"' in form
    response = admin_web.post(reverse("tokens:create"), _create_post(content))
    token = VPPToken.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("tokens:detail", kwargs={"pk": token.pk})
    detail = admin_web.get(response["Location"]).content.decode()
    assert "Acme" in detail and "HQ" in detail and 'data-testid="run-progress"' in detail


def test_t2_create_pane_without_confirmation_shows_the_error_inline(apple, admin_web):
    content = apple.mint_token(org_name="Acme", location_name="HQ")
    response = admin_web.post(reverse("tokens:create"), _create_post(content, acknowledge_single_mdm=None))
    assert response.status_code == 200
    page = response.content.decode()
    assert "cannot later be changed" in page and 'class="errorlist"' in page
    assert content not in page  # the token file is never echoed back
    assert not VPPToken.objects.exists()


def test_create_pane_shows_apples_refusal_inline(apple, admin_web):
    content = apple.mint_token(org_name="Acme", location_name="HQ")
    apple.set_token_state(apple.uid_of(content), "revoked")
    response = admin_web.post(reverse("tokens:create"), _create_post(content))
    assert response.status_code == 200
    assert "9625" in response.content.decode()
    assert not VPPToken.objects.exists()


def test_t15_edit_pane_renews_and_updates(apple, admin_web):
    content = apple.mint_token(org_name="Acme", location_name="HQ")
    admin_web.post(reverse("tokens:create"), _create_post(content))
    token = VPPToken.objects.get()
    SyncRun.objects.update(status=SyncRun.Status.COMPLETED)
    newer = apple.mint_token(org_name="Acme", location_name="HQ")
    response = admin_web.post(
        reverse("tokens:edit", kwargs={"pk": token.pk}),
        {
            "token_file": SimpleUploadedFile("new.vpptoken", newer.encode()),
            "name": "Renamed",
            "apple_id": token.apple_id,
            "country_or_region": "FR",
            "automatic_app_updates": "false",
        },
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert (token.name, token.country_or_region, token.automatic_app_updates) == ("Renamed", "FR", False)
    assert token.token_content == newer


def test_t13_delete_confirmation_spells_out_the_consequences(admin_web):
    token = factories.VPPTokenFactory()
    factories.AppFactory(vpp_token=token)
    url = reverse("tokens:delete", kwargs={"pk": token.pk})
    page = admin_web.get(url).content.decode()
    assert "NOT revoked" in page and "can no longer be revoked" in page
    response = admin_web.post(url)
    assert response.status_code == 302
    assert not VPPToken.objects.exists()


def test_t14_revoke_all_licenses_starts_a_license_run(admin_web):
    from assignments.models import LicenseRun

    token = factories.VPPTokenFactory()
    url = reverse("tokens:revoke-licenses", kwargs={"pk": token.pk})
    assert "Revoke every license" in admin_web.get(url).content.decode()
    response = admin_web.post(url)
    assert response.status_code == 302
    run = LicenseRun.objects.get()
    assert run.vpp_token == token and run.kind == LicenseRun.Kind.REVOKE_TOKEN


def test_t6_sync_now_queues_one_run_at_a_time(admin_web):
    token = factories.VPPTokenFactory()
    url = reverse("tokens:sync", kwargs={"pk": token.pk})
    assert admin_web.post(url).status_code == 302
    assert admin_web.post(url).status_code == 302
    run = SyncRun.objects.get()
    assert run.trigger == SyncRun.Trigger.MANUAL and run.status == SyncRun.Status.QUEUED


def test_sync_all_queues_valid_tokens_only(admin_web):
    factories.VPPTokenFactory()
    factories.VPPTokenFactory(state=VPPToken.State.REVOKED)
    response = admin_web.post(reverse("tokens:sync-all"))
    assert response.status_code == 302
    assert SyncRun.objects.count() == 1


def test_b8_progress_partial_polls_while_running_and_stops_when_done(admin_web):
    token = factories.VPPTokenFactory()
    run = SyncRun.objects.create(vpp_token=token, trigger="manual", status="running", progress=40)
    url = reverse("tokens:run-progress", kwargs={"pk": run.pk})
    page = admin_web.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 2s"' in page and "40%" in page
    SyncRun.objects.filter(pk=run.pk).update(status="failed", progress=100, error="Boom", error_number=9646)
    page = admin_web.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in page and "9646" in page and "Boom" in page
    detail = admin_web.get(reverse("tokens:detail", kwargs={"pk": token.pk})).content.decode()
    assert reverse("tokens:sync-run", kwargs={"pk": run.pk}) in detail


def test_sync_run_list_filters_by_token_status_and_trigger(admin_web):
    a, b = factories.VPPTokenFactory(name="Alpha"), factories.VPPTokenFactory(name="Beta")
    SyncRun.objects.create(vpp_token=a, trigger="manual", status="failed")
    SyncRun.objects.create(vpp_token=b, trigger="schedule", status="completed")
    url = reverse("tokens:sync-runs")
    body = b"".join(admin_web.get(f"{url}?vpp_token={a.pk}&export=csv").streaming_content).decode()
    assert "Alpha" in body and "Beta" not in body
    body = b"".join(
        admin_web.get(f"{url}?status=completed&trigger=schedule&export=csv").streaming_content
    ).decode()
    assert "Beta" in body and "Alpha" not in body


def test_t1_create_warns_when_the_chosen_country_differs_from_apples(apple, admin_web):
    content = apple.mint_token(org_name="Acme", location_name="London", country="GB")
    response = admin_web.post(reverse("tokens:create"), _create_post(content), follow=True)
    page = response.content.decode()
    assert "Apple reports United Kingdom as this location" in page
    assert "but United States was chosen" in page
    token = VPPToken.objects.get()
    assert token.apple_country_or_region == "GB"
    detail = admin_web.get(reverse("tokens:detail", kwargs={"pk": token.pk})).content.decode()
    assert 'data-testid="apple-mismatch"' in detail
    # Choosing Apple's country silences the warning.
    edit = admin_web.post(
        reverse("tokens:edit", kwargs={"pk": token.pk}),
        {
            "name": "Acme London",
            "apple_id": "vpp@acme.example",
            "country_or_region": "GB",
            "automatic_app_updates": "true",
        },
        follow=True,
    ).content.decode()
    assert "Apple reports" not in edit and 'data-testid="apple-mismatch"' not in edit


def test_t1_create_warns_when_the_chosen_account_type_differs_from_apples(apple, admin_web):
    content = apple.mint_token(org_name="Fabrikam School", location_name="Campus", account_type="education")
    page = admin_web.post(reverse("tokens:create"), _create_post(content), follow=True).content.decode()
    assert "account type as Education, but Business was chosen" in page
