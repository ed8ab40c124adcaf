"""Notifications posted to the MDM's webhook."""

from __future__ import annotations

from .conftest import subscribe

GARAGEBAND = "408709785"
TEAMS = "1113153706"


def test_asset_management_notification_reports_the_event_with_the_bearer_secret(hq, receiver):
    subscribe(hq, receiver)
    event_id = hq.post(
        "assets/associate", {"assets": [{"adamId": GARAGEBAND}], "serialNumbers": ["N1"]}
    ).json()["eventId"]
    [body] = receiver.wait_for("ASSET_MANAGEMENT")
    assert all(r["authorization"] == "Bearer hook-secret" for r in receiver.received)
    assert set(body) == {"notificationId", "notificationType", "uId", "notification"}
    assert body["uId"] == hq.uid
    note = body["notification"]
    assert note == {
        "type": "ASSOCIATE",
        "eventId": event_id,
        "result": "SUCCESS",
        "assignments": [{"adamId": GARAGEBAND, "pricingParam": "STDQ", "serialNumber": "N1"}],
    }


def test_notifications_carry_at_most_100_elements_and_one_error_kind_each(hq, receiver):
    subscribe(hq, receiver, ["ASSET_MANAGEMENT"])
    hq.sim.add_asset(hq.uid, "999000222", totalCount=120, catalog={"name": "Hundred Twenty"})
    serials = [f"M{i:03d}" for i in range(150)]
    status = hq.run(
        "assets/associate",
        {
            "assets": [{"adamId": "999000222"}],
            "serialNumbers": serials,
            "clientUserIds": ["ghost-1", "ghost-2"],
        },
    )
    assert status["numCompleted"] == 120
    assert {f["errorNumber"] for f in status["failures"]} == {9709, 9609}
    assert hq.sim.wait_idle()
    notes = [b["notification"] for b in receiver.bodies("ASSET_MANAGEMENT")]
    assert all(len(n["assignments"]) <= 100 for n in notes)
    successes = [n for n in notes if n["result"] == "SUCCESS"]
    assert sorted(len(n["assignments"]) for n in successes) == [20, 100]
    failures = [n for n in notes if n["result"] == "FAILURE"]
    assert sorted((n["error"]["errorNumber"], len(n["assignments"])) for n in failures) == [
        (9609, 2),
        (9709, 30),
    ]
    for note in failures:
        assert "errorMessage" in note["error"]
        if note["error"]["errorNumber"] == 9609:
            assert all("clientUserId" in a for a in note["assignments"])


def test_user_management_notification_lists_the_users(hq, receiver):
    subscribe(hq, receiver, ["USER_MANAGEMENT"])
    hq.post("users/create", {"users": [{"clientUserId": "n-user", "email": "n@example.com"}]})
    [body] = receiver.wait_for("USER_MANAGEMENT")
    note = body["notification"]
    assert (note["type"], note["result"]) == ("CREATE", "SUCCESS")
    [user] = note["users"]
    assert (
        user["clientUserId"] == "n-user" and user["status"] == "Registered" and len(user["inviteCode"]) == 32
    )


def test_purchase_and_refund_send_asset_count(hq, receiver):
    subscribe(hq, receiver, ["ASSET_COUNT"])
    before = hq.asset(GARAGEBAND)
    hq.sim.change_count(hq.uid, GARAGEBAND, 12)
    hq.sim.change_count(hq.uid, GARAGEBAND, -2)
    bodies = receiver.wait_for("ASSET_COUNT", 2)
    assert [b["notification"] for b in bodies] == [
        {"adamId": GARAGEBAND, "pricingParam": "STDQ", "countDelta": 12},
        {"adamId": GARAGEBAND, "pricingParam": "STDQ", "countDelta": -2},
    ]
    after = hq.asset(GARAGEBAND)
    assert after["totalCount"] == before["totalCount"] + 10
    assert after["availableCount"] == before["availableCount"] + 10


def test_accepted_invitation_sends_user_associated(hq, receiver):
    subscribe(hq, receiver, ["USER_ASSOCIATED"])
    hq.sim.accept_invitation(hq.uid, "hq-user-003")
    [body] = receiver.wait_for("USER_ASSOCIATED")
    [user] = body["notification"]["associatedUsers"]
    assert user["clientUserId"] == "hq-user-003"
    assert user["status"] == "Associated" and user["idHash"] and user["inviteCode"]


def test_only_subscribed_types_are_sent(hq, receiver):
    subscribe(hq, receiver, ["ASSET_COUNT"])
    hq.run("users/create", {"users": [{"clientUserId": "quiet"}]})
    assert hq.sim.wait_idle()
    assert receiver.bodies("USER_MANAGEMENT") == []


def test_drop_mode_sends_nothing_and_duplicate_mode_sends_twice(hq, receiver):
    subscribe(hq, receiver, ["ASSET_COUNT"])
    hq.sim.set_notification_mode("drop")
    hq.sim.change_count(hq.uid, GARAGEBAND, 1)
    assert hq.sim.wait_idle()
    assert receiver.bodies("ASSET_COUNT") == []
    hq.sim.set_notification_mode("duplicate")
    hq.sim.change_count(hq.uid, GARAGEBAND, 1)
    bodies = receiver.wait_for("ASSET_COUNT", 2)
    assert len(bodies) == 2 and bodies[0]["notificationId"] == bodies[1]["notificationId"]


def test_failed_delivery_is_retried_three_times_then_dropped(hq, receiver):
    subscribe(hq, receiver, ["ASSET_COUNT"])
    receiver.status = 503
    hq.sim.change_count(hq.uid, GARAGEBAND, 1)
    assert hq.sim.wait_idle()
    bodies = receiver.bodies("ASSET_COUNT")
    assert len(bodies) == 3 and len({b["notificationId"] for b in bodies}) == 1
    [record] = [n for n in hq.sim.notifications() if n["body"]["notificationType"] == "ASSET_COUNT"]
    assert (record["status"], record["attempts"]) == (503, 3)
