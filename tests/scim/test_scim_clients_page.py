"""Tenant administration › SCIM clients: administrators create clients and tokens (shown once), replace and
revoke them; help desk may look but not change; nobody else sees the page."""

from __future__ import annotations

import re

import pytest

from console.models import AuditEntry
from scim import services
from scim.models import ScimClient

pytestmark = pytest.mark.django_db


def _token_in(page: str) -> str:
    match = re.search(r'data-testid="scim-token">([^<]+)<', page)
    assert match, "the token is not on the page"
    return match.group(1)


def test_administrator_creates_a_client_and_sees_its_token_once(admin_web, client):
    response = admin_web.post("/scim-clients/new/", {"name": "Entra ID"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    page = response.content.decode()
    token = _token_in(page)
    assert "http://testserver/scim/v2/" in page
    assert client.get("/scim/v2/Users", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200

    stored = ScimClient.objects.get(name="Entra ID")
    assert stored.token_hash != token and token.startswith(stored.token_prefix)
    detail = admin_web.get(f"/scim-clients/{stored.pk}/").content.decode()
    listing = admin_web.get("/scim-clients/").content.decode()
    assert token not in detail and token not in listing and "Entra ID" in listing
    assert AuditEntry.objects.get(action="scim.client.create").actor_name.startswith("admin")
    assert token not in str(list(AuditEntry.objects.values_list("before", "after")))


def test_duplicate_name_is_refused_with_a_message(admin_web):
    services.scim_client_create(name="Okta", actor=None)
    response = admin_web.post("/scim-clients/new/", {"name": "okta"})
    assert "A SCIM client named “okta” already exists." in response.content.decode()
    assert ScimClient.objects.count() == 1


def test_new_token_and_revoke_from_the_page(admin_web, client):
    scim, old = services.scim_client_create(name="Okta", actor=None)
    new = _token_in(admin_web.post(f"/scim-clients/{scim.pk}/new-token/").content.decode())
    assert client.get("/scim/v2/Users", HTTP_AUTHORIZATION=f"Bearer {old}").status_code == 401
    assert client.get("/scim/v2/Users", HTTP_AUTHORIZATION=f"Bearer {new}").status_code == 200
    response = admin_web.post(f"/scim-clients/{scim.pk}/revoke/", follow=True)
    assert "is revoked" in response.content.decode()
    assert client.get("/scim/v2/Users", HTTP_AUTHORIZATION=f"Bearer {new}").status_code == 401


def test_help_desk_looks_but_does_not_change_and_others_see_nothing(
    helpdesk_web, anon_web, client, no_role_user
):
    scim, _token = services.scim_client_create(name="Entra ID", actor=None)
    assert helpdesk_web.get("/scim-clients/").status_code == 200
    assert helpdesk_web.post("/scim-clients/new/", {"name": "Sneaky"}).status_code == 403
    assert helpdesk_web.post(f"/scim-clients/{scim.pk}/revoke/").status_code == 403
    assert anon_web.get("/scim-clients/").status_code == 302
    client.force_login(no_role_user)
    assert client.get("/scim-clients/").status_code == 404
    scim.refresh_from_db()
    assert scim.is_active and ScimClient.objects.count() == 1


def test_the_page_is_in_simplified_chinese(admin_web):
    page = admin_web.get("/scim-clients/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "新建 SCIM 客户端" in page


def test_list_page_query_count(admin_web, django_assert_max_num_queries):
    for n in range(20):
        services.scim_client_create(name=f"Client {n}", actor=None)
    with django_assert_max_num_queries(12):
        response = admin_web.get("/scim-clients/")
    assert response.content.decode().count("/scim-clients/") >= 20
