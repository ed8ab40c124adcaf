"""The allocation engine against the simulator over HTTP: S2, S5, S6, B3, A3, S4, S12, S13."""

from __future__ import annotations

import pytest

from assignments import allocation, services
from assignments.models import Assignment, License, LicenseRun, VPPUser
from assignments.services import execute
from tests import factories
from tests.assignments.conftest import add_members, settle


def _apple_assignments(apple, uid, adam_id):
    return [a for a in apple.location(uid, include_assignments=True)["assignments"] if a["adamId"] == adam_id]


@pytest.mark.django_db
def test_s6_first_hundred_members_by_join_order_get_licenses(apple, location, make_app, administrator):
    _token, uid = location
    app = make_app(total=100)
    group = factories.GroupFactory(group_type="device")
    devices = factories.DeviceFactory.create_batch(500)
    # Join order differs from creation order: the last created device joined first.
    add_members(group, devices=devices, order=list(reversed(range(500))))
    expected = [d.serial_number for d in reversed(devices)][:100]

    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    assert assignment.preflight["licenses_needed"] == 500
    assert assignment.preflight["licenses_available"] == 100
    assert assignment.preflight["oversubscribed"] is True
    run = LicenseRun.objects.get(assignment=assignment, kind="allocate")
    execute(run)
    settle(apple, run)

    licenses = License.objects.filter(app=app)
    assigned = licenses.filter(state="assigned")
    assert sorted(assigned.values_list("device__serial_number", flat=True)) == sorted(expected)
    failed = licenses.filter(state="failed")
    assert failed.count() == 400
    assert set(failed.values_list("error", flat=True)) == {allocation.NO_LICENSES}
    at_apple = _apple_assignments(apple, uid, app.adam_id)
    assert len(at_apple) == 100
    assert {a["serialNumber"] for a in at_apple} == set(expected)
    run.refresh_from_db()
    assert run.status == "completed"
    assert run.succeeded == 100 and run.failed == 400
    app.refresh_from_db()
    assert app.available_licenses == 0 and app.used_licenses == 100


@pytest.mark.django_db
def test_s5_no_licenses_left_fails_visibly(apple, location, make_app, administrator):
    app = make_app(total=0)
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=[factories.DeviceFactory()])
    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    execute(LicenseRun.objects.get(assignment=assignment))
    lic = License.objects.get(app=app)
    assert lic.state == "failed" and str(lic.error) == "No licenses available"


@pytest.mark.django_db
@pytest.mark.parametrize("chunk", [1000, 1], ids=["one step", "a target per step"])
def test_t14_revoke_token_licenses_revokes_everything_at_apple(
    apple, location, make_app, administrator, monkeypatch, chunk
):
    """Revoke-all goes RECLAIM_CHUNK targets at a time (a million-license token is never all in memory): the
    outcome is the same in one step or in one step per target."""
    from assignments import revocation

    monkeypatch.setattr(revocation, "RECLAIM_CHUNK", chunk)
    token, uid = location
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=factories.DeviceFactory.create_batch(3))
    a = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    settle(apple, execute(LicenseRun.objects.get(assignment=a)))
    assert License.objects.filter(app=app, state="assigned").count() == 3
    # A license at Apple the console never made (another tool, an unknown device).
    from tokens.apple import client_for

    client_for(token).associate_assets([app.adam_id], serial_numbers=["UNKNOWN-SERIAL-1"])
    apple.wait_idle()
    from apps.models import AppleAssignment

    AppleAssignment.objects.create(
        vpp_token=token, app=app, adam_id=app.adam_id, serial_number="UNKNOWN-SERIAL-1"
    )

    run = services.revoke_token_licenses(token=token, actor=administrator)
    assert run.kind == "revoke_token" and run.status == "queued"
    execute(run)
    settle(apple, run)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert run.total == 4
    assert License.objects.filter(app=app, state="revoked").count() == 3
    assert _apple_assignments(apple, uid, app.adam_id) == []
    app.refresh_from_db()
    assert app.used_licenses == 0 and app.available_licenses == 5


