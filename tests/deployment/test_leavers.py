"""S11, B1, D3 end to end: a leaver's apps are removed from their devices and the license is reclaimed only
once the device acknowledged the removal. The console, a real Celery worker, the Apple simulator and the
NanoMDM stand-in, all over HTTP (as in test_flows.py)."""

from __future__ import annotations

import pytest

from assignments.models import License
from console.models import AuditEntry
from deployment.models import Command, DeviceAppState
from directory import services as directory_services
from directory.models import Device
from tests import factories
from tests.assignments.conftest import add_members
from tests.deployment.conftest import wait_for
from tests.deployment.test_flows import _bundle, _enrol, _required, _states

pytestmark = pytest.mark.worker


def _user_app_installed(apple, location, make_app, nanomdm, administrator, *, users: int = 1):
    """A user-licensed Required app installed on one enrolled device of each of `users` users (S4: each user
    accepted Apple's invitation first). Returns (app, group, [(user, device)])."""
    from assignments.events import apply_user_associated
    from assignments.models import VPPUser
    from vpp.types import AppleUser, Notification

    token, uid = location
    app = _bundle(apple, make_app(5))
    people = factories.DirectoryUserFactory.create_batch(users)
    devices = [factories.DeviceFactory(primary_user=user) for user in people]
    group = factories.GroupFactory(group_type="user")
    add_members(group, users=people)
    devices = _enrol(nanomdm, devices)
    _required(apple, app, group, administrator, license_type="user")
    for number, device in enumerate(devices):
        vpp_user = wait_for(
            lambda device=device: VPPUser.objects.filter(user_id=device.primary_user_id).first(),
            message="the user registered at Apple",
        )
        nanomdm.update_device(device.udid, client_user_id=vpp_user.client_user_id)
        apple.accept_invitation(uid, vpp_user.client_user_id)
        associated = AppleUser.from_api({"clientUserId": vpp_user.client_user_id, "status": "Associated"})
        apply_user_associated(
            token,
            Notification(
                notification_id=f"n-{number}",
                notification_type="USER_ASSOCIATED",
                uid=uid,
                payload={},
                users=(associated,),
            ),
        )
    wait_for(lambda: _states(app) == {"installed": users}, message=f"installed {_states(app)}")
    return app, group, list(zip(people, devices, strict=True))


def _removed_then_reclaimed(nanomdm, app, device, lic) -> None:
    """RemoveApplication reached `device`, its state went uninstall pending → not applicable, and `lic` was
    released at Apple only after the device acknowledged (D3)."""
    wait_for(
        lambda: any(
            c["udid"] == device.udid for c in nanomdm.log(request_type="RemoveApplication")["commands"]
        ),
        message="RemoveApplication sent to the device",
        timeout=30,
    )
    wait_for(
        lambda: DeviceAppState.objects.get(app=app, device=device).state == "not_applicable",
        message="removal acknowledged",
    )
    wait_for(
        lambda: License.objects.get(pk=lic.pk).state in ("revoking", "revoked"),
        message="license released after the acknowledgement",
    )
    removal = Command.objects.get(app=app, device=device, purpose="remove")
    # The revocation commits the license's state, then records its audit entry: wait for both.
    released = wait_for(
        lambda: AuditEntry.objects.filter(action="license.revoke", object_id=str(lic.pk)).first(),
        message="the revocation in the audit log",
    )
    assert removal.status == "acknowledged" and removal.license_id == lic.pk
    assert removal.answered_at is not None and removal.answered_at <= released.created_at
    assert app.bundle_id not in {a["identifier"] for a in nanomdm.device(device.udid)["apps"]}


def _removal_waits_for_the_device(nanomdm, app, device, lic) -> None:
    """The device does not answer yet: uninstall pending, the license still held (D3)."""
    wait_for(
        lambda: DeviceAppState.objects.get(app=app, device=device).state == "uninstall_pending",
        message="uninstall pending",
        timeout=30,
    )
    wait_for(
        lambda: Command.objects.filter(app=app, device=device, purpose="remove").exists(),
        message="removal recorded",
    )
    assert License.objects.get(pk=lic.pk).state == "assigned"
    nanomdm.set_behaviour(device.udid, silent=False)
    nanomdm.check_in(device.udid)


def test_s11_d3_a_deactivated_user_loses_the_app_then_the_license(
    apple, location, make_app, nanomdm, celery_worker, administrator
):
    app, _group, [(user, device)] = _user_app_installed(apple, location, make_app, nanomdm, administrator)
    lic = License.objects.get(app=app, user=user, state="assigned")
    nanomdm.set_behaviour(device.udid, silent=True)
    directory_services.user_deactivate(user=user, actor=administrator)
    _removal_waits_for_the_device(nanomdm, app, device, lic)
    _removed_then_reclaimed(nanomdm, app, device, lic)


