"""Reclaim and revoke against the simulator: S3, S9, S10, S11, B1, B2, and installs of Available apps."""

from __future__ import annotations

import pytest

from assignments import services
from assignments.models import License, LicenseRun, VPPUser
from assignments.services import execute
from tests import factories
from tests.assignments.conftest import add_members, settle


def _at_apple(apple, uid, adam_id):
    return [a for a in apple.location(uid, include_assignments=True)["assignments"] if a["adamId"] == adam_id]


def _required(app, group, license_type, actor, apple):
    a = services.assignment_create(
        app=app, group=group, intent="required", license_type=license_type, actor=actor
    )
    settle(apple, execute(LicenseRun.objects.get(assignment=a, kind="allocate")))
    return a


def _run_latest(apple, **filters):
    run = LicenseRun.objects.filter(**filters).latest("id")
    execute(run)
    return settle(apple, run)


@pytest.mark.django_db
def test_s9_revoke_device_licenses_releases_them(apple, location, make_app, administrator, admin_api):
    _token, uid = location
    apps = [make_app(total=3), make_app(total=3)]
    device = factories.DeviceFactory()
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=[device])
    for app in apps:
        _required(app, group, "device", administrator, apple)
    assert License.objects.filter(device=device, state="assigned").count() == 2
    response = admin_api.post(f"/api/v1/devices/{device.pk}/revoke-licenses/")
    assert response.status_code == 202
    run = _run_latest(apple, kind="revoke_device")
    assert run.status == "completed" and run.succeeded == 2
    assert License.objects.filter(device=device, state="revoked").count() == 2
    for app in apps:
        assert _at_apple(apple, uid, app.adam_id) == []


@pytest.mark.django_db
def test_s10_removing_an_assignment_reclaims_its_licenses(
    apple, location, make_app, administrator, admin_api
):
    _token, uid = location
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="user")
    add_members(group, users=factories.DirectoryUserFactory.create_batch(2))
    assignment = _required(app, group, "user", administrator, apple)
    assert License.objects.filter(app=app, state="assigned").count() == 2
    assert len(_at_apple(apple, uid, app.adam_id)) == 2
    response = admin_api.delete(f"/api/v1/apps/{app.pk}/assignments/{assignment.pk}/")
    assert response.status_code == 202
    run = _run_latest(apple, kind="revoke_app")
    assert run.status == "completed"
    assert License.objects.filter(app=app, state="revoked").count() == 2
    assert _at_apple(apple, uid, app.adam_id) == []
    from console.models import AuditEntry

    entry = AuditEntry.objects.get(action="assignment.delete")
    assert entry.after["uninstall_requested_for"] == 2


@pytest.mark.django_db
def test_s11_user_removed_from_group_or_deactivated_loses_user_licenses(
    apple, location, make_app, administrator
):
    _token, uid = location
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="user")
    leaver, deactivated, stayer = factories.DirectoryUserFactory.create_batch(3)
    add_members(group, users=[leaver, deactivated, stayer])
    _required(app, group, "user", administrator, apple)
    assert License.objects.filter(app=app, state="assigned").count() == 3

    services.group_members_removed(group_id=group.pk, user_ids=[leaver.pk], device_ids=[], actor=None)
    _run_latest(apple, kind="revoke_user")
    services.user_revoke_licenses(user=deactivated, actor=None)
    _run_latest(apple, kind="revoke_user", user=deactivated)

    states = dict(License.objects.filter(app=app).values_list("user_id", "state"))
    assert states == {leaver.pk: "revoked", deactivated.pk: "revoked", stayer.pk: "assigned"}
    stayer_id = VPPUser.objects.get(user=stayer).client_user_id
    assert [a.get("clientUserId") for a in _at_apple(apple, uid, app.adam_id)] == [stayer_id]


@pytest.mark.django_db
def test_b1_hooks_enqueue_tasks(apple, location, monkeypatch):
    from assignments import hooks, tasks

    calls = []
    monkeypatch.setattr(tasks.device_retired, "delay", lambda *a: calls.append(("device", a)))
    monkeypatch.setattr(tasks.user_deactivated, "delay", lambda *a: calls.append(("user", a)))
    monkeypatch.setattr(tasks.members_removed, "delay", lambda *a: calls.append(("removed", a)))
    monkeypatch.setattr(tasks.members_added, "delay", lambda *a: calls.append(("added", a)))
    hooks.on_device_retired(None, device_id=1, actor_id=2)
    hooks.on_user_deactivated(None, user_id=3, actor_id=None)
    hooks.on_members_removed(None, group_id=4, user_ids=[5], device_ids=[], actor_id=2)
    hooks.on_members_added(None, group_id=4, user_ids=[], device_ids=[6], actor_id=2)
    assert calls == [
        ("device", (1, 2, "")),
        ("user", (3, None)),
        ("removed", (4, [5], [], 2)),
        ("added", (4, [], [6], 2)),
    ]


