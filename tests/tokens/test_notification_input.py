"""Hostile or malformed Apple notifications with the right secret (B4): validated while parsed into typed
values, recorded as rejected with the reason, a resync of the token requested, nothing else changed; never a
500."""

from __future__ import annotations

import pytest

from applesync.notifications import notification_process
from apps.models import App, AppleAssignment
from assignments.models import VPPUser
from tests import factories
from tests.tokens.test_notifications import SECRET, envelope, post
from tokens.models import NotificationReceipt, SyncRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(db):
    return factories.VPPTokenFactory(notification_secret=SECRET)


@pytest.fixture
def app(token):
    return factories.AppFactory(
        vpp_token=token, adam_id="408709785", total_licenses=10, used_licenses=4, available_licenses=6
    )


def _counts(app) -> tuple[int, int, int]:
    app.refresh_from_db()
    return app.total_licenses, app.used_licenses, app.available_licenses


def _assert_rejected(response, token, reason: str) -> NotificationReceipt:
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected"
    receipt = NotificationReceipt.objects.get(pk=response.json()["id"])
    assert receipt.processed_at is not None
    assert receipt.result == f"rejected: {reason}"
    run = SyncRun.objects.get(vpp_token=token)
    assert (run.trigger, run.adam_id, run.status) == ("notification", "", "queued")
    return receipt


@pytest.mark.parametrize("delta", [10**30, 2**62, -(2**62)])
def test_b4_count_delta_out_of_range_is_rejected_and_counts_stay(client, token, app, delta):
    body = envelope(
        token, "ASSET_COUNT", {"adamId": app.adam_id, "pricingParam": "STDQ", "countDelta": delta}
    )
    response = post(client, token, body)
    _assert_rejected(response, token, "countDelta is out of range")
    assert _counts(app) == (10, 4, 6)


def test_b4_count_delta_that_is_not_a_number_is_rejected(client, token, app):
    body = envelope(token, "ASSET_COUNT", {"adamId": app.adam_id, "countDelta": [1, 2]})
    _assert_rejected(post(client, token, body), token, "countDelta is not a whole number")
    assert _counts(app) == (10, 4, 6)


def test_b4_assignments_as_a_string_is_rejected_and_nothing_is_mirrored(client, token, app):
    payload = {"type": "ASSOCIATE", "eventId": "e-1", "result": "SUCCESS", "assignments": "408709785"}
    response = post(client, token, envelope(token, "ASSET_MANAGEMENT", payload))
    _assert_rejected(response, token, "assignments is not a list of objects")
    assert not AppleAssignment.objects.exists()
    assert _counts(app) == (10, 4, 6)


def test_b4_error_number_that_is_not_a_number_is_rejected(client, token, app):
    payload = {
        "type": "ASSOCIATE",
        "eventId": "e-2",
        "result": "FAILURE",
        "assignments": [{"adamId": app.adam_id, "serialNumber": "SN1"}],
        "error": {"errorNumber": "x", "errorMessage": "boom"},
    }
    response = post(client, token, envelope(token, "ASSET_MANAGEMENT", payload))
    _assert_rejected(response, token, "errorNumber is not a whole number")


def test_b4_ids_longer_than_the_console_stores_are_rejected(client, token, app):
    payload = {
        "type": "ASSOCIATE",
        "result": "SUCCESS",
        "assignments": [{"adamId": app.adam_id, "serialNumber": "S" * 65}],
    }
    response = post(client, token, envelope(token, "ASSET_MANAGEMENT", payload))
    _assert_rejected(response, token, "serialNumber is longer than 64 characters")
    assert not AppleAssignment.objects.exists()


def test_b4_user_list_with_a_non_object_is_rejected_and_users_stay(client, token):
    ours = VPPUser.objects.create(
        vpp_token=token, user=factories.DirectoryUserFactory(), client_user_id="ours-1", status="registered"
    )
    payload = {"associatedUsers": [{"clientUserId": "ours-1", "status": "Associated"}, "junk"]}
    response = post(client, token, envelope(token, "USER_ASSOCIATED", payload))
    _assert_rejected(response, token, "associatedUsers is not a list of objects")
    ours.refresh_from_db()
    assert ours.status == "registered"


@pytest.mark.parametrize("length", [101, 200])
def test_b4_notification_id_longer_than_its_column_answers_400_and_stores_nothing(client, token, length):
    body = envelope(token, "TEST_NOTIFICATION", {}, notification_id="n" * length)
    response = post(client, token, body)
    assert response.status_code == 400
    assert "notificationId" in response.json()["detail"]
    assert not NotificationReceipt.objects.exists()


def test_b4_a_100_character_notification_id_is_accepted(client, token):
    response = post(client, token, envelope(token, "TEST_NOTIFICATION", {}, notification_id="n" * 100))
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"


def test_b4_deeply_nested_json_answers_400_not_500(client, token):
    response = post(client, token, "[" * 40000)
    assert response.status_code == 400
    assert response.json()["detail"] == "the body is not an Apple notification in JSON"
    assert not NotificationReceipt.objects.exists()


def test_b4_malformed_notification_already_stored_is_rejected_by_the_worker(token, app):
    """The worker path: a receipt stored before validation was this strict (or altered) is rejected when
    processed, with the reason, and a resync is requested; the counts stay."""
    receipt = NotificationReceipt.objects.create(
        vpp_token=token,
        notification_id="stored-1",
        notification_type="ASSET_COUNT",
        payload=envelope(
            token, "ASSET_COUNT", {"adamId": app.adam_id, "countDelta": 10**30}, notification_id="stored-1"
        ),
    )
    receipt = notification_process(receipt_id=receipt.pk)
    assert receipt.result == "rejected: countDelta is out of range"
    assert receipt.processed_at is not None
    assert _counts(app) == (10, 4, 6)
    assert SyncRun.objects.filter(vpp_token=token, trigger="notification", status="queued").count() == 1
    # Processing it again (a redelivered task) changes nothing more.
    notification_process(receipt_id=receipt.pk)
    assert SyncRun.objects.filter(vpp_token=token).count() == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"adamId": "408709785", "countDelta": "x"},
        {"adamId": {"nested": True}, "countDelta": 1},
        {"adamId": "408709785", "countDelta": True},
    ],
)
def test_b4_worker_rejects_each_malformed_asset_count(token, app, payload):
    receipt = NotificationReceipt.objects.create(
        vpp_token=token,
        notification_id="stored-2",
        notification_type="ASSET_COUNT",
        payload=envelope(token, "ASSET_COUNT", payload, notification_id="stored-2"),
    )
    receipt = notification_process(receipt_id=receipt.pk)
    assert receipt.result.startswith("rejected: ")
    assert _counts(app) == (10, 4, 6)
    assert App.objects.count() == 1
