"""Issue 11: a license run ends as soon as Apple's notification settles its licenses, not at its next status
poll (which comes POLL_SECONDS later): the assignment's progress no longer sits at "Running 50 %"."""

from __future__ import annotations

import pytest

from applesync.notifications import notification_process
from apps.models import App
from assignments import services
from assignments.models import License, LicenseRun
from assignments.services import execute
from tests import factories
from tests.assignments.conftest import add_members
from tests.tokens.test_notifications import SECRET, post
from tests.tokens.test_sync import connect, sync

pytestmark = pytest.mark.django_db


def _assign(apple, administrator, *, devices: int):
    token = connect(apple, notification_secret=SECRET)
    sync(token)
    location = apple.state.locations[token.location_uid]
    apple.set_notification_mode("drop")  # the simulator records the bodies; the test delivers them
    with apple.state.lock:
        location.notification_url = "http://console.invalid/notify"
        location.notification_auth_token = SECRET
        location.notification_types = ["ASSET_MANAGEMENT"]
    app = App.objects.get(vpp_token=token, adam_id="408709785")
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=factories.DeviceFactory.create_batch(devices))
    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    run = execute(LicenseRun.objects.get(assignment=assignment, kind="allocate"))
    apple.wait_idle()
    return token, app, run


def test_allocation_run_finishes_when_the_notification_settles_its_licenses(apple, client, administrator):
    token, app, run = _assign(apple, administrator, devices=3)
    assert run.status == "running"  # waiting for Apple's event, its first poll 30 s away
    assert License.objects.filter(app=app, state="pending").count() == 3

    for record in apple.notifications():
        if record["body"]["notificationType"] != "ASSET_MANAGEMENT":
            continue
        response = post(client, token, record["body"])
        assert response.status_code == 200
        notification_process(receipt_id=response.json()["id"])

    # No poll ran: the notification alone ended the run, with its counts.
    run.refresh_from_db()
    assert License.objects.filter(app=app, state="assigned").count() == 3
    assert (run.status, run.progress, run.succeeded, run.failed) == ("completed", 100, 3, 0)
    assert run.summary["events"] == [] and run.summary["done_events"]


def test_a_run_with_an_unsettled_event_keeps_waiting(apple, client, administrator):
    """A notification that settles one of the run's events does not end it while another still holds a
    pending license."""
    token, app, run = _assign(apple, administrator, devices=2)
    waiting = License.objects.filter(app=app).first()
    License.objects.filter(pk=waiting.pk).update(event_id="still-at-apple")
    run.summary = {**run.summary, "events": [*run.summary["events"], "still-at-apple"]}
    run.save(update_fields=["summary"])

    for record in apple.notifications():
        if record["body"]["notificationType"] == "ASSET_MANAGEMENT":
            notification_process(receipt_id=post(client, token, record["body"]).json()["id"])

    run.refresh_from_db()
    assert License.objects.get(pk=waiting.pk).state == "pending"
    assert License.objects.filter(app=app, state="assigned").count() == 1
    assert (run.status, run.finished_at) == ("running", None)