@pytest.mark.django_db
def test_b1_retired_device_loses_device_licenses(apple, location, make_app, administrator):
    _token, uid = location
    app = make_app(total=2)
    device = factories.DeviceFactory()
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=[device])
    _required(app, group, "device", administrator, apple)
    from assignments.tasks import device_retired

    device_retired.run(device.pk, administrator.pk)  # the task body, in this thread
    _run_latest(apple, kind="revoke_device")
    assert License.objects.get(app=app, device=device).state == "revoked"
    assert _at_apple(apple, uid, app.adam_id) == []


@pytest.mark.django_db
def test_s3_uninstall_reclaims_after_removal_reported(apple, location, make_app, administrator, admin_api):
    _token, uid = location
    app = make_app(total=2)
    device = factories.DeviceFactory()
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=[device])
    assignment = _required(app, group, "device", administrator, apple)
    services.assignment_update(assignment=assignment, intent="uninstall", actor=administrator)
    # Until the removal is reported the license stays (M3).
    assert License.objects.get(app=app, device=device).state == "assigned"
    response = admin_api.post(f"/api/v1/apps/{app.pk}/removed/", {"device": device.pk})
    assert response.status_code == 202
    assert response.json()["state"] == "revoking"
    settle(apple)
    from assignments.events import poll_events

    poll_events(token=app.vpp_token, event_ids=[License.objects.get(app=app, device=device).event_id])
    assert License.objects.get(app=app, device=device).state == "revoked"
    assert _at_apple(apple, uid, app.adam_id) == []


@pytest.mark.django_db
def test_available_install_through_api_and_refusals(apple, location, make_app, administrator, admin_api):
    _token, uid = location
    app = make_app(total=1)
    group = factories.GroupFactory(group_type="device")
    first, second = factories.DeviceFactory.create_batch(2)
    outsider = factories.DeviceFactory()
    add_members(group, devices=[first, second])
    services.assignment_create(
        app=app, group=group, intent="available", license_type="device", actor=administrator
    )
    assert not License.objects.exists()  # Available: nothing until someone asks
    response = admin_api.post(f"/api/v1/apps/{app.pk}/install/", {"device": first.pk})
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "pending"
    settle(apple)
    from assignments.events import poll_events

    poll_events(token=app.vpp_token, event_ids=[response.json()["event_id"]])
    assert License.objects.get(device=first).state == "assigned"
    assert [a["serialNumber"] for a in _at_apple(apple, uid, app.adam_id)] == [first.serial_number]
    # S5: the second device finds no license left.
    response = admin_api.post(f"/api/v1/apps/{app.pk}/install/", {"device": second.pk})
    assert response.json()["state"] == "failed" and response.json()["error"] == "No licenses available"
    # Not in the group: refused with a message.
    response = admin_api.post(f"/api/v1/apps/{app.pk}/install/", {"device": outsider.pk})
    assert response.status_code == 400 and "No assignment" in response.json()["detail"]


@pytest.mark.django_db
def test_t5_unusable_token_refuses_with_its_state(apple, location, make_app, administrator, admin_api):
    token, _uid = location
    app = make_app(total=1)
    group = factories.GroupFactory(group_type="device")
    device = factories.DeviceFactory()
    add_members(group, devices=[device])
    services.assignment_create(
        app=app, group=group, intent="available", license_type="device", actor=administrator
    )
    token.state = "expired"
    token.save()
    response = admin_api.post(f"/api/v1/apps/{app.pk}/install/", {"device": device.pk})
    assert response.status_code == 400 and "Expired" in response.json()["detail"]