@pytest.mark.django_db
def test_a3_s4_user_licensing_registers_users_and_refuses_without_apple_id(
    apple, location, make_app, administrator
):
    token, uid = location
    app = make_app(total=10)
    group = factories.GroupFactory(group_type="user")
    with_id = factories.DirectoryUserFactory()
    without_id = factories.DirectoryUserFactory(managed_apple_id="")
    add_members(group, users=[with_id, without_id])
    a = services.assignment_create(
        app=app, group=group, intent="required", license_type="user", actor=administrator
    )
    run = execute(LicenseRun.objects.get(assignment=a))
    refused = License.objects.get(app=app, user=without_id)
    assert refused.state == "failed" and "Apple ID" in str(refused.error)
    waiting = License.objects.get(app=app, user=with_id)
    assert waiting.state == "pending"
    vpp_user = VPPUser.objects.get(user=with_id)
    assert len(vpp_user.client_user_id) == 32  # ours, opaque (T9)
    settle(apple, run)
    waiting.refresh_from_db()
    assert waiting.state == "assigned", waiting.error
    vpp_user.refresh_from_db()
    assert vpp_user.status == "registered"
    at_apple = _apple_assignments(apple, uid, app.adam_id)
    assert at_apple == [
        {"adamId": app.adam_id, "pricingParam": "STDQ", "clientUserId": vpp_user.client_user_id}
    ]
    # S4: the user accepts Apple's invitation.
    from assignments.events import apply_user_associated

    apple.accept_invitation(uid, vpp_user.client_user_id)
    apply_user_associated(
        token,
        _notification("USER_ASSOCIATED", {"associatedUsers": [{"clientUserId": vpp_user.client_user_id}]}),
    )
    vpp_user.refresh_from_db()
    assert vpp_user.status == "associated"


@pytest.mark.django_db
def test_s12_s13_user_licensing_through_devices(apple, location, make_app, administrator):
    app = make_app(total=10)
    group = factories.GroupFactory(group_type="device")
    blocked = factories.DeviceFactory(primary_user=factories.DirectoryUserFactory(), app_store_allowed=False)
    dep = factories.DeviceFactory(dep_enrolled=True, primary_user=None)
    add_members(group, devices=[blocked, dep])
    figures = allocation.preflight(app=app, group=group, license_type="user")
    assert figures["ineligible_count"] == 2
    a = services.assignment_create(
        app=app, group=group, intent="required", license_type="user", actor=administrator
    )
    execute(LicenseRun.objects.get(assignment=a))
    s12 = License.objects.get(app=app, user=blocked.primary_user)
    assert s12.state == "failed" and "device licensing" in str(s12.error)
    s13 = License.objects.get(app=app, device=dep)
    assert s13.state == "failed" and "primary user" in str(s13.error)


@pytest.mark.django_db
def test_a2_device_licensing_refused_for_apps_without_it(apple, location, make_app, administrator):
    from django.core.exceptions import ValidationError

    app = make_app(total=10, device_assignable=False)
    group = factories.GroupFactory(group_type="device")
    with pytest.raises(ValidationError) as err:
        services.assignment_create(
            app=app, group=group, intent="required", license_type="device", actor=administrator
        )
    assert "user licensing" in str(err.value)
    assert not Assignment.objects.exists()


@pytest.mark.django_db
def test_s5_apple_per_target_failures_keep_the_error_number(apple, location, make_app, administrator):
    """Our counts are stale (Apple has 1 license left, we think 5): Apple's 9709 lands on the failed ones."""
    app = make_app(total=1)
    app.available_licenses = app.total_licenses = 5
    app.save()
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=factories.DeviceFactory.create_batch(3))
    a = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    run = settle(apple, execute(LicenseRun.objects.get(assignment=a)))
    assert License.objects.filter(app=app, state="assigned").count() == 1
    failed = License.objects.filter(app=app, state="failed")
    assert failed.count() == 2
    assert set(failed.values_list("error_number", flat=True)) == {9709}
    run.refresh_from_db()
    assert run.succeeded == 1 and run.failed == 2


