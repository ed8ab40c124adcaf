"""The fault matrix (§4 of the product rules, B2, B4, B8): every Apple fault × every kind of work.

Each cell injects the fault into the simulator over real HTTP, lets the work meet it, checks that nothing
local was lost (the rows the work started from are all still there, with Apple's error where it failed),
clears the fault and shows that the next run converges to Apple's state.

Faults that outlast the client's retries (429/9646, 503 + Retry-After, 500, a slow answer beyond the timeout)
are armed for more attempts than the client makes; `fast_faults` shortens the timeouts and back-off, not the
retry loop. Token revoked mid-run: the simulator revokes the location's tokens as the column's call
arrives; the fault clears when the administrator renews the token with the newer file. Notifications are
recorded by the simulator and delivered by the test: dropped (never), duplicated (twice), out of order
(newest first).

Cells that do not apply:
- versionId bump × allocation and × revoke: Apple's versionId belongs to the paged assignments/users walk,
  which only a sync makes; allocation and revocation send writes and poll event ids, never a versioned walk.
The deployment column meets NanoMDM's faults (500, slow, 207 partial) and a lost webhook event; Apple's faults
there are the allocation column's (a deployment sends nothing before Apple assigned the license).
"""

from __future__ import annotations

import pytest

from applesync.notifications import notification_process
from applesync.sync import run_sync
from apps.models import App
from assignments import services
from assignments.models import License, LicenseRun
from assignments.services import execute
from tests import factories
from tests.assignments.conftest import add_members, settle
from tests.tokens.test_notifications import SECRET, post
from tests.tokens.test_sync import apple_assignments, connect, mirror, sync
from tokens import services as token_services
from tokens.models import SyncRun, VPPToken
from tokens.sync import request_sync

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_faults")]

# Armed for more attempts than the client's retry budget (1 + 5 retries): the work meets a lasting outage.
LASTING = 8
APPLE_FAULTS = {
    "429-9646": {"kind": "rate_limit", "retry_after": 0},
    "503-retry-after": {"kind": "unavailable", "retry_after": 0},
    "500": {"kind": "internal_error"},
    "slow-answer": {"kind": "slow", "delay": 0.6},
}
# What the run records for each fault: Apple's error number (None: a transport-level failure).
APPLE_NUMBER = {"429-9646": 9646, "503-retry-after": None, "500": 9603, "slow-answer": None}
NOTIFICATION_FAULTS = ("notification-dropped", "notification-duplicated", "notification-out-of-order")


def _arm(apple, fault: str, path: str) -> None:
    spec = dict(APPLE_FAULTS[fault])
    apple.add_fault(spec.pop("kind"), count=LASTING, path=path, **spec)


def _revoke_mid_run(apple, path: str) -> None:
    apple.add_fault("revoke_token", count=1, path=path)


def _renew(apple, token, administrator) -> VPPToken:
    """The administrator downloads a newer token for the location and renews (the revocation clears)."""
    organization = token.organization_name or "Contoso"
    content = apple.mint_token(org_name=organization, location_name=token.location_name)
    return token_services.token_renew(token=token, file=content, actor=administrator)


def _apple_counts(apple, uid) -> dict[str, tuple[int, int, int]]:
    return {
        a["adamId"]: (a["totalCount"], a["assignedCount"], a["availableCount"])
        for a in apple.location(uid)["assets"]
    }


def _our_counts(token) -> dict[str, tuple[int, int, int]]:
    return {
        adam_id: (total, used, available)
        for adam_id, total, used, available in App.objects.filter(vpp_token=token).values_list(
            "adam_id", "total_licenses", "used_licenses", "available_licenses"
        )
    }


def _sync_now(token) -> SyncRun:
    """ "Sync now": the run a notification already queued (a resync), or a new one; carried out here."""
    run, _created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
    return run_sync(run_id=run.pk)


def _listen(apple, token) -> None:
    """Apple records this location's notifications; the test decides which reach the console, and how."""
    location = apple.state.locations[token.location_uid]
    apple.set_notification_mode("drop")
    with apple.state.lock:
        location.notification_url = "http://console.invalid/notify"
        location.notification_auth_token = SECRET
        location.notification_types = ["ASSET_MANAGEMENT", "ASSET_COUNT"]


