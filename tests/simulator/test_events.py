"""Asynchronous licence and user management."""

from __future__ import annotations

import pytest

GARAGEBAND = "408709785"
PROCREATE = "425073498"  # demo: no licences left
ZOOM = "546505307"  # demo: not device-assignable
BOOK = "881256329"  # demo: a book, irrevocable
TEAMS = "1113153706"  # demo: free, unlimited


def test_associate_is_pending_then_complete_and_consumes_licences(hq):
    before = hq.asset(GARAGEBAND)
    response = hq.post(
        "assets/associate",
        {
            "assets": [{"adamId": GARAGEBAND, "pricingParam": "STDQ"}],
            "serialNumbers": ["SER-A", "SER-B"],
            "clientUserIds": ["hq-user-003"],
        },
    )
    assert response.status_code == 200
    event_id = response.json()["eventId"]
    pending = hq.get("status", eventId=event_id).json()
    assert pending["eventStatus"] == "PENDING"
    assert pending["eventType"] == "ASSOCIATE"
    assert pending["numRequested"] == 3
    done = hq.wait_event(event_id)
    assert done["eventStatus"] == "COMPLETE"
    assert done["numCompleted"] == 3
    assert "failures" not in done
    after = hq.asset(GARAGEBAND)
    assert after["assignedCount"] == before["assignedCount"] + 3
    assert after["availableCount"] == before["availableCount"] - 3
    assert after["totalCount"] == before["totalCount"]
    serials = {a.get("serialNumber") for a in hq.get("assignments", adamId=GARAGEBAND).json()["assignments"]}
    assert {"SER-A", "SER-B"} <= serials


def test_associate_fails_with_9709_once_licences_run_out(hq):
    hq.sim.add_asset(hq.uid, "361304891", totalCount=2, pricingParam="STDQ")
    status = hq.run(
        "assets/associate",
        {"assets": [{"adamId": "361304891"}], "serialNumbers": ["S1", "S2", "S3", "S4"]},
    )
    existing = 8  # demo HQ already assigns Numbers to 8 devices, more than the new total of 2
    assert existing > 2
    assert status["eventStatus"] == "FAILED"
    assert status["numRequested"] == 4
    assert status["numCompleted"] == 0
    [failure] = status["failures"]
    assert failure["errorNumber"] == 9709
    assert failure["errorInfo"]["serialNumbers"] == ["S1", "S2", "S3", "S4"]
    assert failure["errorInfo"]["assets"] == [{"adamId": "361304891", "pricingParam": "STDQ"}]


def test_partial_success_counts_only_completed_tasks(new_location):
    session = new_location()
    session.sim.add_asset(session.uid, "999000111", totalCount=2, catalog={"name": "Two Seats"})
    status = session.run(
        "assets/associate", {"assets": [{"adamId": "999000111"}], "serialNumbers": ["A", "B", "C"]}
    )
    assert status["eventStatus"] == "FAILED"
    assert (status["numRequested"], status["numCompleted"]) == (3, 2)
    assert status["failures"][0]["errorInfo"]["serialNumbers"] == ["C"]
    assert session.asset("999000111")["availableCount"] == 0


def test_asset_with_no_licences_left_fails_9709(hq):
    assert hq.asset(PROCREATE)["availableCount"] == 0
    status = hq.run("assets/associate", {"assets": [{"adamId": PROCREATE}], "serialNumbers": ["NEW-1"]})
    assert status["failures"][0]["errorNumber"] == 9709


def test_associating_an_unknown_or_retired_user_fails_9609(hq):
    status = hq.run(
        "assets/associate", {"assets": [{"adamId": GARAGEBAND}], "clientUserIds": ["nobody", "hq-user-004"]}
    )
    assert status["eventStatus"] == "FAILED"
    [failure] = status["failures"]
    assert failure["errorNumber"] == 9609
    assert sorted(failure["errorInfo"]["clientUserIds"]) == ["hq-user-004", "nobody"]


def test_serial_numbers_are_not_validated(hq):
    status = hq.run(
        "assets/associate", {"assets": [{"adamId": GARAGEBAND}], "serialNumbers": ["not a serial"]}
    )
    assert status["eventStatus"] == "COMPLETE"


def test_reassociating_an_assigned_pair_is_idempotent_and_consumes_nothing(hq):
    hq.run("assets/associate", {"assets": [{"adamId": GARAGEBAND}], "serialNumbers": ["TWICE"]})
    before = hq.asset(GARAGEBAND)
    status = hq.run("assets/associate", {"assets": [{"adamId": GARAGEBAND}], "serialNumbers": ["TWICE"]})
    assert status["eventStatus"] == "COMPLETE"
    assert hq.asset(GARAGEBAND) == before


def test_unlimited_asset_never_runs_out(hq):
    serials = [f"U{i}" for i in range(50)]
    status = hq.run("assets/associate", {"assets": [{"adamId": TEAMS}], "serialNumbers": serials})
    assert status["eventStatus"] == "COMPLETE"
    assert hq.asset(TEAMS)["totalCount"] == 2147483647


