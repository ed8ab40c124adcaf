"""D1–D5 end to end: the console, a real Celery worker, the Apple simulator and the NanoMDM stand-in, all over
HTTP. Devices enrol through the stand-in's webhooks; licenses are assigned by Apple; commands go out through
NanoMDM's enqueue API and results come back through the webhook."""

from __future__ import annotations

import pytest

from assignments.models import License
from assignments.services import assignment_create, assignment_delete, assignment_update
from deployment import services
from deployment.models import Command, DeviceAppState
from directory.models import Device
from mdm import commands as mdm_commands
from tests import factories
from tests.assignments.conftest import add_members, settle
from tests.deployment.conftest import wait_for

pytestmark = pytest.mark.worker


def _bundle(apple, app):
    """Name the app as the Apple catalogue (and so the devices) do."""
    info = apple.state.find_licenses(app.adam_id)
    app.bundle_id = info["bundleId"] or f"app.adam{app.adam_id}"
    app.save(update_fields=["bundle_id"])
    return app


def _enrol(nanomdm, devices):
    nanomdm.enroll_serials([d.serial_number for d in devices])
    ids = [d.pk for d in devices]
    wait_for(
        lambda: Device.objects.filter(pk__in=ids, mdm_enrolled=True).exclude(udid="").count() == len(ids),
        timeout=30 + len(ids) / 2,
        message="devices enrolled through the webhook",
    )
    return list(Device.objects.filter(pk__in=ids).order_by("pk"))


def _states(app) -> dict[str, int]:
    rows = DeviceAppState.objects.filter(app=app).values_list("state", flat=True)
    counts: dict[str, int] = {}
    for state in rows:
        counts[state] = counts.get(state, 0) + 1
    return counts


def _required(apple, app, group, actor, license_type="device"):
    assignment = assignment_create(
        app=app, group=group, intent="required", license_type=license_type, actor=actor
    )
    run = wait_for(lambda: _started(assignment), message="allocation run started")
    settle(apple, run, rounds=8)
    return assignment


def _started(assignment):
    """The assignment's allocation run once it asked Apple (`requested` is recorded after the requests)."""
    from assignments.models import LicenseRun

    run = LicenseRun.objects.filter(assignment=assignment).first()
    return run if run is not None and "requested" in (run.summary or {}) else None


def test_s6_d2_hundred_licenses_five_hundred_devices(
    apple, location, make_app, nanomdm, celery_worker, administrator
):
    app = _bundle(apple, make_app(100))
    group = factories.GroupFactory(group_type="device")
    devices = factories.DeviceFactory.create_batch(500)
    add_members(group, devices=devices)
    devices = _enrol(nanomdm, devices)
    _required(apple, app, group, administrator)
    wait_for(
        lambda: _states(app) == {"installed": 100, "failed": 400},
        timeout=180,
        message="100 installed, 400 failed",
    )
    holders = set(
        License.objects.filter(app=app, state="assigned").values_list("device__serial_number", flat=True)
    )
    assert len(holders) == 100
    # The first 100 members in join order hold the licenses, and exactly they were sent the install.
    assert holders == {d.serial_number for d in sorted(devices, key=lambda d: d.pk)[:100]}
    log = nanomdm.log(request_type="InstallApplication")["commands"]
    assert len(log) == 100
    assert {c["serial_number"] for c in log} == holders
    for entry in log:
        command = entry["command"]
        assert command["iTunesStoreID"] == int(app.adam_id) and command["Options"]["PurchaseMethod"] == 1
        assert entry["status"] == "Acknowledged"  # a device refuses an install Apple holds no license for
    assigned_at = dict(
        License.objects.filter(app=app, state="assigned").values_list("device_id", "updated_at")
    )
    for command in Command.objects.filter(app=app, purpose="install"):
        assert command.sent_at >= assigned_at[command.device_id]
    failed = DeviceAppState.objects.filter(app=app, state="failed")
    assert {(s.error_domain, str(s.error)) for s in failed} == {("license", "No licenses available")}
    assert not Command.objects.filter(app=app, device__in=[s.device_id for s in failed]).exists()
    # Batched: a few enqueue requests, not one per device.
    requests = [
        r for r in nanomdm.log(request_type="InstallApplication")["requests"] if r["kind"] == "enqueue"
    ]
    assert 1 <= len(requests) <= 5