def _bodies(apple, kind: str, seen: set[str]) -> list[dict]:
    apple.wait_idle()
    found = [
        r["body"]
        for r in apple.notifications()
        if r["body"]["notificationType"] == kind and r["body"]["notificationId"] not in seen
    ]
    seen.update(b["notificationId"] for b in found)
    return found


def _deliver(client, token, bodies: list[dict], fault: str) -> None:
    """Deliver Apple's notifications to the console as `fault` says, processing each like the worker."""
    if fault == "notification-dropped":
        return
    if fault == "notification-out-of-order":
        bodies = list(reversed(bodies))
    times = 2 if fault == "notification-duplicated" else 1
    for body in bodies:
        for _ in range(times):
            response = post(client, token, body)
            assert response.status_code == 200, response.content
            if response.json().get("status") != "duplicate":
                notification_process(receipt_id=response.json()["id"])


# --- sync -----------------------------------------------------------------------------------------------


@pytest.fixture
def synced(apple):
    """A token synced once, then changed at Apple (a purchase and a new assignment) so a sync has work."""
    token = connect(apple, notification_secret=SECRET, organization_name="Contoso Ltd")
    first = sync(token, full=True)
    assert first.status == SyncRun.Status.COMPLETED, first.error
    adam_id = App.objects.filter(vpp_token=token, supports_device_licensing=True).values_list(
        "adam_id", flat=True
    )[0]
    return token, adam_id


def _change_at_apple(apple, token, adam_id) -> None:
    from tokens.apple import client_for

    apple.change_count(token.location_uid, adam_id, 3)
    with client_for(token) as client:
        client.associate_assets([adam_id], serial_numbers=["MATRIX-SERIAL-1"])
    apple.wait_idle()


def _assert_sync_converged(apple, token) -> None:
    assert mirror(token) == apple_assignments(apple, token.location_uid)
    assert _our_counts(token) == _apple_counts(apple, token.location_uid)


@pytest.mark.parametrize("fault", list(APPLE_FAULTS))
def test_fault_matrix_sync_apple_fault(apple, synced, fault):
    token, adam_id = synced
    _change_at_apple(apple, token, adam_id)
    before = (mirror(token), _our_counts(token))
    _arm(apple, fault, "assignments")
    failed = sync(token, full=True)
    assert failed.status == SyncRun.Status.FAILED
    assert failed.error_number == APPLE_NUMBER[fault], failed.error
    assert (mirror(token), _our_counts(token)) == before  # nothing local lost or half-applied
    token.refresh_from_db()
    assert token.state == VPPToken.State.VALID and token.last_sync_status == VPPToken.SyncStatus.FAILED

    apple.clear_faults()
    assert sync(token).status == SyncRun.Status.COMPLETED
    _assert_sync_converged(apple, token)


def test_fault_matrix_sync_token_revoked_mid_run(apple, synced, administrator):
    token, adam_id = synced
    _change_at_apple(apple, token, adam_id)
    before = (mirror(token), _our_counts(token))
    _revoke_mid_run(apple, "assignments")
    failed = sync(token, full=True)
    assert failed.status == SyncRun.Status.FAILED and failed.error_number == 9625
    assert (mirror(token), _our_counts(token)) == before
    token.refresh_from_db()
    assert token.state == VPPToken.State.REVOKED

    token = _renew(apple, token, administrator)
    queued = SyncRun.objects.get(vpp_token=token, status=SyncRun.Status.QUEUED)
    assert run_sync(run_id=queued.pk).status == SyncRun.Status.COMPLETED
    _assert_sync_converged(apple, token)


def test_fault_matrix_sync_version_id_bump(apple, synced):
    token, adam_id = synced
    apple.update_settings(page_size=3)
    _change_at_apple(apple, token, adam_id)
    apple.add_fault("bump_version", count=1, path="assignments")
    run = sync(token, full=True)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert apple.state.faults == []
    _assert_sync_converged(apple, token)
    assert run.assignments_count == len(mirror(token))


