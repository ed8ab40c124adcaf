"""Directory services: validation messages, audit log, membership order and type, assignments hooks."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from console.models import AuditEntry
from directory import selectors, services
from directory.models import Device, DirectoryUser, GroupMembership
from tests import factories

pytestmark = pytest.mark.django_db


def _messages(exc_info) -> str:
    return " ".join(exc_info.value.messages)


def test_user_create_records_the_audit_log(administrator):
    user = services.user_create(
        user_principal_name=" ana@example.com ", display_name="Ana",
        managed_apple_id="ana@appleid.example.com", actor=administrator,
    )  # fmt: skip
    assert user.user_principal_name == "ana@example.com"
    entry = AuditEntry.objects.get(action="directory.user.create")
    assert entry.actor == administrator
    assert entry.object_id == str(user.pk)
    assert entry.after["managed_apple_id"] == "ana@appleid.example.com"


def test_user_principal_name_is_unique_whatever_the_case(administrator):
    factories.DirectoryUserFactory(user_principal_name="bob@example.com")
    with pytest.raises(ValidationError) as exc:
        services.user_create(user_principal_name="BOB@example.com", display_name="Bob 2", actor=administrator)
    assert exc.value.message_dict["user_principal_name"] == [
        "A user with the user principal name “BOB@example.com” already exists."
    ]
    assert DirectoryUser.objects.count() == 1


def test_a3_an_apple_id_belongs_to_one_user(administrator):
    factories.DirectoryUserFactory(
        user_principal_name="a@example.com", managed_apple_id="shared@apple.example"
    )
    other = factories.DirectoryUserFactory(user_principal_name="b@example.com", managed_apple_id="")
    with pytest.raises(ValidationError) as exc:
        services.user_create(
            user_principal_name="c@example.com", display_name="C", managed_apple_id="Shared@apple.example",
            actor=administrator,
        )  # fmt: skip
    assert "already belongs to a@example.com" in exc.value.message_dict["managed_apple_id"][0]
    with pytest.raises(ValidationError):
        services.user_update(
            user=other, data={"managed_apple_id": "shared@apple.example"}, actor=administrator
        )
    # Users without an Apple ID do not collide with each other.
    services.user_create(user_principal_name="d@example.com", display_name="D", actor=administrator)


def test_user_create_needs_a_display_name_and_a_valid_email(administrator):
    with pytest.raises(ValidationError) as exc:
        services.user_create(user_principal_name="x@example.com", display_name=" ", actor=administrator)
    assert "display_name" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.user_create(
            user_principal_name="x@example.com", display_name="X", email="not-an-email", actor=administrator
        )
    assert "email" in exc.value.message_dict


def test_user_update_records_only_what_changed(administrator):
    user = factories.DirectoryUserFactory(display_name="Old")
    services.user_update(user=user, data={"display_name": "New", "email": user.email}, actor=administrator)
    entry = AuditEntry.objects.get(action="directory.user.update")
    assert entry.before == {"display_name": "Old"}
    assert entry.after == {"display_name": "New"}


def test_s11_deactivate_and_reactivate_a_user(administrator):
    user = factories.DirectoryUserFactory()
    services.user_deactivate(user=user, actor=administrator)
    user.refresh_from_db()
    assert not user.is_active and user.deactivated_at is not None
    services.user_deactivate(user=user, actor=administrator)  # a no-op
    assert AuditEntry.objects.filter(action="directory.user.deactivate").count() == 1
    services.user_reactivate(user=user, actor=administrator)
    user.refresh_from_db()
    assert user.is_active and user.deactivated_at is None


def test_user_update_with_is_active_false_deactivates(administrator):
    user = factories.DirectoryUserFactory()
    services.user_update(user=user, data={"is_active": False}, actor=administrator)
    user.refresh_from_db()
    assert not user.is_active
    assert AuditEntry.objects.filter(action="directory.user.deactivate").exists()


def test_serial_number_is_unique_and_upper_case(administrator):
    device = services.device_create(serial_number=" c02abc ", actor=administrator)
    assert device.serial_number == "C02ABC"
    with pytest.raises(ValidationError) as exc:
        services.device_create(serial_number="C02abc", actor=administrator)
    assert exc.value.message_dict["serial_number"] == [
        "A device with the serial number “C02ABC” already exists."
    ]


def test_primary_user_must_exist(administrator):
    ghost = DirectoryUser(pk=999999, user_principal_name="ghost@example.com", display_name="Ghost")
    with pytest.raises(ValidationError) as exc:
        services.device_create(serial_number="SN1", primary_user=ghost, actor=administrator)
    assert exc.value.message_dict["primary_user"] == ["The primary user does not exist."]
    assert not Device.objects.exists()


def test_device_update_and_retire(administrator):
    owner = factories.DirectoryUserFactory()
    device = factories.DeviceFactory()
    services.device_update(
        device=device, data={"primary_user": owner, "kiosk_mode": True}, actor=administrator
    )
    device.refresh_from_db()
    assert device.primary_user == owner and device.kiosk_mode
    services.device_retire(device=device, actor=administrator)
    device.refresh_from_db()
    assert not device.is_active and device.retired_at is not None
    assert list(AuditEntry.objects.values_list("action", flat=True).order_by("id")) == [
        "directory.device.update", "directory.device.retire",
    ]  # fmt: skip


def test_s6_members_keep_the_order_in_which_they_joined(administrator):
    group = factories.GroupFactory(group_type="user")
    a, b, c, d = (factories.DirectoryUserFactory() for _ in range(4))
    services.group_add_members(group=group, users=[c, a], actor=administrator)
    services.group_add_members(group=group, users=[a, d, b, d], actor=administrator)  # a: already a member
    members = list(selectors.group_members(group))
    assert [m.user for m in members] == [c, a, d, b]
    joined = [m.joined_at for m in members]
    assert joined == sorted(joined)
    assert selectors.group_active_member_ids(group) == ([c.pk, a.pk, d.pk, b.pk], [])


def test_adding_an_existing_member_is_a_no_op(administrator):
    group = factories.GroupFactory(group_type="device")
    device = factories.DeviceFactory()
    assert len(services.group_add_members(group=group, devices=[device], actor=administrator)) == 1
    before = GroupMembership.objects.get()
    assert services.group_add_members(group=group, devices=[device], actor=administrator) == []
    assert GroupMembership.objects.get().joined_at == before.joined_at
    assert AuditEntry.objects.filter(action="directory.group.add_members").count() == 1


def test_a_user_group_accepts_only_users_and_a_device_group_only_devices(administrator):
    user_group = factories.GroupFactory(group_type="user", name="Teachers")
    device_group = factories.GroupFactory(group_type="device", name="iPads")
    with pytest.raises(ValidationError) as exc:
        services.group_add_members(group=user_group, devices=[factories.DeviceFactory()], actor=administrator)
    assert _messages(exc) == "“Teachers” is a user group: it accepts users only, not devices."
    with pytest.raises(ValidationError) as exc:
        services.group_add_members(
            group=device_group, users=[factories.DirectoryUserFactory()], actor=administrator
        )
    assert _messages(exc) == "“iPads” is a device group: it accepts devices only, not users."
    assert not GroupMembership.objects.exists()


def test_deactivated_users_cannot_join_a_group(administrator):
    group = factories.GroupFactory(group_type="user")
    user = factories.DirectoryUserFactory(is_active=False, user_principal_name="gone@example.com")
    with pytest.raises(ValidationError) as exc:
        services.group_add_members(group=group, users=[user], actor=administrator)
    assert "gone@example.com" in _messages(exc)


def test_s11_remove_members(administrator):
    group = factories.GroupFactory(group_type="user")
    a, b = factories.DirectoryUserFactory(), factories.DirectoryUserFactory()
    services.group_add_members(group=group, users=[a, b], actor=administrator)
    assert (
        services.group_remove_members(
            group=group, users=[a, factories.DirectoryUserFactory()], actor=administrator
        )
        == 1
    )
    assert [m.user for m in selectors.group_members(group)] == [b]
    entry = AuditEntry.objects.get(action="directory.group.remove_members")
    assert entry.before == {"users": [a.pk], "devices": []}


def test_group_names_are_unique_and_type_is_fixed_once_there_are_members(administrator):
    group = services.group_create(name="Sales", group_type="user", actor=administrator)
    with pytest.raises(ValidationError) as exc:
        services.group_create(name="sales", group_type="user", actor=administrator)
    assert exc.value.message_dict["name"] == ["A group named “sales” already exists."]
    with pytest.raises(ValidationError):
        services.group_create(name="Other", group_type="printer", actor=administrator)
    services.group_add_members(group=group, users=[factories.DirectoryUserFactory()], actor=administrator)
    with pytest.raises(ValidationError) as exc:
        services.group_update(group=group, data={"group_type": "device"}, actor=administrator)
    assert "group_type" in exc.value.message_dict


def test_group_delete_is_refused_while_apps_are_assigned(administrator):
    from assignments.models import Assignment

    group = factories.GroupFactory(group_type="device", name="Lab")
    Assignment.objects.create(
        app=factories.AppFactory(), group=group, intent="required", license_type="device"
    )
    with pytest.raises(ValidationError) as exc:
        services.group_delete(group=group, actor=administrator)
    assert "has 1 app assignment" in _messages(exc)
    Assignment.objects.all().delete()
    services.group_delete(group=group, actor=administrator)
    assert AuditEntry.objects.filter(action="directory.group.delete", object_repr="Lab").exists()


# --- hooks into the assignments app ------------------------------------------------------------------
@pytest.fixture
def hooks():
    """The directory's signals as a receiver sees them (the assignments receivers queue license work)."""
    from directory import signals

    calls: list[tuple] = []
    names = {
        signals.members_added: "on_members_added",
        signals.members_removed: "on_members_removed",
        signals.user_deactivated: "on_user_deactivated",
        signals.device_retired: "on_device_retired",
    }
    receivers = []
    for signal, name in names.items():

        def record(sender, signal=None, _name=name, **kwargs):
            calls.append((_name, kwargs))

        signal.connect(record, weak=False)
        receivers.append((signal, record))
    yield calls
    for signal, record in receivers:
        signal.disconnect(record)