def test_d3_s10_removing_an_assignment_removes_the_app_then_reclaims(
    apple, location, make_app, nanomdm, celery_worker, administrator
):
    app = _bundle(apple, make_app(5))
    group = factories.GroupFactory(group_type="device")
    devices = factories.DeviceFactory.create_batch(3)
    add_members(group, devices=devices)
    devices = _enrol(nanomdm, devices)
    assignment = _required(apple, app, group, administrator)
    wait_for(lambda: _states(app) == {"installed": 3}, message=f"installed {_states(app)}")
    assignment_delete(assignment=assignment, actor=administrator)
    wait_for(
        lambda: len(nanomdm.log(request_type="RemoveApplication")["commands"]) == 3, message="removals sent"
    )
    removals = nanomdm.log(request_type="RemoveApplication")["commands"]
    assert {c["command"]["Identifier"] for c in removals} == {app.bundle_id}
    # B8: each bulk send is a recorded run with what went out.
    from console.models import Run

    # NanoMDM logs the commands before the run that sent them ends and saves its counts: wait for that end.
    wait_for(
        lambda: not Run.objects.filter(kind="deploy", app=app, status__in=Run.ACTIVE).exists(),
        message="the deploy runs ended",
    )
    sends = {r.summary["purpose"]: r for r in Run.objects.filter(kind="deploy", app=app)}
    assert (sends["install"].status, sends["install"].total, sends["install"].succeeded) == (
        "completed",
        3,
        3,
    )
    assert sends["remove"].counts == {"commands": 3, "enqueue_requests": 1}
    wait_for(lambda: _states(app) == {"not_applicable": 3}, message="removal acknowledged")
    wait_for(
        lambda: License.objects.filter(app=app, state__in=["revoking", "revoked"]).count() == 3,
        message="licenses released after the acknowledgement",
    )
    _reclaimed_after_removal(app)
    for device in devices:
        apps = nanomdm.device(device.udid)["apps"]
        assert app.bundle_id not in {a["identifier"] for a in apps}


def _reclaimed_after_removal(app):
    """Each license was released (audit log) only after its device acknowledged the removal."""
    from console.models import AuditEntry

    for lic in License.objects.filter(app=app, state__in=["revoking", "revoked"]):
        removal = Command.objects.get(app=app, device_id=lic.device_id, purpose="remove")
        released = AuditEntry.objects.get(action="license.revoke", object_id=str(lic.pk))
        assert removal.status == "acknowledged"
        assert removal.answered_at is not None and removal.answered_at <= released.created_at


def test_s3_uninstall_intent_sends_remove_and_reclaims_after_acknowledgement(
    apple, location, make_app, nanomdm, celery_worker, administrator
):
    app = _bundle(apple, make_app(5))
    group = factories.GroupFactory(group_type="device")
    devices = factories.DeviceFactory.create_batch(2)
    add_members(group, devices=devices)
    devices = _enrol(nanomdm, devices)
    assignment = _required(apple, app, group, administrator)
    wait_for(lambda: _states(app) == {"installed": 2}, message="installed")
    # One device does not answer yet: its license must stay until it acknowledges.
    nanomdm.set_behaviour(devices[1].udid, silent=True)
    assignment_update(assignment=assignment, intent="uninstall", actor=administrator)
    wait_for(lambda: _states(app) == {"not_applicable": 1, "uninstall_pending": 1}, message="one removed")
    wait_for(
        lambda: License.objects.filter(
            app=app, device=devices[0], state__in=["revoking", "revoked"]
        ).exists(),
        message="first license reclaimed",
    )
    assert License.objects.get(app=app, device=devices[1]).state == "assigned"
    nanomdm.set_behaviour(devices[1].udid, silent=False)
    nanomdm.check_in(devices[1].udid)
    wait_for(lambda: _states(app) == {"not_applicable": 2}, message="second removed")
    wait_for(
        lambda: License.objects.filter(
            app=app, device=devices[1], state__in=["revoking", "revoked"]
        ).exists(),
        message="second license reclaimed after its acknowledgement",
    )
    _reclaimed_after_removal(app)


def test_m3_an_app_the_user_deleted_keeps_its_license_and_shows_not_installed(
    apple, location, make_app, nanomdm, celery_worker, administrator
):
    app = _bundle(apple, make_app(5))
    group = factories.GroupFactory(group_type="device")
    devices = _enrol(nanomdm, factories.DeviceFactory.create_batch(2))
    add_members(group, devices=devices)
    _required(apple, app, group, administrator)
    wait_for(lambda: _states(app) == {"installed": 2}, message="installed")
    nanomdm.delete_app(devices[0].udid, app.bundle_id)
    services.daily_inventory()
    wait_for(
        lambda: DeviceAppState.objects.get(app=app, device=devices[0]).state == "not_installed",
        message="inventory saw the deletion",
    )
    assert DeviceAppState.objects.get(app=app, device=devices[1]).state == "installed"
    assert License.objects.get(app=app, device=devices[0]).state == "assigned"  # M3: license kept
    # The next daily check installs it again (Required).
    nanomdm.clear_log()
    services.daily_inventory()
    wait_for(lambda: DeviceAppState.objects.get(app=app, device=devices[0]).state == "installed", timeout=60)
    installs = nanomdm.log(request_type="InstallApplication")["commands"]
    assert [c["udid"] for c in installs] == [devices[0].udid]