@pytest.mark.parametrize("fault", NOTIFICATION_FAULTS)
def test_fault_matrix_sync_notification(apple, client, synced, fault):
    """Purchases and a refund reach the console by notification (B4), or not; the sync is the safety net."""
    token, adam_id = synced
    _listen(apple, token)
    seen: set[str] = set()
    apple.change_count(token.location_uid, adam_id, 5)
    apple.change_count(token.location_uid, adam_id, -2)
    bodies = _bodies(apple, "ASSET_COUNT", seen)
    assert len(bodies) == 2
    before = _our_counts(token)
    _deliver(client, token, bodies, fault)
    ours, theirs = _our_counts(token), _apple_counts(apple, token.location_uid)
    if fault == "notification-dropped":
        assert ours == before  # nothing applied, nothing lost: the counts wait for the next sync
    else:
        assert ours[adam_id] == theirs[adam_id]  # applied once each, in whatever order
    assert _sync_now(token).status == SyncRun.Status.COMPLETED
    _assert_sync_converged(apple, token)


# --- allocation -------------------------------------------------------------------------------------------


def _apple_serials(apple, uid, adam_id) -> set[str]:
    return {
        a["serialNumber"]
        for a in apple.location(uid, include_assignments=True)["assignments"]
        if a["adamId"] == adam_id and a.get("serialNumber")
    }


def _our_serials(app) -> set[str]:
    return set(
        License.objects.filter(app=app, state=License.State.ASSIGNED).values_list(
            "device__serial_number", flat=True
        )
    )


def _assert_allocation_converged(apple, uid, app, devices) -> None:
    wanted = {d.serial_number for d in devices}
    assert _our_serials(app) == _apple_serials(apple, uid, app.adam_id) == wanted
    app.refresh_from_db()
    total, used, available = _apple_counts(apple, uid)[app.adam_id]
    assert (app.total_licenses, app.used_licenses, app.available_licenses) == (total, used, available)


def _allocate_again(apple, assignment, administrator) -> LicenseRun:
    again = services.assignment_allocate(assignment=assignment, actor=administrator)
    execute(again)
    settle(apple, again)
    again.refresh_from_db()
    return again


@pytest.mark.parametrize("fault", list(APPLE_FAULTS))
def test_fault_matrix_allocation_apple_fault(apple, allocation, administrator, fault):
    _token, uid, app, assignment, run, devices = allocation
    _arm(apple, fault, "assets/associate")
    execute(run)
    settle(apple, run)
    # Nothing lost: every target keeps its license row, failed with what Apple (or the network) said.
    rows = License.objects.filter(app=app)
    assert rows.count() == len(devices)
    assert set(rows.values_list("state", flat=True)) == {License.State.FAILED}
    assert set(rows.values_list("error_number", flat=True)) == {APPLE_NUMBER[fault]}
    assert all(rows.values_list("error", flat=True))

    apple.clear_faults()
    apple.wait_idle()
    assert _allocate_again(apple, assignment, administrator).status == LicenseRun.Status.COMPLETED
    _assert_allocation_converged(apple, uid, app, devices)


def test_fault_matrix_allocation_token_revoked_mid_run(apple, allocation, administrator):
    token, uid, app, assignment, run, devices = allocation
    token.organization_name = "Contoso"
    token.location_name = "Assignments HQ"
    token.save()
    _revoke_mid_run(apple, "assets/associate")
    execute(run)
    settle(apple, run)
    rows = License.objects.filter(app=app)
    assert rows.count() == len(devices)
    assert set(rows.values_list("error_number", flat=True)) == {9625}
    token.refresh_from_db()
    assert token.state == VPPToken.State.REVOKED
    assert _apple_serials(apple, uid, app.adam_id) == set()

    _renew(apple, token, administrator)
    assert _allocate_again(apple, assignment, administrator).status == LicenseRun.Status.COMPLETED
    _assert_allocation_converged(apple, uid, app, devices)


@pytest.mark.parametrize("fault", NOTIFICATION_FAULTS)
def test_fault_matrix_allocation_notification(apple, client, allocation, administrator, fault):
    """Two allocation rounds (the group grows); their notifications arrive as the fault says, then polling
    and the next sync settle everything."""
    token, uid, app, assignment, run, devices = allocation
    token.notification_secret = SECRET
    token.save()
    _listen(apple, token)
    seen: set[str] = set()
    execute(run)
    newcomer = factories.DeviceFactory()
    add_members(assignment.group, devices=[newcomer])
    second = services.assignment_allocate(
        assignment=assignment, actor=administrator, members={"user_ids": [], "device_ids": [newcomer.pk]}
    )
    execute(second)
    bodies = _bodies(apple, "ASSET_MANAGEMENT", seen)
    assert len(bodies) >= 2
    _deliver(client, token, bodies, fault)
    settle(apple, run)
    settle(apple, second)
    devices = [*devices, newcomer]
    _assert_allocation_converged(apple, uid, app, devices)
    assert _sync_now(token).status == SyncRun.Status.COMPLETED
    _assert_allocation_converged(apple, uid, app, devices)
    assert mirror(token) == apple_assignments(apple, uid)


