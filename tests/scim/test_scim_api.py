"""The SCIM endpoints through Django's test client: discovery, filters, paging, PATCH dialects, S6 order,
authentication, and what the console may no longer change once the identity provider owns an object."""

from __future__ import annotations

import json

import pytest

from console.models import AuditEntry
from directory import services as directory_services
from directory.models import DirectoryUser, Group, GroupMembership
from tests import factories

pytestmark = pytest.mark.django_db

SCIM = "/scim/v2/"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CONSOLE_USER = "urn:ietf:params:scim:schemas:extension:vppconsole:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _send(api, method: str, path: str, body=None, **params):
    kwargs = {"content_type": "application/scim+json"}
    if body is not None:
        kwargs["data"] = json.dumps(body)
    if params:
        return getattr(api, method.lower())(SCIM + path, params)
    return getattr(api, method.lower())(SCIM + path, **kwargs)


def _user(api, upn: str, **extra) -> dict:
    body = {"schemas": [CORE_USER], "userName": upn, "displayName": upn.split("@")[0].title(), "active": True}
    response = _send(api, "POST", "Users", {**body, **extra})
    assert response.status_code == 201, response.content
    return response.json()


def _group(api, name: str, members=(), **extra) -> dict:
    body = {"schemas": [CORE_GROUP], "displayName": name, "members": [{"value": m} for m in members]}
    response = _send(api, "POST", "Groups", {**body, **extra})
    assert response.status_code == 201, response.content
    return response.json()


def _patch(api, path: str, *operations):
    return _send(api, "PATCH", path, {"schemas": [PATCH_OP], "Operations": list(operations)})


def test_discovery_declares_what_is_supported(scim_api):
    config = _send(scim_api, "GET", "ServiceProviderConfig").json()
    assert config["patch"] == {"supported": True}
    assert config["filter"]["supported"] is True and config["filter"]["maxResults"] == 200
    assert config["bulk"]["supported"] is False and config["etag"] == {"supported": False}
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = {t["id"]: t for t in _send(scim_api, "GET", "ResourceTypes").json()["Resources"]}
    assert types["User"]["endpoint"] == "/Users" and types["Group"]["endpoint"] == "/Groups"
    assert types["User"]["schemaExtensions"] == [{"schema": CONSOLE_USER, "required": False}]
    schemas = {s["id"]: s for s in _send(scim_api, "GET", "Schemas").json()["Resources"]}
    assert set(schemas) == {CORE_USER, CORE_GROUP, CONSOLE_USER}
    assert [a["name"] for a in schemas[CONSOLE_USER]["attributes"]] == ["managedAppleId"]
    assert _send(scim_api, "GET", "Schemas/urn:nope").status_code == 404
    # A tenant URL typed with a trailing slash: the provider asks for /scim/v2//Users.
    assert _send(scim_api, "GET", "/Users").json()["totalResults"] == 0
    unknown = _send(scim_api, "GET", "Nothing/here")
    assert unknown.status_code == 404 and unknown.json()["status"] == "404"


def test_user_mapping_and_audit_actor(scim_api, scim_client):
    client, _token = scim_client
    created = _user(
        scim_api,
        "ada@example.com",
        externalId="ext-ada",
        displayName="Ada Lovelace",
        emails=[
            {"value": "other@example.com"},
            {"value": "ada@example.com", "primary": True, "type": "work"},
        ],
        **{CONSOLE_USER: {"managedAppleId": "ada@appleid.example.com"}},
    )
    user = DirectoryUser.objects.get(pk=created["id"])
    assert (
        user.user_principal_name,
        user.display_name,
        user.email,
        user.managed_apple_id,
        user.external_id,
    ) == (
        "ada@example.com",
        "Ada Lovelace",
        "ada@example.com",
        "ada@appleid.example.com",
        "ext-ada",
    )
    assert user.source == "identity_provider" and user.provisioned_by == client.account
    assert created["emails"] == [{"value": "ada@example.com"}]
    assert created[CONSOLE_USER] == {"managedAppleId": "ada@appleid.example.com"}
    entry = AuditEntry.objects.get(action="directory.user.create")
    assert (entry.actor, entry.actor_name) == (client.account, "scim:Entra ID")


