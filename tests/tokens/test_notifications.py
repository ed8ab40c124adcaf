"""Apple's notifications (B4): the per-token webhook, de-duplication, and what processing changes."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from applesync.notifications import notification_process
from apps.models import App, AppleAssignment
from assignments.models import VPPUser
from tests import factories
from tests.tokens.test_sync import connect, sync
from tokens.models import NotificationReceipt, SyncRun

pytestmark = pytest.mark.django_db

SECRET = "s3cret-notification-token"


def notify_url(token) -> str:
    return reverse("tokens:notify", args=[token.mdm_info_id])


def envelope(token, kind: str, payload: dict, notification_id: str | None = None) -> dict:
    return {
        "notificationId": notification_id or str(uuid.uuid4()),
        "notificationType": kind,
        "uId": token.location_uid,
        "notification": payload,
    }


def post(client, token, body, secret=SECRET, **extra):
    import json

    return client.post(
        notify_url(token),
        data=json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        **extra,
    )


def receive(client, token, kind, payload, **kwargs) -> NotificationReceipt:
    response = post(client, token, envelope(token, kind, payload, **kwargs))
    assert response.status_code == 200, response.content
    return notification_process(receipt_id=response.json()["id"])


@pytest.fixture
def token(db):
    return factories.VPPTokenFactory(notification_secret=SECRET)


def test_b4_notification_is_stored_enqueued_and_answered_at_once(
    client, token, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, token, envelope(token, "TEST_NOTIFICATION", {}, "n-1"))
    assert response.status_code == 200
    receipt = NotificationReceipt.objects.get(vpp_token=token, notification_id="n-1")
    assert receipt.processed_at is None
    assert len(callbacks) == 1  # process_notification.delay(receipt_id) after commit
    receipt = notification_process(receipt_id=receipt.pk)
    assert receipt.result == "acknowledged"


def test_b4_duplicate_notification_is_answered_200_and_not_processed_twice(client, token):
    app = factories.AppFactory(vpp_token=token, adam_id="408709785", total_licenses=10, available_licenses=10)
    body = envelope(
        token, "ASSET_COUNT", {"adamId": "408709785", "pricingParam": "STDQ", "countDelta": 5}, "dup"
    )
    first = post(client, token, body)
    notification_process(receipt_id=first.json()["id"])
    second = post(client, token, body)
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    notification_process(receipt_id=second.json()["id"])
    assert NotificationReceipt.objects.filter(vpp_token=token).count() == 1
    app.refresh_from_db()
    assert (app.total_licenses, app.available_licenses) == (15, 15)


def test_b4_bad_secret_is_refused_with_403(client, token):
    body = envelope(token, "TEST_NOTIFICATION", {})
    assert post(client, token, body, secret="wrong").status_code == 403
    response = client.post(notify_url(token), data=body, content_type="application/json")
    assert response.status_code == 403
    assert not NotificationReceipt.objects.exists()


def test_b4_token_without_secret_refuses_everything(client):
    token = factories.VPPTokenFactory(notification_secret="")
    assert post(client, token, envelope(token, "TEST_NOTIFICATION", {}), secret="").status_code == 403


def test_non_json_or_malformed_notification_is_400(client, token):
    assert post(client, token, "not json").status_code == 400
    assert post(client, token, {"hello": "world"}).status_code == 400
    other = envelope(token, "TEST_NOTIFICATION", {})
    other["uId"] = "another-location"
    assert post(client, token, other).status_code == 400


def test_notification_with_a_nul_character_is_400_and_stores_nothing(client, token):
    """PostgreSQL's jsonb refuses NUL (it answered 500); SQLite would store it: both refuse it alike."""
    for payload in ({"\x00": 1}, {"countDelta": "1\x00"}, {"list": [{"deep": "\x00"}]}):
        response = post(client, token, envelope(token, "ASSET_COUNT", payload))
        assert response.status_code == 400
        assert "NUL" in response.json()["detail"]
    assert not NotificationReceipt.objects.filter(vpp_token=token).exists()


def test_unknown_token_is_404_and_get_is_405(client, token):
    token_url = notify_url(token)
    assert client.get(token_url).status_code == 405
    unknown = factories.VPPTokenFactory.build(mdm_info_id=uuid.uuid4())
    assert post(client, unknown, envelope(token, "TEST_NOTIFICATION", {})).status_code == 404


def test_b4_asset_count_adjusts_total_and_available(client, token):
    app = factories.AppFactory(
        vpp_token=token, adam_id="408709785", total_licenses=10, used_licenses=4, available_licenses=6
    )
    receipt = receive(
        client, token, "ASSET_COUNT", {"adamId": "408709785", "pricingParam": "STDQ", "countDelta": -2}
    )
    app.refresh_from_db()
    assert (app.total_licenses, app.used_licenses, app.available_licenses) == (8, 4, 4)
    assert receipt.processed_at is not None


def test_b4_unknown_asset_or_negative_counts_request_a_sync_of_that_asset(client, token):
    receive(client, token, "ASSET_COUNT", {"adamId": "555", "pricingParam": "STDQ", "countDelta": 3})
    run = SyncRun.objects.get(vpp_token=token)
    assert (run.trigger, run.adam_id) == ("notification", "555")
    run.status = SyncRun.Status.COMPLETED
    run.save()
    app = factories.AppFactory(vpp_token=token, adam_id="777", total_licenses=1, available_licenses=1)
    receive(client, token, "ASSET_COUNT", {"adamId": "777", "pricingParam": "STDQ", "countDelta": -5})
    app.refresh_from_db()
    assert app.total_licenses == 1  # nothing applied
    assert SyncRun.objects.filter(vpp_token=token, summary__adam_id="777", status="queued").exists()