# --- revoke -----------------------------------------------------------------------------------------------


@pytest.fixture
def allocated(apple, allocation):
    """The allocation above, carried out and settled: 3 licenses assigned here and at Apple."""
    _token, _uid, app, _assignment, run, devices = allocation
    execute(run)
    settle(apple, run)
    assert _our_serials(app) == {d.serial_number for d in devices}
    return allocation


def _assert_revoked_everywhere(apple, uid, app) -> None:
    assert _apple_serials(apple, uid, app.adam_id) == set()
    assert not License.objects.filter(app=app, state__in=License.HOLDING).exists()
    app.refresh_from_db()
    total, used, available = _apple_counts(apple, uid)[app.adam_id]
    assert (app.used_licenses, app.available_licenses) == (used, available) == (0, total)


def _revoke_all(apple, token, administrator) -> LicenseRun:
    run = services.revoke_token_licenses(token=token, actor=administrator)
    execute(run)
    settle(apple, run)
    run.refresh_from_db()
    return run


@pytest.mark.parametrize("fault", list(APPLE_FAULTS))
def test_fault_matrix_revoke_apple_fault(apple, allocated, administrator, fault):
    token, uid, app, _assignment, _run, devices = allocated
    _arm(apple, fault, "assets/revoke")
    failed = _revoke_all(apple, token, administrator)
    assert failed.status == LicenseRun.Status.FAILED
    assert failed.error_number == APPLE_NUMBER[fault], failed.error
    # Nothing lost: the licenses Apple did not confirm revoked are still ours to revoke.
    assert License.objects.filter(app=app).count() == len(devices)
    assert not License.objects.filter(app=app, state=License.State.REVOKED).exists()

    apple.clear_faults()
    apple.wait_idle()
    assert _revoke_all(apple, token, administrator).status == LicenseRun.Status.COMPLETED
    _assert_revoked_everywhere(apple, uid, app)


def test_fault_matrix_revoke_token_revoked_mid_run(apple, allocated, administrator):
    token, uid, app, _assignment, _run, devices = allocated
    token.organization_name = "Contoso"
    token.location_name = "Assignments HQ"
    token.save()
    _revoke_mid_run(apple, "assets/revoke")
    failed = _revoke_all(apple, token, administrator)
    assert failed.status == LicenseRun.Status.FAILED and failed.error_number == 9625
    assert _our_serials(app) == _apple_serials(apple, uid, app.adam_id) == {d.serial_number for d in devices}
    token.refresh_from_db()
    assert token.state == VPPToken.State.REVOKED

    token = _renew(apple, token, administrator)
    assert _revoke_all(apple, token, administrator).status == LicenseRun.Status.COMPLETED
    _assert_revoked_everywhere(apple, uid, app)


@pytest.mark.parametrize("fault", NOTIFICATION_FAULTS)
def test_fault_matrix_revoke_notification(apple, client, allocation, administrator, fault):
    """The allocation's and the revocation's notifications arrive as the fault says (out of order: the
    revocation's before the allocation's); polling and the next sync settle on Apple's state."""
    token, uid, app, _assignment, run, _devices = allocation
    token.notification_secret = SECRET
    token.save()
    _listen(apple, token)
    seen: set[str] = set()
    execute(run)
    settle(apple, run)
    allocated_bodies = _bodies(apple, "ASSET_MANAGEMENT", seen)
    revoke = services.revoke_token_licenses(token=token, actor=administrator)
    execute(revoke)
    revoked_bodies = _bodies(apple, "ASSET_MANAGEMENT", seen)
    assert allocated_bodies and revoked_bodies
    _deliver(client, token, allocated_bodies + revoked_bodies, fault)
    settle(apple, revoke)
    revoke.refresh_from_db()
    assert revoke.status == LicenseRun.Status.COMPLETED
    _assert_revoked_everywhere(apple, uid, app)
    assert _sync_now(token).status == SyncRun.Status.COMPLETED
    _assert_revoked_everywhere(apple, uid, app)
    assert mirror(token) == apple_assignments(apple, uid)