def test_filters_eq_on_username_external_id_and_display_name_with_paging(scim_api):
    for n in range(5):
        _user(scim_api, f"user{n}@example.com", externalId=f"ext-{n}", displayName=f"User {n}")
    _group(scim_api, "Sales", externalId="grp-1")
    _group(scim_api, "Marketing")

    def names(path, **params):
        body = _send(scim_api, "GET", path, **params).json()
        return body["totalResults"], [r.get("userName") or r.get("displayName") for r in body["Resources"]]

    assert names("Users", filter='userName eq "USER3@example.com"') == (1, ["user3@example.com"])
    assert names("Users", filter='externalId eq "ext-2"') == (1, ["user2@example.com"])
    assert names("Users", filter='displayName eq "User 4"') == (1, ["user4@example.com"])
    assert names("Users", filter='userName eq "nobody@example.com"') == (0, [])
    assert names("Groups", filter='displayName eq "Sales"') == (1, ["Sales"])
    assert names("Groups", filter='externalId eq "grp-1"') == (1, ["Sales"])
    page = _send(scim_api, "GET", "Users", startIndex=2, count=2).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [r["userName"] for r in page["Resources"]] == ["user1@example.com", "user2@example.com"]
    bad = _send(scim_api, "GET", "Users", filter='userName zz "x"')
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidFilter"
    # Device groups are not SCIM groups.
    factories.GroupFactory(name="iPads", group_type="device")
    assert names("Groups", filter='displayName eq "iPads"') == (0, [])


def test_attributes_and_excluded_attributes_shape_answers(scim_api):
    user = _user(scim_api, "shape@example.com", emails=[{"value": "shape@example.com"}])
    only = _send(scim_api, "GET", f"Users/{user['id']}", attributes="userName").json()
    assert set(only) == {"schemas", "id", "meta", "userName"}
    without = _send(scim_api, "GET", "Users", excludedAttributes="emails").json()["Resources"][0]
    assert "emails" not in without and without["userName"] == "shape@example.com"


def test_s6_group_members_keep_the_order_in_which_they_were_added(scim_api):
    ids = [_user(scim_api, f"m{n}@example.com")["id"] for n in range(5)]
    group = _group(scim_api, "Ordered", members=[ids[3], ids[1]])
    _patch(scim_api, f"Groups/{group['id']}", {"op": "Add", "path": "members", "value": [{"value": ids[4]}]})
    _patch(scim_api, f"Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": ids[0]}]})
    expected = [ids[3], ids[1], ids[4], ids[0]]
    answer = _send(scim_api, "GET", f"Groups/{group['id']}").json()
    assert [m["value"] for m in answer["members"]] == expected
    order = GroupMembership.objects.filter(group_id=group["id"]).order_by("joined_at", "id")
    assert [str(m.user_id) for m in order] == expected
    # A full replace keeps the place of those who stay; newcomers join at the end.
    response = _send(
        scim_api,
        "PUT",
        f"Groups/{group['id']}",
        {
            "schemas": [CORE_GROUP],
            "displayName": "Ordered",
            "members": [{"value": v} for v in (ids[2], ids[4], ids[3])],
        },
    )
    assert [m["value"] for m in response.json()["members"]] == [ids[3], ids[4], ids[2]]


def test_patch_dialects_of_entra_id_and_okta(scim_api):
    user = _user(scim_api, "dialect@example.com", displayName="Before")
    path = f"Users/{user['id']}"
    response = _patch(
        scim_api,
        path,
        {"op": "Replace", "path": "displayName", "value": "Entra Name"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "work@example.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Ignored"},
        {"op": "Add", "path": f"{CONSOLE_USER}:managedAppleId", "value": "d@appleid.example.com"},
        {"op": "Replace", "path": "active", "value": "False"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["displayName"], body["emails"], body["active"]) == (
        "Entra Name",
        [{"value": "work@example.com"}],
        False,
    )
    assert body[CONSOLE_USER] == {"managedAppleId": "d@appleid.example.com"}
    response = _patch(
        scim_api, path, {"op": "replace", "value": {"active": True, "displayName": "Okta Name"}}
    )
    assert (response.json()["active"], response.json()["displayName"]) == (True, "Okta Name")
    user_row = DirectoryUser.objects.get(pk=user["id"])
    assert user_row.is_active and user_row.deactivated_at is None


def test_bad_patch_changes_nothing(scim_api):
    user = _user(scim_api, "atomic@example.com", displayName="Atomic")
    response = _patch(
        scim_api,
        f"Users/{user['id']}",
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "replace", "path": "active", "value": "maybe"},
    )
    assert response.status_code == 400 and "active" in response.json()["detail"]
    assert DirectoryUser.objects.get(pk=user["id"]).display_name == "Atomic"
    response = _patch(scim_api, f"Users/{user['id']}", {"op": "copy", "path": "displayName", "value": "x"})
    assert response.status_code == 400
    group = _group(scim_api, "Strict")
    response = _patch(
        scim_api, f"Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": "999999"}]}
    )
    assert response.status_code == 400 and "999999" in response.json()["detail"]


