"""Defects a rule-by-rule audit found (S11, S3, S8, S12, B3), each proved against the simulator over HTTP."""

from __future__ import annotations

import pytest

from assignments import allocation, services
from assignments.models import License, LicenseRun, VPPUser
from assignments.services import execute
from tests import factories
from tests.assignments.conftest import add_members, settle


def _at_apple(apple, uid, adam_id):
    return [a for a in apple.location(uid, include_assignments=True)["assignments"] if a["adamId"] == adam_id]


def _required(app, group, license_type, actor, apple):
    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type=license_type, actor=actor
    )
    settle(apple, execute(LicenseRun.objects.get(assignment=assignment, kind="allocate")))
    return assignment


def _execute_queued(apple):
    """Run every queued license run (as the worker would) and let Apple finish them."""
    for run in LicenseRun.objects.filter(status="queued").order_by("id"):
        settle(apple, execute(run))


@pytest.mark.django_db
def test_s11_user_in_two_groups_keeps_license_when_leaving_one(apple, location, make_app, administrator):
    from directory.models import GroupMembership

    _token, uid = location
    app = make_app(total=5)
    first, second = factories.GroupFactory.create_batch(2, group_type="user")
    user = factories.DirectoryUserFactory()
    add_members(first, users=[user])
    add_members(second, users=[user])
    _required(app, first, "user", administrator, apple)
    _required(app, second, "user", administrator, apple)
    lic = License.objects.get(app=app, user=user)
    assert lic.state == "assigned"

    # The user leaves the first group; the second still assigns the app as Required.
    GroupMembership.objects.filter(group=first, user=user).delete()
    services.group_members_removed(group_id=first.pk, user_ids=[user.pk], device_ids=[], actor=None)
    _execute_queued(apple)

    lic.refresh_from_db()
    assert lic.state == "assigned"
    assert lic.assignment.group == second
    client_user_id = VPPUser.objects.get(user=user).client_user_id
    assert [a.get("clientUserId") for a in _at_apple(apple, uid, app.adam_id)] == [client_user_id]

    # Leaving the second group too: no assignment reaches the user any more, the license goes.
    GroupMembership.objects.filter(group=second, user=user).delete()
    services.group_members_removed(group_id=second.pk, user_ids=[user.pk], device_ids=[], actor=None)
    _execute_queued(apple)
    lic.refresh_from_db()
    assert lic.state == "revoked"
    assert _at_apple(apple, uid, app.adam_id) == []


@pytest.mark.django_db
def test_s11_user_leaving_a_user_group_loses_its_device_licenses(apple, location, make_app, administrator):
    from directory.models import GroupMembership

    _token, uid = location
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="user")
    leaver, stayer = factories.DirectoryUserFactory.create_batch(2)
    leaving_device = factories.DeviceFactory(primary_user=leaver)
    staying_device = factories.DeviceFactory(primary_user=stayer)
    add_members(group, users=[leaver, stayer])
    _required(app, group, "device", administrator, apple)
    assert License.objects.filter(app=app, state="assigned").count() == 2

    GroupMembership.objects.filter(group=group, user=leaver).delete()
    services.group_members_removed(group_id=group.pk, user_ids=[leaver.pk], device_ids=[], actor=None)
    _execute_queued(apple)
    assert License.objects.get(app=app, device=leaving_device).state == "revoked"
    assert License.objects.get(app=app, device=staying_device).state == "assigned"
    assert [a["serialNumber"] for a in _at_apple(apple, uid, app.adam_id)] == [staying_device.serial_number]


@pytest.mark.django_db
def test_s11_nightly_reconciliation_requests_missing_required_licenses(
    apple, location, make_app, administrator
):
    from assignments.tasks import reconcile_all

    _token, uid = location
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="device")
    device = factories.DeviceFactory()
    add_members(group, devices=[device])
    _required(app, group, "device", administrator, apple)
    lic = License.objects.get(app=app, device=device)
    # The license was lost although the Required assignment still reaches the device.
    services.license_revoke(license=lic, actor=administrator)
    settle(apple)
    from assignments.events import poll_events

    poll_events(token=app.vpp_token, event_ids=[License.objects.get(pk=lic.pk).event_id])
    assert License.objects.get(pk=lic.pk).state == "revoked"
    assert _at_apple(apple, uid, app.adam_id) == []

    reconcile_all.run()  # the nightly task body, in this thread
    _execute_queued(apple)
    for run in LicenseRun.objects.filter(kind="reconcile"):
        settle(apple, run)

    held = License.objects.get(app=app, device=device, state="assigned")
    assert held.assignment.group == group
    assert [a["serialNumber"] for a in _at_apple(apple, uid, app.adam_id)] == [device.serial_number]


@pytest.mark.django_db
def test_s3_removal_reported_keeps_license_while_own_assignment_is_required(
    apple, location, make_app, administrator, admin_api
):
    _token, uid = location
    app = make_app(total=5)
    kept, removed = factories.DeviceFactory.create_batch(2)
    required_group = factories.GroupFactory(group_type="device")
    uninstall_group = factories.GroupFactory(group_type="device")
    add_members(required_group, devices=[kept])
    add_members(uninstall_group, devices=[removed])
    _required(app, required_group, "device", administrator, apple)
    uninstall = _required(app, uninstall_group, "device", administrator, apple)
    services.assignment_update(assignment=uninstall, intent="uninstall", actor=administrator)
    assert License.objects.filter(app=app, state="assigned").count() == 2

    # The device whose own assignment is Required reports the app removed: the license stays (M3).
    response = admin_api.post(f"/api/v1/apps/{app.pk}/removed/", {"device": kept.pk})
    assert response.status_code == 202
    assert response.json()["state"] == "assigned"
    settle(apple)
    assert License.objects.get(app=app, device=kept).state == "assigned"

    # The device under Uninstall reports the removal: its license is reclaimed.
    response = admin_api.post(f"/api/v1/apps/{app.pk}/removed/", {"device": removed.pk})
    assert response.json()["state"] == "revoking"
    settle(apple)
    from assignments.events import poll_events

    poll_events(token=app.vpp_token, event_ids=[License.objects.get(app=app, device=removed).event_id])
    assert License.objects.get(app=app, device=removed).state == "revoked"
    assert [a["serialNumber"] for a in _at_apple(apple, uid, app.adam_id)] == [kept.serial_number]