def test_d5_notnow_leaves_pending_and_a_silent_device_fails_after_retries(
    apple, location, make_app, nanomdm, celery_worker, administrator, settings
):
    app = _bundle(apple, make_app(5))
    group = factories.GroupFactory(group_type="device")
    devices = _enrol(nanomdm, factories.DeviceFactory.create_batch(2))
    add_members(group, devices=devices)
    busy, silent = devices
    nanomdm.set_behaviour(busy.udid, not_now=True)
    nanomdm.set_behaviour(silent.udid, silent=True)
    _required(apple, app, group, administrator)
    wait_for(
        lambda: Command.objects.filter(device=busy, app=app, status="not_now").exists(), message="NotNow"
    )
    assert DeviceAppState.objects.get(app=app, device=busy).state == "pending_install"
    silent_command = wait_for(
        lambda: Command.objects.filter(device=silent, app=app, purpose="install").first()
    )
    assert silent_command.status == "queued"
    settings.MDM_COMMAND_TIMEOUT_MINUTES = 0
    settings.MDM_COMMAND_MAX_ATTEMPTS = 2
    assert services.retry_unanswered()["pushed"] == 2  # both pushed once more
    assert services.retry_unanswered()["failed"] == 2
    for device in devices:
        state = DeviceAppState.objects.get(app=app, device=device)
        assert (state.state, state.error) == ("failed", "The device did not answer.")
    pushes = [r for r in nanomdm.log()["requests"] if r["kind"] == "push"]
    assert pushes and silent.udid in pushes[-1]["ids"]


def test_d4_t11_a_newer_version_is_pushed_except_where_updates_are_prevented(
    apple, location, nanomdm, celery_worker, administrator
):
    from applesync.sync import run_sync
    from tokens.models import SyncRun
    from tokens.sync import request_sync

    token, uid = location
    token.automatic_app_updates = True
    token.save(update_fields=["automatic_app_updates"])
    apple.set_mdm_info(uid, id=str(token.mdm_info_id), name="VPP Console", metadata="tests")
    catalog = {"name": "Field Notes", "bundleId": "com.example.fieldnotes", "version": "1.0"}
    apple.add_asset(
        uid,
        "955000001",
        totalCount=5,
        deviceAssignable=True,
        productType="App",
        revocable=True,
        catalog=catalog,
    )
    app = factories.AppFactory(
        vpp_token=token,
        adam_id="955000001",
        bundle_id="com.example.fieldnotes",
        version="1.0",
        name="Field Notes",
    )
    open_group = factories.GroupFactory(group_type="device")
    frozen_group = factories.GroupFactory(group_type="device")
    updated, frozen = _enrol(nanomdm, factories.DeviceFactory.create_batch(2))
    add_members(open_group, devices=[updated])
    add_members(frozen_group, devices=[frozen])
    _required(apple, app, open_group, administrator)
    frozen_assignment = assignment_create(
        app=app,
        group=frozen_group,
        intent="required",
        license_type="device",
        prevent_automatic_updates=True,
        actor=administrator,
    )
    run = wait_for(lambda: _started(frozen_assignment), message="allocation run started")
    settle(apple, run, rounds=8)
    wait_for(lambda: _states(app) == {"installed": 2}, message="installed")
    nanomdm.clear_log()
    apple.state.set_app_version("955000001", "2.0")
    sync_run, _created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
    assert run_sync(run_id=sync_run.pk).status == SyncRun.Status.COMPLETED
    app.refresh_from_db()
    assert app.version == "2.0"
    wait_for(lambda: nanomdm.log(request_type="InstallApplication")["commands"], message="update sent")
    wait_for(
        lambda: _version_on(nanomdm, updated, app) == "2.0",
        message="the device updated",
    )
    updates = nanomdm.log(request_type="InstallApplication")["commands"]
    assert [c["udid"] for c in updates] == [updated.udid]  # not the device whose assignment prevents updates
    assert _version_on(nanomdm, frozen, app) == "1.0"
    assert Command.objects.filter(app=app, purpose="update").count() == 1


def _version_on(nanomdm, device, app) -> str | None:
    apps = {a["identifier"]: a for a in nanomdm.device(device.udid)["apps"]}
    return apps[app.bundle_id]["short_version"] if app.bundle_id in apps else None


def test_d4_t11_no_update_when_the_token_has_automatic_updates_off(apple, location, nanomdm, settings):
    token, _uid = location
    token.automatic_app_updates = False
    token.save(update_fields=["automatic_app_updates"])
    app = factories.AppFactory(vpp_token=token)
    device = factories.DeviceFactory(udid="UDID-T11", mdm_enrolled=True)
    DeviceAppState.objects.create(device=device, app=app, state="installed")
    assert services.push_updates(app_id=app.pk) == 0
    assert nanomdm.log(request_type="InstallApplication")["commands"] == []