@pytest.mark.django_db
def test_b2_reconcile_lists_drift_and_repairs_it(apple, location, make_app, administrator):
    token, uid = location
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="device")
    kept, lost = factories.DeviceFactory.create_batch(2)
    add_members(group, devices=[kept, lost])
    _required(app, group, "device", administrator, apple)
    from tokens.apple import client_for
    from vpp.types import AssetRef

    client = client_for(token)
    # Drift: someone else released one of ours and assigned a license to a device we do not know.
    client.disassociate_assets([AssetRef(app.adam_id)], serial_numbers=[lost.serial_number])
    client.associate_assets([AssetRef(app.adam_id)], serial_numbers=["STRANGER-1"])
    apple.wait_idle()

    check = services.token_reconcile(token=token, actor=None)
    execute(check)
    check.refresh_from_db()
    assert check.status == "completed"
    assert check.summary["untracked_count"] == 1 and check.summary["untracked_unknown_count"] == 1
    assert check.summary["missing"] == [License.objects.get(device=lost).pk]

    repair = services.token_reconcile(token=token, actor=administrator, repair=True)
    execute(repair)
    settle(apple, repair)
    repair.refresh_from_db()
    assert repair.status == "completed", repair.error
    assert sorted(a["serialNumber"] for a in _at_apple(apple, uid, app.adam_id)) == sorted(
        [kept.serial_number, lost.serial_number]
    )
    assert License.objects.get(device=lost).state == "assigned"


@pytest.mark.django_db
def test_b2_reclaim_untracked_revokes_unknown_targets(apple, location, make_app, administrator, admin_api):
    token, uid = location
    app = make_app(total=5)
    from tokens.apple import client_for
    from vpp.types import AssetRef

    client_for(token).associate_assets([AssetRef(app.adam_id)], serial_numbers=["STRANGER-1", "STRANGER-2"])
    apple.wait_idle()
    assert len(_at_apple(apple, uid, app.adam_id)) == 2
    response = admin_api.post(f"/api/v1/vpp-tokens/{token.pk}/reclaim-untracked/")
    assert response.status_code == 202
    run = _run_latest(apple, kind="reclaim_untracked")
    assert run.status == "completed" and run.total == 2
    assert _at_apple(apple, uid, app.adam_id) == []


@pytest.mark.django_db
def test_b2_reclaim_untracked_goes_a_few_targets_at_a_time_and_reaches_every_one(
    apple, location, make_app, administrator, admin_api, monkeypatch
):
    """A location with a million untracked licenses is reclaimed in steps of RECLAIM_CHUNK targets (never all
    rows in memory at once): with steps of two, five targets over two apps (one target on both) all go, each
    license through revoking to revoked."""
    from assignments import revocation
    from tokens.apple import client_for
    from vpp.types import AssetRef

    monkeypatch.setattr(revocation, "RECLAIM_CHUNK", 2)
    token, uid = location
    first, second = make_app(total=5), make_app(total=5)
    client = client_for(token)
    client.associate_assets(
        [AssetRef(first.adam_id)], serial_numbers=["STRANGER-1", "STRANGER-2", "STRANGER-3"]
    )
    client.associate_assets([AssetRef(second.adam_id)], serial_numbers=["STRANGER-3"], client_user_ids=[])
    client.associate_assets([AssetRef(second.adam_id)], serial_numbers=["STRANGER-4", "STRANGER-5"])
    apple.wait_idle()
    response = admin_api.post(f"/api/v1/vpp-tokens/{token.pk}/reclaim-untracked/")
    assert response.status_code == 202
    run = _run_latest(apple, kind="reclaim_untracked")
    assert run.status == "completed" and run.total == 6  # six untracked licenses, five targets
    assert _at_apple(apple, uid, first.adam_id) == [] and _at_apple(apple, uid, second.adam_id) == []
    states = License.objects.filter(app__in=[first, second]).values_list("apple_serial_number", "state")
    assert sorted(states) == [
        ("STRANGER-1", "revoked"),
        ("STRANGER-2", "revoked"),
        ("STRANGER-3", "revoked"),
        ("STRANGER-3", "revoked"),
        ("STRANGER-4", "revoked"),
        ("STRANGER-5", "revoked"),
    ]


@pytest.mark.django_db
def test_b1_deleted_device_is_revoked_by_serial(apple, location, make_app, administrator):
    _token, uid = location
    app = make_app(total=2)
    device = factories.DeviceFactory()
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=[device])
    _required(app, group, "device", administrator, apple)
    serial, pk = device.serial_number, device.pk
    device.delete()
    from assignments.tasks import device_retired

    device_retired.run(pk, None, serial)
    run = _run_latest(apple, kind="revoke_device")
    assert run.status == "completed"
    assert _at_apple(apple, uid, app.adam_id) == []