# --- deployment (NanoMDM) ---------------------------------------------------------------------------------
# Cells: NanoMDM answering 500 (beyond the client's retries), a slow answer, 207 partial (some ids of
# a multi-target enqueue not queued) and webhook dropped (the devices' answers lost). Webhook duplicated is
# proved by tests/deployment/test_webhook.py (the same event twice changes nothing twice) and by
# tests/resilience/test_webhook_properties.py.

NANOMDM_FAULTS = ("nanomdm-500", "nanomdm-slow-answer")


def _deploy_world(apple, nanomdm, allocation, administrator):
    """The allocation above, settled; its devices enrolled in NanoMDM through the (recorded) webhook."""
    from deployment import services as deployment_services
    from directory.models import Device

    _token, _uid, app, _assignment, run, devices = allocation
    info = apple.state.find_licenses(app.adam_id)
    app.bundle_id = info["bundleId"] or f"app.adam{app.adam_id}"
    app.save(update_fields=["bundle_id"])
    nanomdm.update_settings(checkin_delay=0.05, install_delay=0.1)
    execute(run)
    settle(apple, run)
    nanomdm.enroll_serials([d.serial_number for d in devices])
    nanomdm.wait_idle()
    deployment_services.apply_pending_events()
    ids = [d.pk for d in devices]
    assert Device.objects.filter(pk__in=ids, mdm_enrolled=True).exclude(udid="").count() == len(ids)
    return app, list(Device.objects.filter(pk__in=ids).order_by("pk"))