def test_duplicates_answer_409_uniqueness(scim_api):
    _user(scim_api, "dup@example.com")
    response = _send(scim_api, "POST", "Users", {"schemas": [CORE_USER], "userName": "DUP@example.com"})
    assert response.status_code == 409 and response.json()["scimType"] == "uniqueness"
    _group(scim_api, "Twice")
    response = _send(scim_api, "POST", "Groups", {"schemas": [CORE_GROUP], "displayName": "twice"})
    assert response.status_code == 409
    assert DirectoryUser.objects.filter(user_principal_name__iexact="dup@example.com").count() == 1


def test_deleted_user_is_gone_for_the_provider_and_comes_back_when_created_again(scim_api):
    user = _user(scim_api, "back@example.com")
    group = _group(scim_api, "Team", members=[user["id"]])
    assert _send(scim_api, "DELETE", f"Users/{user['id']}").status_code == 204
    assert _send(scim_api, "GET", f"Users/{user['id']}").status_code == 404
    assert (
        _send(scim_api, "GET", "Users", filter='userName eq "back@example.com"').json()["totalResults"] == 0
    )
    assert "members" not in _send(scim_api, "GET", f"Groups/{group['id']}").json()
    row = DirectoryUser.objects.get(pk=user["id"])
    assert not row.is_active and row.deprovisioned_at is not None
    again = _user(scim_api, "back@example.com", displayName="Back Again")
    assert again["id"] == user["id"] and again["active"] is True
    row.refresh_from_db()
    assert row.is_active and row.deprovisioned_at is None and row.display_name == "Back Again"


def test_deleted_group_with_assignments_stays_empty_and_hidden(scim_api, administrator):
    from apps.models import App

    member = _user(scim_api, "member@example.com")
    group = _group(scim_api, "Assigned", members=[member["id"]])
    token = factories.VPPTokenFactory()
    app = factories.AppFactory(vpp_token=token)
    assert isinstance(app, App)
    from assignments.models import Assignment

    Assignment.objects.create(app=app, group_id=group["id"], intent="required", license_type="user")
    assert _send(scim_api, "DELETE", f"Groups/{group['id']}").status_code == 204
    row = Group.objects.get(pk=group["id"])
    assert row.deprovisioned_at is not None and not row.memberships.exists()
    assert _send(scim_api, "GET", f"Groups/{group['id']}").status_code == 404
    # Back in the administrator's hands: they remove the assignment, then may delete the group.
    assert not row.managed_by_identity_provider
    plain = _group(scim_api, "Unassigned")
    assert _send(scim_api, "DELETE", f"Groups/{plain['id']}").status_code == 204
    assert not Group.objects.filter(pk=plain["id"]).exists()


def test_list_endpoints_query_count_does_not_grow_with_rows(scim_api, django_assert_max_num_queries):
    ids = [_user(scim_api, f"q{n}@example.com")["id"] for n in range(30)]
    for n in range(3):
        _group(scim_api, f"Q{n}", members=ids[n * 10 : n * 10 + 10])
    with django_assert_max_num_queries(8):
        body = _send(scim_api, "GET", "Users", count=100).json()
    assert body["totalResults"] == 30 and all(len(r["groups"]) == 1 for r in body["Resources"])
    with django_assert_max_num_queries(8):
        body = _send(scim_api, "GET", "Groups").json()
    assert [len(r["members"]) for r in body["Resources"]] == [10, 10, 10]
    with django_assert_max_num_queries(8):
        _send(scim_api, "GET", "Users", filter='userName eq "q7@example.com"')