@pytest.mark.django_db
def test_asset_management_notification_completes_licenses(apple, location, make_app, administrator):
    """The notification path (called by the sync engineer's receiver) settles licenses like a poll does."""
    from assignments.events import apply_asset_management

    token, _uid = location
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="device")
    ok, bad = factories.DeviceFactory.create_batch(2)
    add_members(group, devices=[ok, bad])
    a = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    execute(LicenseRun.objects.get(assignment=a))
    event_id = License.objects.get(device=ok).event_id
    item = {"adamId": app.adam_id, "pricingParam": "STDQ"}
    success = {
        "type": "ASSOCIATE",
        "eventId": event_id,
        "result": "SUCCESS",
        "assignments": [item | {"serialNumber": ok.serial_number}],
    }
    failure = {
        "type": "ASSOCIATE",
        "eventId": event_id,
        "result": "FAILURE",
        "assignments": [item | {"serialNumber": bad.serial_number}],
        "error": {"errorNumber": 9709, "errorMessage": "Not enough licenses"},
    }
    success = _notification("ASSET_MANAGEMENT", success)
    assert apply_asset_management(token, success) == 1
    assert apply_asset_management(token, _notification("ASSET_MANAGEMENT", failure)) == 1
    assert apply_asset_management(token, success) == 0  # duplicates are harmless
    assert License.objects.get(device=ok).state == "assigned"
    bad_license = License.objects.get(device=bad)
    assert (bad_license.state, bad_license.error_number) == ("failed", 9709)
    app.refresh_from_db()
    assert app.used_licenses == 1 and app.available_licenses == 4


def _notification(kind: str, payload: dict):
    """The typed notification Apple's body parses into (what the notification handlers pass on)."""
    from vpp.types import parse_notification

    return parse_notification({"notificationId": "n-test", "notificationType": kind, "notification": payload})


@pytest.mark.django_db
def test_s6_members_added_allocates_for_the_new_members_only(apple, location, make_app, administrator):
    """A group's Required assignment reaches a member who joins, and the run covers that member alone."""
    _token, _uid = location
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="device")
    first = factories.DeviceFactory()
    add_members(group, devices=[first])
    a = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    execute(LicenseRun.objects.get(assignment=a))
    joiner = factories.DeviceFactory()
    add_members(group, devices=[joiner])
    [run] = services.group_members_added(
        group_id=group.pk, user_ids=[], device_ids=[joiner.pk], actor=administrator
    )
    assert run.summary == {"members": {"user_ids": [], "device_ids": [joiner.pk]}}
    run = execute(run)
    assert run.total == 1
    assert License.objects.get(app=app, device=joiner).state == "pending"
    assert License.objects.filter(app=app, device=first).count() == 1


@pytest.mark.django_db
def test_t9_notification_never_brings_back_a_user_the_console_retired(client, administrator):
    """The owner of VPPUser statuses keeps a retired user retired, whether the sync or a notification says
    Apple still lists the user as registered."""
    from applesync.notifications import notification_process
    from tests.tokens.test_notifications import SECRET, envelope, post

    token = factories.VPPTokenFactory(notification_secret=SECRET)
    retired = VPPUser.objects.create(
        vpp_token=token, user=factories.DirectoryUserFactory(), client_user_id="gone-1", status="retired"
    )
    body = envelope(
        token,
        "USER_MANAGEMENT",
        {
            "result": "SUCCESS",
            "users": [{"clientUserId": "gone-1", "status": "Registered", "inviteCode": "i"}],
        },
    )
    response = post(client, token, body)
    notification_process(receipt_id=response.json()["id"])
    retired.refresh_from_db()
    assert retired.status == "retired"