@pytest.mark.django_db
def test_s3_device_in_required_and_uninstall_groups_keeps_license(
    apple, location, make_app, administrator, admin_api
):
    app = make_app(total=5)
    device = factories.DeviceFactory()
    required_group, uninstall_group = factories.GroupFactory.create_batch(2, group_type="device")
    add_members(required_group, devices=[device])
    add_members(uninstall_group, devices=[device])
    _required(app, required_group, "device", administrator, apple)
    services.assignment_create(
        app=app, group=uninstall_group, intent="uninstall", license_type="device", actor=administrator
    )
    response = admin_api.post(f"/api/v1/apps/{app.pk}/removed/", {"device": device.pk})
    assert response.json()["state"] == "assigned"
    assert License.objects.get(app=app, device=device).state == "assigned"


@pytest.mark.django_db
def test_s8_kiosk_device_reached_through_user_group_warns(apple, location, make_app, admin_api):
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="user")
    user = factories.DirectoryUserFactory()
    factories.DeviceFactory(primary_user=user, kiosk_mode=True)
    add_members(group, users=[user])
    figures = admin_api.get(
        f"/api/v1/apps/{app.pk}/assignments/preflight/?group={group.pk}&license_type=user"
    ).json()
    kiosk = "User licensing is not recommended on kiosk devices; use device licensing."
    assert figures["warnings"] == [kiosk]
    response = admin_api.post(
        f"/api/v1/apps/{app.pk}/assignments/",
        {"group": group.pk, "intent": "available", "license_type": "user"},
    )
    assert response.status_code == 201
    assert response.json()["warnings"] == [kiosk]


@pytest.mark.django_db
def test_s12_app_store_blocked_device_of_user_group_member_is_reported_and_counted(
    apple, location, make_app, administrator, admin_web, admin_api
):
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="user")
    user = factories.DirectoryUserFactory()
    allowed = factories.DeviceFactory(primary_user=user)
    blocked = factories.DeviceFactory(primary_user=user, app_store_allowed=False)
    add_members(group, users=[user])

    figures = admin_api.get(
        f"/api/v1/apps/{app.pk}/assignments/preflight/?group={group.pk}&license_type=user"
    ).json()
    assert figures["licenses_needed"] == 1
    assert figures["ineligible_count"] == 1
    assert figures["ineligible"] == [
        f"{blocked}: The App Store is blocked on this device, so user licensing cannot work. "
        "Allow the App Store or use device licensing."
    ]
    page = admin_web.get(f"/assignments/apps/{app.pk}/preflight/?group={group.pk}&license_type=user")
    assert "1 member cannot get a license" in page.content.decode()
    assert "use device licensing" in page.content.decode()

    _required(app, group, "user", administrator, apple)
    held = License.objects.get(app=app, user=user)
    assert held.state == "assigned"
    assert list(held.covered_devices.all()) == [allowed]
    report = License.objects.get(app=app, device=blocked)
    assert report.state == "failed" and "App Store is blocked" in str(report.error)
    # Shown on the device's licenses in the API.
    rows = admin_api.get(f"/api/v1/licenses/?device={blocked.pk}").json()["results"]
    assert [(r["state"], r["error"]) for r in rows] == [("failed", str(report.error))]

    # Allowing the App Store lets the next allocation cover the device; the report goes.
    blocked.app_store_allowed = True
    blocked.save()
    _required_again = services.assignment_allocate(assignment=held.assignment, actor=administrator)
    settle(apple, execute(_required_again))
    assert not License.objects.filter(app=app, device=blocked).exists()
    assert set(held.covered_devices.all()) == {allowed, blocked}


@pytest.mark.django_db
def test_b3_preflight_of_unlimited_app_says_unlimited(apple, location, make_app, admin_web, admin_api):
    token, uid = location
    apple.add_asset(uid, "1113153706", totalCount=0, unlimited=True, deviceAssignable=True)
    app = factories.AppFactory(
        vpp_token=token,
        adam_id="1113153706",
        is_unlimited=True,
        total_licenses=2147483647,
        available_licenses=2147483647,
        supports_device_licensing=True,
    )
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=factories.DeviceFactory.create_batch(3))
    page = admin_web.get(f"/assignments/apps/{app.pk}/preflight/?group={group.pk}&license_type=device")
    text = page.content.decode()
    assert "None" not in text
    assert "This assignment needs 3 licenses; the app has unlimited licenses." in text
    figures = admin_api.get(
        f"/api/v1/apps/{app.pk}/assignments/preflight/?group={group.pk}&license_type=device"
    ).json()
    assert figures["licenses_available"] is None and figures["unlimited"] is True
    assert figures["oversubscribed"] is False
    # Saving says so too, and every device gets a license.
    response = admin_web.post(
        f"/assignments/apps/{app.pk}/",
        {"group": group.pk, "intent": "required", "license_type": "device"},
        follow=True,
    )
    assert "None are available" not in response.content.decode()
    figures = allocation.preflight(app=app, group=group, license_type="device")
    assert figures["unlimited"] is True