def test_device_association_of_a_non_device_assignable_asset_is_9707_at_once(hq):
    response = hq.post("assets/associate", {"assets": [{"adamId": ZOOM}], "serialNumbers": ["D1"]})
    assert (response.status_code, response.json()["errorNumber"]) == (400, 9707)
    # User licensing of the same app is fine.
    assert (
        hq.run("assets/associate", {"assets": [{"adamId": ZOOM}], "clientUserIds": ["hq-user-003"]})[
            "eventStatus"
        ]
        == "COMPLETE"
    )


def test_books_are_not_device_assignable_and_not_revocable(hq):
    book = hq.asset(BOOK)
    assert (book["productType"], book["deviceAssignable"], book["revocable"]) == ("Book", False, False)
    response = hq.post(
        "assets/disassociate", {"assets": [{"adamId": BOOK}], "clientUserIds": ["hq-user-001"]}
    )
    assert (response.status_code, response.json()["errorNumber"]) == (400, 9706)


def test_disassociate_releases_the_licence(hq):
    before = hq.asset(GARAGEBAND)
    status = hq.run(
        "assets/disassociate", {"assets": [{"adamId": GARAGEBAND}], "serialNumbers": ["C02HQD00001"]}
    )
    assert status["eventStatus"] == "COMPLETE"
    assert status["eventType"] == "DISASSOCIATE"
    after = hq.asset(GARAGEBAND)
    assert after["assignedCount"] == before["assignedCount"] - 1
    assert after["availableCount"] == before["availableCount"] + 1
    assert hq.get("assignments", serialNumber="C02HQD00001", adamId=GARAGEBAND).json()["assignments"] == []


def test_revoke_releases_every_revocable_licence_of_a_target_but_keeps_books(hq):
    assigned = hq.get("assignments", clientUserId="hq-user-001").json()["assignments"]
    assert {a["adamId"] for a in assigned} >= {BOOK, TEAMS}
    status = hq.run("assets/revoke", {"clientUserIds": ["hq-user-001"], "serialNumbers": ["C02HQD00001"]})
    assert status["eventStatus"] == "COMPLETE"
    assert status["eventType"] == "REVOKE"
    left = hq.get("assignments", clientUserId="hq-user-001").json()["assignments"]
    assert [a["adamId"] for a in left] == [BOOK]
    assert hq.get("assignments", serialNumber="C02HQD00001").json()["assignments"] == []


@pytest.mark.parametrize(
    ("endpoint", "body", "number"),
    [
        ("assets/associate", {"serialNumbers": ["S"]}, 9718),
        ("assets/associate", {"assets": [], "serialNumbers": ["S"]}, 9718),
        ("assets/associate", {"assets": [{"adamId": GARAGEBAND}]}, 9719),
        (
            "assets/associate",
            {"assets": [{"adamId": str(i)} for i in range(26)], "serialNumbers": ["S"]},
            9700,
        ),
        (
            "assets/associate",
            {"assets": [{"adamId": GARAGEBAND}], "clientUserIds": [f"u{i}" for i in range(1001)]},
            9701,
        ),
        (
            "assets/associate",
            {"assets": [{"adamId": GARAGEBAND}], "serialNumbers": [f"s{i}" for i in range(1001)]},
            9702,
        ),
        (
            "assets/associate",
            {
                "assets": [{"adamId": GARAGEBAND}, {"adamId": GARAGEBAND, "pricingParam": "STDQ"}],
                "serialNumbers": ["S"],
            },
            9703,
        ),
        ("assets/associate", {"assets": [{"adamId": GARAGEBAND}], "clientUserIds": ["a", "a"]}, 9704),
        ("assets/disassociate", {"assets": [{"adamId": GARAGEBAND}], "serialNumbers": ["s", "s"]}, 9705),
        ("assets/associate", {"assets": [{"pricingParam": "STDQ"}], "serialNumbers": ["S"]}, 9602),
        ("assets/revoke", {}, 9719),
        ("assets/revoke", {"clientUserIds": [f"u{i}" for i in range(101)]}, 9701),
        ("assets/revoke", {"serialNumbers": [f"s{i}" for i in range(101)]}, 9702),
        ("users/create", {}, 9720),
        ("users/create", {"users": []}, 9720),
        ("users/create", {"users": [{"clientUserId": f"c{i}"} for i in range(101)]}, 9714),
        ("users/create", {"users": [{"clientUserId": "c1"}, {"clientUserId": "c1"}]}, 9715),
        ("users/create", {"users": [{"clientUserId": "c1", "email": "not-an-email"}]}, 9717),
        ("users/retire", {"users": [{"email": "a@example.com"}]}, 9602),
    ],
)
def test_request_validation_answers_documented_error_numbers(hq, endpoint, body, number):
    response = hq.post(endpoint, body)
    assert response.status_code == 400
    assert response.json()["errorNumber"] == number