def test_d1_checkout_through_the_stand_in_unenrols_and_reclaims_device_licenses(
    apple, location, make_app, nanomdm, celery_worker, administrator
):
    app = _bundle(apple, make_app(5))
    group = factories.GroupFactory(group_type="device")
    devices = _enrol(nanomdm, factories.DeviceFactory.create_batch(2))
    add_members(group, devices=devices)
    _required(apple, app, group, administrator)
    wait_for(lambda: _states(app) == {"installed": 2}, message="installed")
    nanomdm.check_out(devices[0].udid)
    wait_for(lambda: not Device.objects.get(pk=devices[0].pk).mdm_enrolled, message="checked out")
    wait_for(
        lambda: License.objects.filter(
            app=app, device=devices[0], state__in=["revoking", "revoked"]
        ).exists(),
        message="device license reclaimed",
    )
    assert License.objects.get(app=app, device=devices[1]).state == "assigned"
    assert DeviceAppState.objects.get(app=app, device=devices[0]).state == "not_applicable"


def test_d5_nanomdm_per_id_errors_are_recorded_on_the_device_rows(apple, location, make_app, nanomdm):
    app = factories.AppFactory(bundle_id="com.example.x")
    known = _enrol_quietly(nanomdm)
    stranger = factories.DeviceFactory(udid="NEVER-ENROLLED", mdm_enrolled=True)
    nanomdm.update_settings(storage="file")
    batches = services.send_command(
        devices=[known, stranger],
        make=lambda cu: mdm_commands.managed_application_list(command_uuid=cu),
        purpose="inventory",
        app=app,
    )
    assert len(batches) == 1
    batch = batches[0]
    batch.refresh_from_db()
    assert batch.http_status == 207
    row = Command.objects.get(device=stranger)
    assert row.status == "queued" and "push" in str(row.error).lower()
    assert Command.objects.get(device=known).error == ""
    nanomdm.update_settings(storage="mysql")
    services.send_command(
        devices=[known, stranger],
        make=lambda cu: mdm_commands.managed_application_list(command_uuid=cu),
        purpose="inventory",
        app=app,
    )
    failed = Command.objects.filter(status="failed").order_by("device_id")
    assert failed.count() == 2 and all("did not" in str(c.error) for c in failed)


def _enrol_quietly(nanomdm):
    """One device enrolled at the stand-in; the console learns its UDID without a webhook."""
    spec = nanomdm.enroll("QUIET0001")
    wait_for(lambda: nanomdm.device(spec["udid"])["enrolled"], message="enrolled at the stand-in")
    return factories.DeviceFactory(serial_number="QUIET0001", udid=spec["udid"], mdm_enrolled=True)


def test_s4_user_licensing_invites_first_and_installs_after_the_user_joined(
    apple, location, make_app, nanomdm, celery_worker, administrator
):
    from assignments.events import apply_user_associated
    from assignments.models import VPPUser
    from vpp.types import AppleUser, Notification

    token, uid = location
    app = _bundle(apple, make_app(5))
    user = factories.DirectoryUserFactory()
    device = factories.DeviceFactory(primary_user=user)
    group = factories.GroupFactory(group_type="user")
    add_members(group, users=[user])
    (device,) = _enrol(nanomdm, [device])
    _required(apple, app, group, administrator, license_type="user")
    vpp_user = wait_for(
        lambda: VPPUser.objects.filter(user=user).first(), message="the user registered at Apple"
    )
    assert vpp_user.status == "registered"
    nanomdm.update_device(device.udid, client_user_id=vpp_user.client_user_id)
    wait_for(lambda: nanomdm.device(device.udid)["invitations"], message="InviteToProgram reached the device")
    invitation = nanomdm.device(device.udid)["invitations"][0]
    assert "inviteCode=" in invitation and "%25inviteCode%25" not in invitation
    assert nanomdm.log(request_type="InstallApplication")["commands"] == []  # the install waits
    assert DeviceAppState.objects.get(app=app, device=device).state == "pending_install"
    # The user accepts the invitation; Apple says so (USER_ASSOCIATED): the install goes out.
    apple.accept_invitation(uid, vpp_user.client_user_id)
    associated = AppleUser.from_api({"clientUserId": vpp_user.client_user_id, "status": "Associated"})
    apply_user_associated(
        token,
        Notification(
            notification_id="n-1",
            notification_type="USER_ASSOCIATED",
            uid=uid,
            payload={},
            users=(associated,),
        ),
    )
    wait_for(
        lambda: DeviceAppState.objects.get(app=app, device=device).state == "installed",
        message="installed after joining",
    )
    assert len(nanomdm.log(request_type="InstallApplication")["commands"]) == 1
