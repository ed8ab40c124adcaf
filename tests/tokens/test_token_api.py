"""`vpp-tokens/` and `sync-runs/` API (docs/rules.md, Stable interfaces): contract fields, no secrets,
personas, query counts."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.models import App
from tests import factories
from tokens.models import SyncRun, VPPToken

pytestmark = pytest.mark.django_db

TOKEN_FIELDS = {
    "id", "name", "organization_name", "location_name", "apple_id", "account_type", "country_or_region",
    "state", "expires_at", "last_sync_at", "last_sync_status", "automatic_app_updates", "app_count",
}  # fmt: skip
RUN_FIELDS = {
    "id", "vpp_token", "trigger", "status", "progress", "started_at", "finished_at", "error", "error_number",
}  # fmt: skip
TOKENS = "/api/v1/vpp-tokens/"
RUNS = "/api/v1/sync-runs/"


def _create_data(content: str, **overrides) -> dict:
    data = {
        "token_file": SimpleUploadedFile("acme.vpptoken", content.encode()),
        "name": "Acme HQ",
        "apple_id": "vpp@acme.example",
        "country_or_region": "US",
        "account_type": "business",
        "automatic_app_updates": "true",
        "acknowledge_single_mdm": "true",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_t1_api_create_returns_the_contract_fields_and_no_secret(apple, admin_api):
    content = apple.mint_token(org_name="Acme", location_name="HQ")
    response = admin_api.post(TOKENS, _create_data(content), format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= TOKEN_FIELDS
    assert body["state"] == "valid" and body["organization_name"] == "Acme" and body["location_name"] == "HQ"
    assert body["automatic_app_updates"] is True and body["app_count"] == 0
    token = VPPToken.objects.get()
    text = response.content.decode()
    assert content not in text and token.notification_secret not in text
    for forbidden in ("token_content", "notification_secret", "token_sha256", "mdm_info_id"):
        assert forbidden not in body


def test_t2_api_create_requires_acknowledgement(apple, admin_api):
    content = apple.mint_token(org_name="Acme", location_name="HQ")
    response = admin_api.post(TOKENS, _create_data(content, acknowledge_single_mdm=None), format="multipart")
    assert response.status_code == 400
    assert "acknowledge_single_mdm" in response.json()
    assert not VPPToken.objects.exists()


def test_api_create_refusal_names_the_problem(apple, admin_api):
    response = admin_api.post(TOKENS, _create_data("garbage!"), format="multipart")
    assert response.status_code == 400
    assert "Base64" in " ".join(response.json()["token_file"])


def test_t3_api_limit_message(apple, admin_api, settings):
    settings.VPP_MAX_TOKENS = 1
    factories.VPPTokenFactory()
    content = apple.mint_token(org_name="Acme", location_name="HQ")
    response = admin_api.post(TOKENS, _create_data(content), format="multipart")
    assert response.status_code == 400
    assert "At most 1 VPP tokens" in response.json()["detail"]


def test_list_and_retrieve_fields(admin_api):
    token = factories.VPPTokenFactory()
    factories.AppFactory(vpp_token=token)
    body = admin_api.get(TOKENS).json()
    assert set(body) == {"count", "next", "previous", "results"}
    item = body["results"][0]
    assert set(item) >= TOKEN_FIELDS and item["app_count"] == 1
    assert "token_content" not in item and token.token_content not in str(body)
    assert admin_api.get(f"{TOKENS}{token.pk}/").json()["id"] == token.pk


def test_list_filters_match_the_page(admin_api):
    factories.VPPTokenFactory(name="Alpha", state="revoked")
    factories.VPPTokenFactory(name="Beta")
    assert [t["name"] for t in admin_api.get(f"{TOKENS}?state=revoked").json()["results"]] == ["Alpha"]
    assert [t["name"] for t in admin_api.get(f"{TOKENS}?search=bet").json()["results"]] == ["Beta"]


def test_t10_patch_changes_editable_fields(admin_api):
    token = factories.VPPTokenFactory()
    response = admin_api.patch(
        f"{TOKENS}{token.pk}/",
        {"name": "New", "country_or_region": "JP", "automatic_app_updates": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["country_or_region"] == "JP"
    # The schema lists the ISO codes (upper case): anything else is refused with the value named.
    for value in ("ZZ", "jp"):
        response = admin_api.patch(f"{TOKENS}{token.pk}/", {"country_or_region": value}, format="json")
        assert response.status_code == 400
        assert response.json() == {"country_or_region": [f'"{value}" is not a valid choice.']}


def test_t15_api_renew(apple, admin_api):
    content = apple.mint_token(org_name="Acme", location_name="HQ")
    token_id = admin_api.post(TOKENS, _create_data(content), format="multipart").json()["id"]
    factories.AppFactory(vpp_token_id=token_id)
    SyncRun.objects.update(status="completed")
    newer = apple.mint_token(org_name="Acme", location_name="HQ")
    upload = {"token_file": SimpleUploadedFile("n.vpptoken", newer.encode())}
    response = admin_api.post(f"{TOKENS}{token_id}/renew/", upload, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json()["app_count"] == 1
    other = apple.mint_token(org_name="Acme", location_name="Elsewhere")
    upload = {"token_file": SimpleUploadedFile("o.vpptoken", other.encode())}
    response = admin_api.post(f"{TOKENS}{token_id}/renew/", upload, format="multipart")
    assert response.status_code == 400 and "another location" in " ".join(response.json()["token_file"])


def test_t6_api_sync_returns_202_and_the_running_run(admin_api):
    token = factories.VPPTokenFactory()
    first = admin_api.post(f"{TOKENS}{token.pk}/sync/")
    assert first.status_code == 202
    assert set(first.json()) >= RUN_FIELDS
    second = admin_api.post(f"{TOKENS}{token.pk}/sync/")
    assert second.status_code == 202 and second.json()["id"] == first.json()["id"]


def test_api_sync_all(admin_api):
    factories.VPPTokenFactory()
    factories.VPPTokenFactory()
    response = admin_api.post(f"{TOKENS}sync-all/")
    assert response.status_code == 202 and len(response.json()) == 2


def test_t14_api_revoke_licenses_returns_the_license_run(admin_api):
    token = factories.VPPTokenFactory()
    response = admin_api.post(f"{TOKENS}{token.pk}/revoke-licenses/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["vpp_token"] == token.pk and body["kind"] == "revoke_token"


def test_t13_api_delete(admin_api):
    token = factories.VPPTokenFactory()
    factories.AppFactory(vpp_token=token)
    assert admin_api.delete(f"{TOKENS}{token.pk}/").status_code == 204
    assert not VPPToken.objects.exists() and not App.objects.exists()


def test_sync_runs_fields_and_filters(admin_api):
    a, b = factories.VPPTokenFactory(), factories.VPPTokenFactory()
    SyncRun.objects.create(vpp_token=a, trigger="manual", status="failed", error="x", error_number=9646)
    SyncRun.objects.create(vpp_token=b, trigger="schedule", status="completed")
    body = admin_api.get(RUNS).json()
    assert body["count"] == 2 and set(body["results"][0]) >= RUN_FIELDS
    assert [r["vpp_token"] for r in admin_api.get(f"{RUNS}?vpp_token={a.pk}").json()["results"]] == [a.pk]
    assert admin_api.get(f"{RUNS}?status=completed&trigger=schedule").json()["count"] == 1
    assert admin_api.post(RUNS, {}).status_code == 405


# --- personas ------------------------------------------------------------------------------------------


def test_personas_on_reads(admin_api, helpdesk_api, anon_api, no_role_user):
    from tests.conftest import _api_client

    token = factories.VPPTokenFactory()
    run = SyncRun.objects.create(vpp_token=token, trigger="manual")
    for url in (TOKENS, f"{TOKENS}{token.pk}/", RUNS, f"{RUNS}{run.pk}/"):
        assert admin_api.get(url).status_code == 200
        assert helpdesk_api.get(url).status_code == 200
        assert anon_api.get(url).status_code == 401
        assert _api_client(no_role_user).get(url).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", ""),
        ("patch", "{pk}/"),
        ("delete", "{pk}/"),
        ("post", "{pk}/sync/"),
        ("post", "{pk}/renew/"),
        ("post", "{pk}/revoke-licenses/"),
        ("post", "sync-all/"),
    ],
)
def test_m4_personas_on_writes(method, path, helpdesk_api, anon_api, no_role_user):
    from tests.conftest import _api_client

    token = factories.VPPTokenFactory()
    url = TOKENS + path.format(pk=token.pk)
    assert getattr(helpdesk_api, method)(url).status_code == 403
    assert getattr(anon_api, method)(url).status_code == 401
    assert getattr(_api_client(no_role_user), method)(url).status_code == 404
    assert VPPToken.objects.filter(pk=token.pk, name=token.name).exists()
    assert not SyncRun.objects.exists()


# --- query-count guards --------------------------------------------------------------------------------


def _queries(api, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_token_list_query_count_is_flat(admin_api):
    for _ in range(3):
        factories.AppFactory(vpp_token=factories.VPPTokenFactory())
    few = _queries(admin_api, TOKENS)
    for _ in range(27):
        factories.AppFactory(vpp_token=factories.VPPTokenFactory())
    assert _queries(admin_api, TOKENS) == few


def test_sync_run_list_query_count_is_flat(admin_api):
    def add(n):
        for _ in range(n):
            SyncRun.objects.create(
                vpp_token=factories.VPPTokenFactory(), trigger="manual", status="completed"
            )

    add(3)
    few = _queries(admin_api, RUNS)
    add(27)
    assert _queries(admin_api, RUNS) == few


def test_token_list_is_ordered_for_stable_pagination(admin_api):
    """The `app_count` annotation (GROUP BY) drops Meta.ordering: the list must order explicitly."""
    import warnings

    from django.core.paginator import UnorderedObjectListWarning

    for name in ("b", "a", "c"):
        factories.VPPTokenFactory(name=name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnorderedObjectListWarning)
        response = admin_api.get(TOKENS)
    assert response.status_code == 200
    assert [t["name"] for t in response.json()["results"]] == ["a", "b", "c"]