def test_b1_hooks_are_called_after_commit(administrator, hooks, django_capture_on_commit_callbacks):
    group = factories.GroupFactory(group_type="user")
    user = factories.DirectoryUserFactory()
    device = factories.DeviceFactory()
    with django_capture_on_commit_callbacks(execute=False) as pending:
        services.group_add_members(group=group, users=[user], actor=administrator)
    assert hooks == []  # nothing before the transaction commits
    for callback in pending:
        callback()
    with django_capture_on_commit_callbacks(execute=True):
        services.group_remove_members(group=group, users=[user], actor=administrator)
        services.user_deactivate(user=user, actor=administrator)
        services.device_retire(device=device, actor=None)
    assert hooks == [
        (
            "on_members_added",
            {"group_id": group.pk, "user_ids": [user.pk], "device_ids": [], "actor_id": administrator.pk},
        ),
        (
            "on_members_removed",
            {"group_id": group.pk, "user_ids": [user.pk], "device_ids": [], "actor_id": administrator.pk},
        ),
        ("on_user_deactivated", {"user_id": user.pk, "actor_id": administrator.pk}),
        ("on_device_retired", {"device_id": device.pk, "actor_id": None}),
    ]


def test_no_hook_runs_when_the_change_is_rolled_back(
    administrator, hooks, django_capture_on_commit_callbacks
):
    group = factories.GroupFactory(group_type="user")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.group_add_members(
            group=group, users=[factories.DirectoryUserFactory()], devices=[factories.DeviceFactory()],
            actor=administrator,
        )  # fmt: skip
    assert hooks == []