def _acknowledged_installs(nanomdm) -> set[str]:
    return {
        c["serial_number"]
        for c in nanomdm.log(request_type="InstallApplication")["commands"]
        if c["status"] == "Acknowledged"
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fault", NANOMDM_FAULTS)
def test_fault_matrix_deployment_nanomdm_fault(apple, nanomdm, allocation, administrator, fault):
    from deployment import services as deployment_services
    from deployment.models import Command, DeviceAppState

    app, devices = _deploy_world(apple, nanomdm, allocation, administrator)
    if fault == "nanomdm-500":
        nanomdm.add_fault("internal_error", count=20)
    else:
        nanomdm.add_fault("slow", count=1, delay=1.0)
    deployment_services.deploy_app(app_id=app.pk)
    nanomdm.wait_idle()
    deployment_services.apply_pending_events()
    # Nothing lost: every license still assigned, every device's state kept with the reason it failed.
    assert License.objects.filter(app=app, state="assigned").count() == len(devices)
    states = dict(DeviceAppState.objects.filter(app=app).values_list("device_id", "state"))
    assert set(states) == {d.pk for d in devices}
    if fault == "nanomdm-500":
        refused = DeviceAppState.objects.filter(app=app, state="failed")
        assert refused.count() == len(devices)
        assert all(str(s.error).startswith("The MDM server did not") for s in refused)

    nanomdm.clear_faults()
    deployment_services.deploy_app(app_id=app.pk)  # the next deployment run, once NanoMDM answers again
    nanomdm.wait_idle()
    deployment_services.apply_pending_events()
    assert _acknowledged_installs(nanomdm) == {d.serial_number for d in devices}
    assert set(
        Command.objects.filter(app=app, purpose="install", status="acknowledged").values_list(
            "device_id", flat=True
        )
    ) == {d.pk for d in devices}
    assert not DeviceAppState.objects.filter(app=app, state="failed").exists()


def _install_commands_per_device(nanomdm) -> dict[str, int]:
    sent: dict[str, int] = {}
    for command in nanomdm.log(request_type="InstallApplication")["commands"]:
        sent[command["serial_number"]] = sent.get(command["serial_number"], 0) + 1
    return sent


def _assert_deployment_converged(app, devices) -> None:
    from deployment.models import Command, DeviceAppState

    assert License.objects.filter(app=app, state="assigned").count() == len(devices)
    assert set(
        Command.objects.filter(app=app, purpose="install", status="acknowledged").values_list(
            "device_id", flat=True
        )
    ) == {d.pk for d in devices}
    assert not Command.objects.filter(app=app, purpose="install", status__in=Command.OPEN).exists()
    assert not DeviceAppState.objects.filter(app=app, state="failed").exists()


@pytest.mark.django_db(transaction=True)
def test_fault_matrix_deployment_nanomdm_207_partial(apple, nanomdm, allocation, administrator):
    """One enqueue to three devices answered 207: the last id was not queued. That device's install is
    failed with NanoMDM's reason, the others install; the next deployment run sends to that device only."""
    from deployment import services as deployment_services
    from deployment.models import Command, CommandBatch, DeviceAppState

    app, devices = _deploy_world(apple, nanomdm, allocation, administrator)
    nanomdm.add_fault("partial", count=1, fail=1)
    deployment_services.deploy_app(app_id=app.pk)
    nanomdm.wait_idle()
    deployment_services.apply_pending_events()

    batch = CommandBatch.objects.get(app=app, request_type="InstallApplication")
    assert (batch.http_status, batch.queued, batch.failed) == (207, len(devices) - 1, 1)
    refused = DeviceAppState.objects.get(app=app, state="failed")
    assert refused.error == "The MDM server did not queue the command: storage: enqueue failed for this id"
    assert Command.objects.get(app=app, device_id=refused.device_id).status == "failed"
    reached = {d.serial_number for d in devices if d.pk != refused.device_id}
    assert _acknowledged_installs(nanomdm) == reached
    assert License.objects.filter(app=app, state="assigned").count() == len(devices)  # nothing local lost

    deployment_services.deploy_app(app_id=app.pk)  # the next deployment run
    nanomdm.wait_idle()
    deployment_services.apply_pending_events()
    assert _acknowledged_installs(nanomdm) == {d.serial_number for d in devices}
    # Only the refused device was sent the install again: one InstallApplication per device reached NanoMDM.
    assert _install_commands_per_device(nanomdm) == {d.serial_number: 1 for d in devices}
    _assert_deployment_converged(app, devices)


@pytest.mark.django_db(transaction=True)
def test_fault_matrix_deployment_webhook_dropped(apple, nanomdm, allocation, administrator, settings):
    """The devices acknowledge the install but NanoMDM's webhook events carrying it are lost. The periodic
    retry of unanswered commands asks the devices for the app (ManagedApplicationList): their answer settles
    the install and closes the commands, without sending the install twice."""
    from deployment import services as deployment_services
    from deployment.models import Command, DeviceAppState

    app, devices = _deploy_world(apple, nanomdm, allocation, administrator)
    nanomdm.update_settings(install_delay=0)  # Managed at once: one inventory answer settles it
    nanomdm.add_fault("drop_webhook", count=len(devices), topic="mdm.Connect", status="Acknowledged")
    deployment_services.deploy_app(app_id=app.pk)
    nanomdm.wait_idle()
    deployment_services.apply_pending_events()
    # The devices installed the app; the console never heard it.
    assert _acknowledged_installs(nanomdm) == {d.serial_number for d in devices}
    dropped = [w for w in nanomdm.webhooks() if w["error"] == "dropped (fault)"]
    assert len(dropped) == len(devices)
    assert Command.objects.filter(app=app, purpose="install", status="queued").count() == len(devices)
    assert set(DeviceAppState.objects.filter(app=app).values_list("state", flat=True)) == {"pending_install"}

    # The beat's retry of unanswered commands, once the answer is overdue.
    settings.MDM_COMMAND_TIMEOUT_MINUTES = 0
    settings.MDM_INVENTORY_BACKOFF = [0]
    assert deployment_services.retry_unanswered()["pushed"] == len(devices)
    assert deployment_services.check_installs(app_id=app.pk) == len(devices)  # the check it planned
    nanomdm.wait_idle()
    deployment_services.apply_pending_events()

    assert set(DeviceAppState.objects.filter(app=app).values_list("state", flat=True)) == {"installed"}
    _assert_deployment_converged(app, devices)
    assert _install_commands_per_device(nanomdm) == {d.serial_number: 1 for d in devices}
    # Converged: the next tick has nothing left to chase.
    assert deployment_services.retry_unanswered() == {"pushed": 0, "failed": 0}
