"""Issue 13: Apple's ASSET_MANAGEMENT notifications settle a large allocation fast. Each notification (at most
a hundred assignments) costs the same few queries whatever the size of its event, and a notification Apple
delivers while another is being processed is stored at once (Apple delivers one at a time)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from applesync.notifications import notification_process
from apps.models import App, AppleAssignment
from assignments import services
from assignments.models import License, LicenseRun
from assignments.services import execute
from tests import factories
from tests.assignments.conftest import add_members
from tests.tokens.test_notifications import SECRET, envelope, post
from tests.tokens.test_sync import connect, sync
from tokens import services as token_services
from tokens.models import NotificationReceipt

ADAM_ID = "955000777"


def _allocate(apple, administrator, *, devices: int):
    """A Required device assignment of `devices` devices, its associate requests answered by Apple, whose
    ASSET_MANAGEMENT notifications the simulator records (the test delivers them)."""
    token = connect(apple, notification_secret=SECRET)
    apple.add_asset(token.location_uid, ADAM_ID, totalCount=devices, deviceAssignable=True, productType="App")
    sync(token)
    apple.set_notification_mode("drop")
    location = apple.state.locations[token.location_uid]
    with apple.state.lock:
        location.notification_url = "http://console.invalid/notify"
        location.notification_auth_token = SECRET
        location.notification_types = ["ASSET_MANAGEMENT"]
    app = App.objects.get(vpp_token=token, adam_id=ADAM_ID)
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=factories.DeviceFactory.create_batch(devices))
    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    run = execute(LicenseRun.objects.get(assignment=assignment, kind="allocate"))
    assert apple.wait_idle()
    bodies = [r["body"] for r in apple.notifications() if r["body"]["notificationType"] == "ASSET_MANAGEMENT"]
    return token, app, run, bodies


@pytest.mark.django_db
def test_each_notification_settles_its_hundred_licenses_in_the_same_few_queries(apple, client, administrator):
    token, app, run, bodies = _allocate(apple, administrator, devices=250)
    assert [len(b["notification"]["assignments"]) for b in bodies] == [100, 100, 50]

    queries = []
    for body in bodies:
        receipt_id = post(client, token, body).json()["id"]
        with CaptureQueriesContext(connection) as captured:
            notification_process(receipt_id=receipt_id)
        queries.append(len(captured))

    # Not one query per assignment: the same count for 100 assignments as for 50, and few.
    assert queries[0] == queries[1] <= 20, queries
    assert queries[2] <= queries[0] + 6, queries  # the last one also ends the run
    run.refresh_from_db()
    assert (run.status, run.succeeded, run.failed) == ("completed", 250, 0)
    assert License.objects.filter(app=app, state="assigned").count() == 250
    assert AppleAssignment.objects.filter(vpp_token=token, adam_id=ADAM_ID).count() == 250
    app.refresh_from_db()
    assert (app.used_licenses, app.available_licenses) == (250, 0)

    # Apple delivers a notification twice: nothing moves a second time.
    again = post(client, token, {**bodies[0], "notificationId": "redelivered"}).json()["id"]
    notification_process(receipt_id=again)
    app.refresh_from_db()
    assert (app.used_licenses, app.available_licenses) == (250, 0)
    assert AppleAssignment.objects.filter(vpp_token=token, adam_id=ADAM_ID).count() == 250


@pytest.mark.django_db
def test_notifications_of_one_event_waiting_together_are_applied_in_one_go(apple, client, administrator):
    token, app, run, bodies = _allocate(apple, administrator, devices=250)
    first, second = (post(client, token, body).json()["id"] for body in bodies[:2])
    # Another event's notification in between: what follows it waits for its own turn (Apple's order).
    other = envelope(
        token,
        "ASSET_MANAGEMENT",
        {
            "type": "DISASSOCIATE",
            "eventId": "another-event",
            "result": "SUCCESS",
            "assignments": [{"adamId": ADAM_ID, "pricingParam": "STDQ", "serialNumber": "NOT-OURS"}],
        },
    )
    between = post(client, token, other).json()["id"]
    third = post(client, token, bodies[2]).json()["id"]

    with CaptureQueriesContext(connection) as captured:
        notification_process(receipt_id=first)
    assert len(captured) <= 25  # two notifications' 200 licenses: the queries of one, and a receipt write
    receipts = NotificationReceipt.objects.in_bulk([first, second, between, third])
    assert receipts[second].processed_at is not None
    assert (
        receipts[second].result
        == f"applied with notification {bodies[0]['notificationId']}: {ADAM_ID}: used +200"
    )
    assert receipts[between].processed_at is None and receipts[third].processed_at is None
    assert License.objects.filter(app=app, state="assigned").count() == 200
    run.refresh_from_db()
    assert run.status == "running"

    for receipt_id in (second, between, third):  # their own tasks: the one already applied changes nothing
        notification_process(receipt_id=receipt_id)
    run.refresh_from_db()
    assert (run.status, run.succeeded) == ("completed", 250)
    app.refresh_from_db()
    assert (app.used_licenses, app.available_licenses) == (250, 0)
    assert AppleAssignment.objects.filter(vpp_token=token, adam_id=ADAM_ID).count() == 250


@pytest.mark.django_db(transaction=True)
def test_a_notification_apple_delivers_during_another_ones_processing_is_stored_at_once(postgres):
    token = factories.VPPTokenFactory(notification_secret=SECRET)
    first, _created = token_services.notification_receipt_store(
        token=token,
        notification_id="first",
        notification_type="ASSET_COUNT",
        body=envelope(token, "ASSET_COUNT", {"adamId": "1", "pricingParam": "STDQ", "countDelta": 1}),
    )
    answers: list[int] = []

    def deliver() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '3s'")  # waiting on the processing fails the test
            body = envelope(token, "ASSET_COUNT", {"adamId": "1", "pricingParam": "STDQ", "countDelta": 2})
            answers.append(post(Client(), token, body).status_code)
        finally:
            connection.close()

    with transaction.atomic():
        token_services.notification_receipt_lock(receipt_id=first.pk)  # being processed, not committed
        delivery = threading.Thread(target=deliver)
        delivery.start()
        delivery.join(10)
        assert answers == [200]
    assert NotificationReceipt.objects.filter(vpp_token=token).count() == 2
