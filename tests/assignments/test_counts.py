"""A5/B4: license counts move exactly once per license, whether Apple's notification, a status poll, or both
(and duplicates of either) report the association."""

from __future__ import annotations

import contextlib

import pytest

from applesync.notifications import notification_process
from apps.models import App
from assignments import services
from assignments.events import poll_run
from assignments.models import License, LicenseRun, VPPUser
from assignments.services import execute
from tests import factories
from tests.assignments.conftest import add_members
from tests.tokens.test_notifications import SECRET, post
from tests.tokens.test_sync import connect, sync

pytestmark = pytest.mark.django_db


def _apple_counts(apple, token, adam_id):
    asset = next(a for a in apple.location(token.location_uid)["assets"] if a["adamId"] == adam_id)
    return asset["assignedCount"], asset["availableCount"]


def test_a5_counts_follow_apple_when_notification_and_poll_both_report(apple, client, administrator):
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
    add_members(group, devices=factories.DeviceFactory.create_batch(3))
    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    run = LicenseRun.objects.get(assignment=assignment, kind="allocate")
    execute(run)
    apple.wait_idle()

    bodies = [r["body"] for r in apple.notifications() if r["body"]["notificationType"] == "ASSET_MANAGEMENT"]
    assert bodies
    for body in bodies + bodies:  # Apple may deliver twice
        response = post(client, token, body)
        assert response.status_code == 200
        if response.json().get("status") != "duplicate":
            notification_process(receipt_id=response.json()["id"])
    assert poll_run(run) in (True, False)
    poll_run(run)

    assert License.objects.filter(app=app, state="assigned").count() == 3
    app.refresh_from_db()
    assert (app.used_licenses, app.available_licenses) == _apple_counts(apple, token, "408709785")


def _deliver(apple, client, token, seen: set) -> int:
    """Post Apple's notifications to the console, process each as the worker does, then run the work it queued
    after commit (the licenses that waited for a user's registration)."""
    delivered = 0
    for record in apple.notifications():
        body = record["body"]
        if body["notificationId"] in seen:
            continue
        seen.add(body["notificationId"])
        response = post(client, token, body)
        assert response.status_code == 200
        with capture_on_commit_callbacks() as queued:
            notification_process(receipt_id=response.json()["id"])
        with eager_tasks():
            for callback in queued:
                callback()
        delivered += 1
    return delivered


@contextlib.contextmanager
def capture_on_commit_callbacks():
    from django.db import DEFAULT_DB_ALIAS, connections

    connection = connections[DEFAULT_DB_ALIAS]
    start = len(connection.run_on_commit)
    queued: list = []
    try:
        yield queued
    finally:
        queued.extend(func for _sids, func, _robust in connection.run_on_commit[start:])
        del connection.run_on_commit[start:]


@contextlib.contextmanager
def eager_tasks():
    """Tasks sent now run in this thread (a worker's path, without a broker)."""
    from celery import current_app

    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    try:
        yield
    finally:
        current_app.conf.task_always_eager = previous


def test_s4_user_license_follows_registration_notifications_to_assigned(apple, client, administrator):
    """User licensing driven by Apple's notifications alone: users/create → USER_MANAGEMENT → the waiting
    license is requested → ASSET_MANAGEMENT → assigned, counted once."""
    token = connect(apple, notification_secret=SECRET)
    sync(token)
    location = apple.state.locations[token.location_uid]
    apple.set_notification_mode("drop")
    with apple.state.lock:
        location.notification_url = "http://console.invalid/notify"
        location.notification_auth_token = SECRET
        location.notification_types = ["ASSET_MANAGEMENT", "USER_MANAGEMENT", "USER_ASSOCIATED"]
    app = App.objects.get(vpp_token=token, adam_id="408709785")
    person = factories.DirectoryUserFactory()
    group = factories.GroupFactory(group_type="user")
    add_members(group, users=[person])
    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type="user", actor=administrator
    )
    execute(LicenseRun.objects.get(assignment=assignment, kind="allocate"))
    seen: set = set()
    for _ in range(4):
        apple.wait_idle()
        if not _deliver(apple, client, token, seen):
            break
    license_ = License.objects.get(app=app, user=person)
    assert license_.state == "assigned", (license_.state, license_.error)
    app.refresh_from_db()
    assert (app.used_licenses, app.available_licenses) == _apple_counts(apple, token, "408709785")


def test_b4_registration_notification_requests_waiting_licenses_only_after_commit(
    apple, client, administrator
):
    """No Apple call inside the notification's transaction: USER_MANAGEMENT settles the user while the
    receipt is locked; the waiting license is associated by a task enqueued after commit."""
    token = connect(apple, notification_secret=SECRET)
    sync(token)
    location = apple.state.locations[token.location_uid]
    apple.set_notification_mode("drop")
    with apple.state.lock:
        location.notification_url = "http://console.invalid/notify"
        location.notification_auth_token = SECRET
        location.notification_types = ["USER_MANAGEMENT"]
    app = App.objects.get(vpp_token=token, adam_id="408709785")
    person = factories.DirectoryUserFactory()
    group = factories.GroupFactory(group_type="user")
    add_members(group, users=[person])
    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type="user", actor=administrator
    )
    execute(LicenseRun.objects.get(assignment=assignment, kind="allocate"))
    apple.wait_idle()
    [record] = [r for r in apple.notifications() if r["body"]["notificationType"] == "USER_MANAGEMENT"]
    response = post(client, token, record["body"])
    with capture_on_commit_callbacks() as queued:
        receipt = notification_process(receipt_id=response.json()["id"])
    assert receipt.processed_at is not None
    license_ = License.objects.get(app=app, user=person)
    assert (license_.state, license_.event_id) == ("pending", "")  # Apple not asked yet
    client_user_id = VPPUser.objects.get(user=person).client_user_id
    assert _apple_assignments_of(apple, token, client_user_id) == []
    assert len(queued) == 1
    with eager_tasks():
        queued[0]()
    license_.refresh_from_db()
    assert license_.event_id != ""
    apple.wait_idle()
    assert [a["adamId"] for a in _apple_assignments_of(apple, token, client_user_id)] == [app.adam_id]


def _apple_assignments_of(apple, token, client_user_id: str) -> list:
    return [
        a
        for a in apple.location(token.location_uid)["assignments"]
        if a.get("clientUserId") == client_user_id
    ]