def test_b4_asset_management_success_updates_mirror_and_counts(client, token):
    app = factories.AppFactory(
        vpp_token=token, adam_id="408709785", total_licenses=10, used_licenses=0, available_licenses=10
    )
    payload = {
        "type": "ASSOCIATE",
        "result": "SUCCESS",
        "eventId": "e-1",
        "assignments": [
            {"adamId": "408709785", "pricingParam": "STDQ", "serialNumber": "SER1"},
            {"adamId": "408709785", "pricingParam": "STDQ", "clientUserId": "cu-1"},
        ],
    }
    receive(client, token, "ASSET_MANAGEMENT", payload)
    app.refresh_from_db()
    assert (app.used_licenses, app.available_licenses) == (2, 8)
    assert AppleAssignment.objects.filter(vpp_token=token, app=app).count() == 2
    # The same event again under another notification id changes nothing (the mirror already has it).
    receive(client, token, "ASSET_MANAGEMENT", payload)
    app.refresh_from_db()
    assert app.used_licenses == 2
    receive(
        client,
        token,
        "ASSET_MANAGEMENT",
        {**payload, "type": "DISASSOCIATE", "assignments": payload["assignments"][:1]},
    )
    app.refresh_from_db()
    assert (app.used_licenses, app.available_licenses) == (1, 9)
    assert list(AppleAssignment.objects.filter(vpp_token=token).values_list("client_user_id", flat=True)) == [
        "cu-1"
    ]


def test_b4_asset_management_failure_changes_no_counts(client, token):
    app = factories.AppFactory(
        vpp_token=token, adam_id="408709785", total_licenses=1, available_licenses=0, used_licenses=1
    )
    payload = {
        "type": "ASSOCIATE",
        "result": "FAILURE",
        "eventId": "e-2",
        "assignments": [{"adamId": "408709785", "pricingParam": "STDQ", "serialNumber": "SER2"}],
        "error": {"errorNumber": 9709, "errorMessage": "There aren't enough assets available."},
    }
    receipt = receive(client, token, "ASSET_MANAGEMENT", payload)
    app.refresh_from_db()
    assert (app.used_licenses, app.available_licenses) == (1, 0)
    assert "9709" in receipt.result
    assert not AppleAssignment.objects.exists()


def test_t9_user_notifications_update_only_users_we_created(client, token):
    ours = VPPUser.objects.create(
        vpp_token=token, user=factories.DirectoryUserFactory(), client_user_id="ours-1", status="registered"
    )
    receive(
        client,
        token,
        "USER_ASSOCIATED",
        {
            "associatedUsers": [
                {"clientUserId": "ours-1", "idHash": "abc=", "status": "Associated"},
                {"clientUserId": "someone-elses", "idHash": "xyz=", "status": "Associated"},
            ]
        },
    )
    ours.refresh_from_db()
    assert (ours.status, ours.id_hash) == ("associated", "abc=")
    assert VPPUser.objects.count() == 1


def test_b4_simulator_notifications_apply_end_to_end(apple, client):
    """Real notification bodies from the simulator: a purchase (ASSET_COUNT) and an accepted invitation."""
    token = connect(apple, notification_secret=SECRET)
    sync(token)
    location = apple.state.locations[token.location_uid]
    apple.set_notification_mode("drop")  # the simulator records the bodies; the test delivers them
    with apple.state.lock:
        location.notification_url = "http://console.invalid/notify"
        location.notification_auth_token = SECRET
        location.notification_types = [
            "ASSET_COUNT",
            "ASSET_MANAGEMENT",
            "USER_MANAGEMENT",
            "USER_ASSOCIATED",
        ]
    VPPUser.objects.create(
        vpp_token=token,
        user=factories.DirectoryUserFactory(),
        client_user_id="hq-user-003",
        status="registered",
    )
    apple.change_count(token.location_uid, "408709785", 7)
    apple.accept_invitation(token.location_uid, "hq-user-003")
    before = App.objects.get(vpp_token=token, adam_id="408709785")
    for record in apple.notifications():
        response = post(client, token, record["body"])
        assert response.status_code == 200
        notification_process(receipt_id=response.json()["id"])
    after = App.objects.get(vpp_token=token, adam_id="408709785")
    assert after.total_licenses == before.total_licenses + 7
    assert after.available_licenses == before.available_licenses + 7
    assert VPPUser.objects.get(client_user_id="hq-user-003").status == "associated"
    # The counts now agree with Apple's.
    apple_asset = next(a for a in apple.location(token.location_uid)["assets"] if a["adamId"] == "408709785")
    assert (after.total_licenses, after.available_licenses) == (
        apple_asset["totalCount"],
        apple_asset["availableCount"],
    )


def test_b4_apple_needs_no_csrf_token(token):
    from django.test import Client

    apple_client = Client(enforce_csrf_checks=True)
    response = post(apple_client, token, envelope(token, "TEST_NOTIFICATION", {}))
    assert response.status_code == 200