def test_s11_d3_a_user_removed_from_the_group_loses_the_app_then_the_license(
    apple, location, make_app, nanomdm, celery_worker, administrator
):
    app, group, pairs = _user_app_installed(apple, location, make_app, nanomdm, administrator, users=2)
    (leaver, leaver_device), (stayer, stayer_device) = pairs
    lic = License.objects.get(app=app, user=leaver, state="assigned")
    directory_services.group_remove_members(group=group, users=[leaver], actor=administrator)
    _removed_then_reclaimed(nanomdm, app, leaver_device, lic)
    # The member who stayed keeps the app and the license.
    assert DeviceAppState.objects.get(app=app, device=stayer_device).state == "installed"
    assert License.objects.get(app=app, user=stayer).state == "assigned"
    assert not Command.objects.filter(device=stayer_device, purpose="remove").exists()


def test_s11_d3_a_user_still_reached_through_another_group_keeps_the_app(
    apple, location, make_app, nanomdm, celery_worker, administrator
):
    from assignments.services import assignment_create

    app, group, [(user, device)] = _user_app_installed(apple, location, make_app, nanomdm, administrator)
    other = factories.GroupFactory(group_type="user")
    add_members(other, users=[user])
    assignment_create(app=app, group=other, intent="available", license_type="user", actor=administrator)
    directory_services.group_remove_members(group=group, users=[user], actor=administrator)
    wait_for(
        lambda: AuditEntry.objects.filter(action="group.members_removed.kept").exists(),
        message="the license moved to the other assignment",
    )
    assert License.objects.get(app=app, user=user).state == "assigned"
    assert DeviceAppState.objects.get(app=app, device=device).state == "installed"
    assert nanomdm.log(request_type="RemoveApplication")["commands"] == []


def _device_app_installed(apple, make_app, nanomdm, administrator, count: int = 1):
    app = _bundle(apple, make_app(5))
    group = factories.GroupFactory(group_type="device")
    devices = factories.DeviceFactory.create_batch(count)
    add_members(group, devices=devices)
    devices = _enrol(nanomdm, devices)
    _required(apple, app, group, administrator)
    wait_for(lambda: _states(app) == {"installed": count}, message=f"installed {_states(app)}")
    return app, group, devices


def test_b1_d3_a_retired_device_loses_the_app_then_the_license(
    apple, location, make_app, nanomdm, celery_worker, administrator
):
    app, _group, [device] = _device_app_installed(apple, make_app, nanomdm, administrator)
    lic = License.objects.get(app=app, device=device, state="assigned")
    nanomdm.set_behaviour(device.udid, silent=True)
    directory_services.device_retire(device=device, actor=administrator)
    _removal_waits_for_the_device(nanomdm, app, device, lic)
    _removed_then_reclaimed(nanomdm, app, device, lic)
    assert not Device.objects.get(pk=device.pk).is_active


def test_s11_d3_a_device_removed_from_its_device_group_loses_the_app_then_the_license(
    apple, location, make_app, nanomdm, celery_worker, administrator
):
    app, group, [leaving, staying] = _device_app_installed(apple, make_app, nanomdm, administrator, count=2)
    lic = License.objects.get(app=app, device=leaving, state="assigned")
    directory_services.group_remove_members(group=group, devices=[leaving], actor=administrator)
    _removed_then_reclaimed(nanomdm, app, leaving, lic)
    assert DeviceAppState.objects.get(app=app, device=staying).state == "installed"
    assert License.objects.get(app=app, device=staying).state == "assigned"


def test_s11_d3_entra_id_patch_active_false_removes_the_app_then_reclaims(
    apple, location, make_app, nanomdm, celery_worker, administrator, scim_http, scim_client
):
    """Entra ID disables a provisioned user (PATCH active "False"): RemoveApplication to the user's device,
    the license reclaimed after the device acknowledged."""
    from directory.models import DirectoryUser, Source
    from tests.scim.test_provisioning_replay import PATCH_OP

    app, _group, [(user, device)] = _user_app_installed(apple, location, make_app, nanomdm, administrator)
    client, _token = scim_client
    DirectoryUser.objects.filter(pk=user.pk).update(
        source=Source.IDENTITY_PROVIDER, provisioned_by=client.account, external_id="leaver-object-id"
    )
    lic = License.objects.get(app=app, user=user, state="assigned")
    response = scim_http(
        "PATCH",
        f"Users/{user.pk}",
        {"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    _removed_then_reclaimed(nanomdm, app, device, lic)
    entry = AuditEntry.objects.get(action="user.remove_apps_and_licenses", object_id=str(user.pk))
    assert entry.actor_name == "scim:Entra ID"
