"""Entra ID and Okta provisioning sequences, replayed over HTTP against a live console with a real worker
(Celery) and the Apple simulator: licenses follow the directory (S6, S11) and the SCIM client is the actor.

The request bodies follow what each identity provider sends (Microsoft's and Okta's SCIM documentation):
Entra ID capitalises ops and sends "False" as a string; Okta deactivates with a path-less replace and removes
a member with a `members[value eq "…"]` path.
"""

from __future__ import annotations

import time

import pytest

from assignments import services as assignment_services
from assignments.models import License, LicenseRun, VPPUser
from console.models import AuditEntry
from directory.models import DirectoryUser, Group
from tests.assignments.conftest import settle
from tests.scim.conftest import live_url

pytestmark = pytest.mark.django_db(transaction=True)
_EXECUTED: set[int] = set()

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CONSOLE_USER = "urn:ietf:params:scim:schemas:extension:vppconsole:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture(autouse=True)
def executed_runs():
    """Ids of the runs the worker has executed (the runner's execute_run task returned)."""
    from celery.signals import task_postrun

    done: set[int] = set()

    def record(sender=None, args=None, **kwargs):
        if sender is not None and sender.name.endswith("execute_run") and args:
            done.add(int(args[0]))
            _EXECUTED.add(int(args[0]))

    task_postrun.connect(record, weak=False)
    yield done
    task_postrun.disconnect(record)
    _EXECUTED.clear()