# --- authentication -------------------------------------------------------------------------------------
def test_a_console_session_is_not_a_scim_credential(admin_web):
    response = admin_web.get(SCIM + "Users")
    assert response.status_code == 401 and response.json()["status"] == "401"
    response = admin_web.post(
        SCIM + "Users", data=json.dumps({"userName": "x"}), content_type="application/scim+json"
    )
    assert response.status_code == 401
    assert not DirectoryUser.objects.exists()


def test_revoked_and_replaced_tokens_are_refused(scim_client, client):
    from scim import services

    scim, token = scim_client
    ok = client.get(SCIM + "Users", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert ok.status_code == 200
    new = services.scim_client_new_token(client=scim, actor=None)
    assert client.get(SCIM + "Users", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert client.get(SCIM + "Users", HTTP_AUTHORIZATION=f"Bearer {new}").status_code == 200
    services.scim_client_revoke(client=scim, actor=None)
    assert client.get(SCIM + "Users", HTTP_AUTHORIZATION=f"Bearer {new}").status_code == 401
    scim.refresh_from_db()
    assert scim.token_hash is None and new not in json.dumps(
        AuditEntry.objects.values_list("after", flat=True)[::1]
    )


def test_create_scim_token_command_prints_the_token_alone_on_its_last_line(client):
    from io import StringIO

    from django.core.management import call_command

    from scim.models import ScimClient

    out = StringIO()
    call_command("create_scim_token", "Okta", stdout=out, stderr=StringIO())
    token = out.getvalue().strip().splitlines()[-1]
    assert client.get(SCIM + "Users", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    stored = ScimClient.objects.get(name="Okta")
    assert token not in (stored.token_hash, stored.token_prefix) and len(token) >= 40
    out = StringIO()
    call_command("create_scim_token", "Okta", stdout=out, stderr=StringIO())
    second = out.getvalue().strip().splitlines()[-1]
    assert second != token
    assert client.get(SCIM + "Users", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert ScimClient.objects.count() == 1


# --- the console keeps its hands off what the identity provider owns --------------------------------------
def test_provisioned_objects_are_read_only_in_the_console_manual_ones_stay_editable(
    scim_api, admin_api, admin_web, administrator
):
    provisioned = _user(scim_api, "idp@example.com", displayName="From IdP")
    group = _group(scim_api, "IdP group", members=[provisioned["id"]])
    manual = directory_services.user_create(
        user_principal_name="typed@example.com", display_name="Typed In", actor=administrator
    )

    response = admin_api.patch(
        f"/api/v1/users/{provisioned['id']}/", {"display_name": "Hacked"}, format="json"
    )
    assert response.status_code == 400
    assert "provisioned by the identity provider" in json.dumps(response.json())
    assert admin_api.delete(f"/api/v1/users/{provisioned['id']}/").status_code == 400
    response = admin_api.post(f"/api/v1/groups/{group['id']}/members/", {"users": [manual.pk]}, format="json")
    assert response.status_code == 400
    response = admin_web.post(
        f"/directory/users/{provisioned['id']}/edit/",
        {"user_principal_name": "idp@example.com", "display_name": "Hacked"},
    )
    assert "provisioned by the identity provider" in response.content.decode()
    response = admin_web.post(f"/directory/users/{provisioned['id']}/deactivate/", follow=True)
    assert "provisioned by the identity provider" in response.content.decode()
    page = admin_web.get(f"/directory/users/{provisioned['id']}/").content.decode()
    assert (
        'data-testid="provisioned"' in page and "Entra ID" in page and 'data-testid="deactivate"' not in page
    )
    row = DirectoryUser.objects.get(pk=provisioned["id"])
    assert (row.display_name, row.is_active) == ("From IdP", True)
    assert list(Group.objects.get(pk=group["id"]).memberships.values_list("user_id", flat=True)) == [row.pk]

    response = admin_api.patch(
        f"/api/v1/users/{manual.pk}/", {"display_name": "Still editable"}, format="json"
    )
    assert response.status_code == 200
    manual.refresh_from_db()
    assert manual.display_name == "Still editable" and manual.source == "console"