def test_status_of_an_unknown_event_is_9708(hq, schools):
    assert hq.get("status", eventId="00000000-0000-0000-0000-000000000000").json()["errorNumber"] == 9708
    # An event of another location is not visible either.
    event_id = schools.post("users/create", {"users": [{"clientUserId": "x"}]}).json()["eventId"]
    assert hq.get("status", eventId=event_id).json()["errorNumber"] == 9708


def test_users_create_registered_with_invite_code_or_associated_with_managed_apple_id(new_location):
    session = new_location()
    status = session.run(
        "users/create",
        {
            "users": [
                {"clientUserId": "u-1", "email": "u1@example.com"},
                {
                    "clientUserId": "u-2",
                    "email": "u2@example.com",
                    "managedAppleId": "u2@appleid.example.com",
                },
            ]
        },
    )
    assert (status["eventStatus"], status["eventType"], status["numCompleted"]) == ("COMPLETE", "CREATE", 2)
    users = {u["clientUserId"]: u for u in session.get("users").json()["users"]}
    assert users["u-1"]["status"] == "Registered"
    assert len(users["u-1"]["inviteCode"]) == 32 and int(users["u-1"]["inviteCode"], 16) >= 0
    assert "idHash" not in users["u-1"]
    assert users["u-2"]["status"] == "Associated"
    assert users["u-2"]["idHash"] and "inviteCode" not in users["u-2"]


def test_creating_a_duplicate_active_user_fails_9716(hq):
    status = hq.run("users/create", {"users": [{"clientUserId": "hq-user-001"}, {"clientUserId": "fresh"}]})
    assert status["eventStatus"] == "FAILED"
    assert status["numCompleted"] == 1
    assert status["failures"][0]["errorNumber"] == 9716
    assert status["failures"][0]["errorInfo"]["clientUserIds"] == ["hq-user-001"]


def test_update_and_retire_of_unknown_users_fail_9609(hq):
    for endpoint in ("users/update", "users/retire"):
        status = hq.run(endpoint, {"users": [{"clientUserId": "ghost"}]})
        assert status["failures"][0]["errorNumber"] == 9609


def test_update_changes_the_email(hq):
    hq.run("users/update", {"users": [{"clientUserId": "hq-user-003", "email": "new@contoso.example"}]})
    [user] = hq.get("users", clientUserId="hq-user-003").json()["users"]
    assert user["email"] == "new@contoso.example"


def test_retiring_a_user_keeps_history_and_releases_its_revocable_licences(hq):
    zoom_before = hq.asset(ZOOM)
    status = hq.run("users/retire", {"users": [{"clientUserId": "hq-user-002"}]})
    assert status["eventStatus"] == "COMPLETE"
    records = hq.get("users", clientUserId="hq-user-002").json()["users"]
    assert [u["status"] for u in records] == ["Retired"]
    assert hq.asset(ZOOM)["assignedCount"] == zoom_before["assignedCount"] - 1
    left = hq.get("assignments", clientUserId="hq-user-002").json()["assignments"]
    assert [a["adamId"] for a in left] == [BOOK]  # ebook licences are irrevocable
    # The same clientUserId can be created again: one Retired + one active record.
    hq.run("users/create", {"users": [{"clientUserId": "hq-user-002"}]})
    statuses = sorted(u["status"] for u in hq.get("users", clientUserId="hq-user-002").json()["users"])
    assert statuses == ["Registered", "Retired"]
    assert [
        u["status"] for u in hq.get("users", clientUserId="hq-user-002", activeOnly="true").json()["users"]
    ] == ["Registered"]


def test_accepted_invitation_associates_the_user(hq):
    [user] = hq.get("users", clientUserId="hq-user-003").json()["users"]
    assert user["status"] == "Registered"
    hq.sim.accept_invitation(hq.uid, "hq-user-003")
    [user] = hq.get("users", clientUserId="hq-user-003").json()["users"]
    assert user["status"] == "Associated" and user["idHash"]


def test_invitation_page_accepts_by_invite_code(hq):
    import requests

    [user] = hq.get("users", clientUserId="hq-user-005").json()["users"]
    url = requests.get(hq.sim.base_url + "service/config", timeout=5).json()["urls"]["invitationEmail"]
    url = url.replace("%25inviteCode%25", user["inviteCode"])
    assert "Accept" in requests.get(url, timeout=5).text
    requests.post(url, timeout=5)
    [user] = hq.get("users", clientUserId="hq-user-005").json()["users"]
    assert user["status"] == "Associated"


def test_unknown_asset_association_is_an_async_9709_by_default_or_sync_9602(hq):
    status = hq.run("assets/associate", {"assets": [{"adamId": "123"}], "serialNumbers": ["S"]})
    assert status["failures"][0]["errorNumber"] == 9709
    hq.sim.update_settings(unknown_asset_error="sync")
    response = hq.post("assets/associate", {"assets": [{"adamId": "123"}], "serialNumbers": ["S"]})
    assert response.json()["errorNumber"] == 9602