def _runs_done(apple, *, kind: str, count: int, timeout: float = 30, **filters) -> list[LicenseRun]:
    """Wait until the worker has executed `count` runs of `kind`, then let Apple finish and poll them (as the
    30-second poll task would)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list(LicenseRun.objects.filter(kind=kind, **filters).order_by("id"))
        if len(runs) >= count and all(run.pk in _EXECUTED for run in runs):
            return [settle(apple, run) for run in runs]
        time.sleep(0.05)
    raise AssertionError(f"the worker did not run {count} {kind} run(s) in {timeout}s")


def _at_apple(apple, uid, adam_id) -> set[str]:
    assignments = apple.location(uid, include_assignments=True)["assignments"]
    return {a.get("clientUserId") for a in assignments if a["adamId"] == adam_id}


def _client_user_id(upn: str) -> str:
    return VPPUser.objects.get(user__user_principal_name=upn).client_user_id


def _license_states(app) -> dict[str, str]:
    return dict(License.objects.filter(app=app).values_list("user__user_principal_name", "state"))


def _required_app_on(group_id: int, make_app, administrator):
    app = make_app(total=10)
    group = Group.objects.get(pk=group_id)
    assignment_services.assignment_create(
        app=app, group=group, intent="required", license_type="user", actor=administrator
    )
    return app


def _entra_user(upn: str, name: str, number: int) -> dict:
    given, family = name.split()
    return {
        "schemas": [CORE_USER, ENTERPRISE_USER, CONSOLE_USER],
        "externalId": f"{given.lower()}-object-id",
        "userName": upn,
        "active": True,
        "displayName": name,
        "emails": [{"primary": True, "type": "work", "value": upn}],
        "name": {"formatted": name, "familyName": family, "givenName": given},
        "title": "Sales",
        ENTERPRISE_USER: {"employeeNumber": str(number), "department": "Sales"},
        CONSOLE_USER: {"managedAppleId": f"{given.lower()}@appleid.contoso.com"},
    }


def test_s11_entra_id_sequence_licenses_follow_the_directory(
    apple, location, make_app, administrator, celery_worker, scim_http, scim_client
):
    _token, uid = location
    client, _ = scim_client
    people = {
        "alice@contoso.com": "Alice Leaver",
        "bob@contoso.com": "Bob Mover",
        "carol@contoso.com": "Carol Stayer",
    }
    ids = {}
    for number, (upn, name) in enumerate(people.items()):
        found = scim_http("GET", "Users", filter=f'userName eq "{upn}"').json()
        assert found["totalResults"] == 0 and found["Resources"] == []
        response = scim_http("POST", "Users", _entra_user(upn, name, number))
        assert response.status_code == 201, response.text
        ids[upn] = response.json()["id"]
    alice = DirectoryUser.objects.get(user_principal_name="alice@contoso.com")
    assert (alice.display_name, alice.email, alice.managed_apple_id, alice.external_id) == (
        "Alice Leaver",
        "alice@contoso.com",
        "alice@appleid.contoso.com",
        "alice-object-id",
    )
    assert alice.managed_by_identity_provider and alice.provisioned_by == client.account

    response = scim_http(
        "POST", "Groups", {"schemas": [CORE_GROUP], "externalId": "sales-object-id", "displayName": "Sales"}
    )
    assert response.status_code == 201, response.text
    group_id = int(response.json()["id"])
    app = _required_app_on(group_id, make_app, administrator)
    _runs_done(apple, kind="allocate", count=1)

    # Entra ID adds members in one PATCH; they join in that order (S6).
    members = [{"value": ids[upn]} for upn in people]
    response = scim_http(
        "PATCH",
        f"Groups/{group_id}",
        {"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members", "value": members}]},
    )
    assert response.status_code == 200, response.text
    assert [m["value"] for m in response.json()["members"]] == [ids[upn] for upn in people]
    _runs_done(apple, kind="allocate", count=2)
    assert _license_states(app) == dict.fromkeys(people, "assigned")
    assert _at_apple(apple, uid, app.adam_id) == {_client_user_id(upn) for upn in people}

    # A leaver: Entra ID disables the account.
    response = scim_http(
        "PATCH",
        f"Users/{ids['alice@contoso.com']}",
        {"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]},
    )
    assert response.status_code == 200 and response.json()["active"] is False
    _runs_done(apple, kind="revoke_user", count=1, user__user_principal_name="alice@contoso.com")

    # A mover: removed from the group.
    response = scim_http(
        "PATCH",
        f"Groups/{group_id}",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Remove", "path": "members", "value": [{"value": ids["bob@contoso.com"]}]}],
        },
    )
    assert response.status_code == 200, response.text
    _runs_done(apple, kind="revoke_user", count=2)

    # Finally Entra ID deletes the disabled account.
    assert scim_http("DELETE", f"Users/{ids['alice@contoso.com']}").status_code == 204
    assert scim_http("GET", f"Users/{ids['alice@contoso.com']}").status_code == 404

    assert _license_states(app) == {
        "alice@contoso.com": "revoked",
        "bob@contoso.com": "revoked",
        "carol@contoso.com": "assigned",
    }
    assert _at_apple(apple, uid, app.adam_id) == {_client_user_id("carol@contoso.com")}
    alice.refresh_from_db()
    assert not alice.is_active and alice.deprovisioned_at is not None and not alice.memberships.exists()
    group = scim_http("GET", f"Groups/{group_id}").json()
    assert [m["value"] for m in group["members"]] == [ids["carol@contoso.com"]]
    # Every change is in the audit log with the SCIM client as the actor.
    actions = set(AuditEntry.objects.filter(actor_name="scim:Entra ID").values_list("action", flat=True))
    assert {
        "directory.user.create",
        "directory.group.create",
        "directory.group.add_members",
        "directory.user.deactivate",
        "directory.group.remove_members",
        "directory.user.deprovision",
    } <= actions
    assert LicenseRun.objects.filter(kind="revoke_user", requested_by=client.account).count() == 2


def test_s11_okta_sequence_licenses_follow_the_directory(
    apple, location, make_app, administrator, celery_worker, scim_http, scim_client
):
    _token, uid = location
    ids = {}
    for upn, given, family in [("dan@okta.example", "Dan", "Leaver"), ("eve@okta.example", "Eve", "Mover")]:
        response = scim_http("GET", "Users", filter=f'userName eq "{upn}"', startIndex=1, count=100)
        assert response.json()["totalResults"] == 0
        response = scim_http(
            "POST",
            "Users",
            {
                "schemas": [CORE_USER, CONSOLE_USER],
                "userName": upn,
                "name": {"givenName": given, "familyName": family},
                "emails": [{"primary": True, "value": upn, "type": "work"}],
                "displayName": f"{given} {family}",
                "locale": "en-US",
                "externalId": f"00u{given.lower()}",
                "groups": [],
                "password": "1mz050nq",
                "active": True,
                # A custom attribute in Okta's profile editor, mapped to the console's extension.
                CONSOLE_USER: {"managedAppleId": f"{given.lower()}@appleid.okta.example"},
            },
        )
        assert response.status_code == 201, response.text
        ids[upn] = response.json()["id"]
    # Okta pushes the group, then its members with a lower-case add.
    response = scim_http(
        "POST", "Groups", {"schemas": [CORE_GROUP], "displayName": "Engineering", "members": []}
    )
    assert response.status_code == 201, response.text
    group_id = int(response.json()["id"])
    app = _required_app_on(group_id, make_app, administrator)
    _runs_done(apple, kind="allocate", count=1)
    response = scim_http(
        "PATCH",
        f"Groups/{group_id}",
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "replace", "value": {"id": str(group_id), "displayName": "Engineering"}},
                {
                    "op": "add",
                    "path": "members",
                    "value": [{"value": ids[upn], "display": upn} for upn in ids],
                },
            ],
        },
    )
    assert response.status_code == 200, response.text
    _runs_done(apple, kind="allocate", count=2)
    assert _license_states(app) == {"dan@okta.example": "assigned", "eve@okta.example": "assigned"}

    # Okta deactivates with a path-less replace.
    response = scim_http(
        "PATCH",
        f"Users/{ids['dan@okta.example']}",
        {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    assert response.status_code == 200 and response.json()["active"] is False
    _runs_done(apple, kind="revoke_user", count=1)

    # ... and removes a member with a filtered path.
    response = scim_http(
        "PATCH",
        f"Groups/{group_id}",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "remove", "path": f'members[value eq "{ids["eve@okta.example"]}"]'}],
        },
    )
    assert response.status_code == 200, response.text
    # Dan, deactivated, is still a member (reactivating him restores his licenses); Eve left.
    assert [m["value"] for m in response.json()["members"]] == [ids["dan@okta.example"]]
    _runs_done(apple, kind="revoke_user", count=2)

    assert scim_http("DELETE", f"Users/{ids['dan@okta.example']}").status_code == 204
    assert _license_states(app) == {"dan@okta.example": "revoked", "eve@okta.example": "revoked"}
    assert _at_apple(apple, uid, app.adam_id) == set()
    eve = DirectoryUser.objects.get(user_principal_name="eve@okta.example")
    assert eve.is_active and eve.deprovisioned_at is None  # a mover keeps their account


def test_wrong_token_changes_nothing(
    apple, location, make_app, administrator, celery_worker, scim_http, scim_client, live_server
):
    import requests

    response = scim_http("POST", "Users", _entra_user("frank@contoso.com", "Frank Kept", 1))
    frank_id = response.json()["id"]
    response = scim_http("POST", "Groups", {"schemas": [CORE_GROUP], "displayName": "Kept"})
    group_id = response.json()["id"]
    scim_http(
        "PATCH",
        f"Groups/{group_id}",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": frank_id}]}],
        },
    )
    audit_before = AuditEntry.objects.count()
    runs_before = LicenseRun.objects.count()

    base = live_url(live_server) + "/scim/v2/"
    attempts = [
        ("POST", "Users", _entra_user("mallory@contoso.com", "Mallory Intruder", 2)),
        (
            "PATCH",
            f"Users/{frank_id}",
            {"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]},
        ),
        (
            "PUT",
            f"Users/{frank_id}",
            {**_entra_user("frank@contoso.com", "Frank Renamed", 1), "active": False},
        ),
        ("DELETE", f"Users/{frank_id}", None),
        ("DELETE", f"Groups/{group_id}", None),
        ("GET", "Users", None),
    ]
    for headers in ({"Authorization": "Bearer not-the-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}, {}):
        for method, path, body in attempts:
            response = requests.request(method, base + path, json=body, headers=headers, timeout=30)
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["status"] == "401" and "Resources" not in response.json()

    frank = DirectoryUser.objects.get(pk=frank_id)
    assert (frank.display_name, frank.is_active, frank.deprovisioned_at) == ("Frank Kept", True, None)
    assert Group.objects.filter(pk=group_id, memberships__user=frank).exists()
    assert not DirectoryUser.objects.filter(user_principal_name="mallory@contoso.com").exists()
    assert AuditEntry.objects.count() == audit_before
    assert LicenseRun.objects.count() == runs_before
