"""CSV import: preview, per-row errors with row numbers, whole-file rejection, success, limits."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from directory import csv_import, selectors
from directory.models import Device, DirectoryUser, GroupMembership
from tests import factories

pytestmark = pytest.mark.django_db

USERS_CSV = """user_principal_name,display_name,email,managed_apple_id,is_active
ana@example.com,Ana,ana@example.com,ana@appleid.example.com,true
ben@example.com,Ben,,,
"""


def test_preview_changes_nothing_and_says_what_each_row_would_do():
    factories.DirectoryUserFactory(user_principal_name="ben@example.com", display_name="Benjamin")
    result = csv_import.preview("users", USERS_CSV.encode())
    assert result.is_valid
    assert [(r.number, r.action, r.key) for r in result.rows] == [
        (2, "create", "ana@example.com"),
        (3, "update", "ben@example.com"),
    ]
    assert result.rows[1].values == {"display_name": "Ben"}
    assert DirectoryUser.objects.count() == 1


def test_import_creates_and_updates_users(administrator):
    factories.DirectoryUserFactory(user_principal_name="ben@example.com", display_name="Benjamin")
    csv_import.import_apply(kind="users", content=USERS_CSV.encode(), actor=administrator)
    assert (
        DirectoryUser.objects.get(user_principal_name="ana@example.com").managed_apple_id
        == "ana@appleid.example.com"
    )
    assert DirectoryUser.objects.get(user_principal_name="ben@example.com").display_name == "Ben"


def test_a_file_with_any_bad_row_is_rejected_whole_and_nothing_is_imported(administrator):
    factories.DirectoryUserFactory(
        user_principal_name="taken@example.com", managed_apple_id="taken@apple.example"
    )
    content = (
        "user_principal_name,display_name,email,managed_apple_id,is_active\n"
        "good@example.com,Good,,,\n"
        "bad-email@example.com,Bad,not-an-email,,\n"
        "dup@example.com,Dup,,taken@apple.example,\n"
        ",Nobody,,,\n"
        "good@example.com,Again,,,\n"
        "flag@example.com,Flag,,,maybe\n"
        "new@example.com,,,,\n"
    )
    result = csv_import.preview("users", content)
    assert not result.is_valid
    errors = {r.number: r.errors for r in result.row_errors}
    assert errors[3] == ["“not-an-email” is not a valid email address."]
    assert errors[4] == ["The Apple ID “taken@apple.example” already belongs to taken@example.com."]
    assert errors[5] == ["user_principal_name is empty."]
    assert errors[6] == ["good@example.com is also in row 2."]
    assert errors[7] == ["“maybe” in is_active is not true/false."]
    assert errors[8] == ["display_name is needed for a new user."]
    assert 2 not in errors
    with pytest.raises(ValidationError) as exc:
        csv_import.import_apply(kind="users", content=content, actor=administrator)
    assert "Row 3: “not-an-email” is not a valid email address." in exc.value.messages
    assert DirectoryUser.objects.count() == 1


def test_confirm_validates_again_and_rolls_back_everything(administrator):
    """Between preview and confirm someone took an Apple ID: the confirm is refused, nothing half-saved."""
    content = (
        "user_principal_name,display_name,managed_apple_id\n"
        "a@example.com,A,\n"
        "b@example.com,B,b@apple.example\n"
    )
    assert csv_import.preview("users", content).is_valid
    factories.DirectoryUserFactory(user_principal_name="c@example.com", managed_apple_id="b@apple.example")
    with pytest.raises(ValidationError):
        csv_import.import_apply(kind="users", content=content, actor=administrator)
    assert not DirectoryUser.objects.filter(user_principal_name="a@example.com").exists()


def test_file_level_errors():
    assert csv_import.preview("users", b"").file_errors == ["The file is empty."]
    assert csv_import.preview("users", b"user_principal_name\n").file_errors == [
        "The file has a header but no rows."
    ]
    assert (
        "Unknown column(s): colour"
        in csv_import.preview("users", b"user_principal_name,colour\na,b\n").file_errors[0]
    )
    assert csv_import.preview("users", b"display_name\nA\n").file_errors == [
        "Missing column(s): user_principal_name."
    ]
    assert (
        "not UTF-8"
        in csv_import.preview("users", "user_principal_name\nJosé\n".encode("latin-1")).file_errors[0]
    )


def test_size_and_row_limits(monkeypatch):
    big = b"user_principal_name\n" + b"x" * (csv_import.MAX_BYTES + 1)
    assert "at most 5 MB" in csv_import.preview("users", big).file_errors[0]
    monkeypatch.setattr(csv_import, "MAX_ROWS", 3)
    many = "user_principal_name,display_name\n" + "".join(f"u{i}@example.com,U\n" for i in range(4))
    assert csv_import.preview("users", many).file_errors == [
        "The file has more than 3 rows; split it into smaller files."
    ]


def test_devices_import_with_primary_user_by_upn(administrator):
    owner = factories.DirectoryUserFactory(user_principal_name="owner@example.com")
    content = (
        "serial_number,name,model,platform,os_version,ownership,supervised,kiosk_mode,dep_enrolled,primary_user,"
        "app_store_allowed\n"
        "c02aaa,Lab iPad,iPad,ipados,18.1,corporate,yes,no,1,OWNER@example.com,false\n"
        "C02BBB,Phone,,iOS,,personal,,,,,\n"
    )
    csv_import.import_apply(kind="devices", content=content, actor=administrator)
    lab = Device.objects.get(serial_number="C02AAA")
    assert (lab.platform, lab.supervised, lab.dep_enrolled, lab.primary_user, lab.app_store_allowed) == (
        "iPadOS", True, True, owner, False,
    )  # fmt: skip
    assert Device.objects.get(serial_number="C02BBB").ownership == "personal"


def test_devices_import_reports_unknown_primary_user_and_bad_choices():
    content = "serial_number,platform,ownership,primary_user\nSN1,Android,borrowed,nobody@example.com\n"
    result = csv_import.preview("devices", content)
    errors = result.rows[0].errors
    assert "“Android” is not a valid platform" in errors[0]
    assert "“borrowed” is not a valid ownership" in errors[1]
    assert errors[2] == "The primary user nobody@example.com does not exist; import the users first."


def test_s6_membership_import_keeps_file_order(administrator):
    group = factories.GroupFactory(name="Teachers", group_type="user")
    users = [factories.DirectoryUserFactory(user_principal_name=f"t{i}@example.com") for i in range(3)]
    content = (
        "group,user_principal_name\n"
        "Teachers,t2@example.com\n"
        "teachers,t0@example.com\n"
        "Teachers,t1@example.com\n"
    )
    csv_import.import_apply(kind="memberships", content=content, actor=administrator)
    assert [m.user for m in selectors.group_members(group)] == [users[2], users[0], users[1]]
    again = csv_import.preview("memberships", content)
    assert [r.action for r in again.rows] == ["unchanged"] * 3


def test_membership_import_errors_name_the_row_and_reason():
    factories.GroupFactory(name="Teachers", group_type="user")
    factories.GroupFactory(name="iPads", group_type="device")
    factories.DirectoryUserFactory(user_principal_name="t@example.com")
    content = (
        "group,user_principal_name,serial_number\n"
        "Nope,t@example.com,\n"
        "iPads,t@example.com,\n"
        "Teachers,,\n"
        "Teachers,ghost@example.com,\n"
    )
    errors = {r.number: r.errors for r in csv_import.preview("memberships", content).row_errors}
    assert errors == {
        2: ["There is no group named “Nope”."],
        3: ["“iPads” is a device group; it accepts devices only."],
        4: ["Give either user_principal_name or serial_number."],
        5: ["There is no user ghost@example.com."],
    }


def test_membership_import_into_one_group(administrator):
    group = factories.GroupFactory(name="iPads", group_type="device")
    factories.DeviceFactory(serial_number="SN1")
    csv_import.import_apply(
        kind="memberships", content="serial_number\nsn1\n", group=group, actor=administrator
    )
    assert GroupMembership.objects.get().device.serial_number == "SN1"


def test_update_rows_match_existing_users_and_devices_whatever_the_case(administrator):
    """The file may spell a UPN or serial number in another case than the directory: the row updates it."""
    factories.DirectoryUserFactory(user_principal_name="ben@example.com", display_name="Benjamin")
    Device.objects.create(serial_number="abc123", name="Old")
    csv_import.import_apply(
        kind="users", content="user_principal_name,display_name\nBEN@Example.com,Ben\n", actor=administrator
    )
    csv_import.import_apply(kind="devices", content="serial_number,name\nABC123,New\n", actor=administrator)
    assert DirectoryUser.objects.get().display_name == "Ben"
    assert Device.objects.get().name == "New"


def test_very_long_fields_are_row_errors_in_the_preview(administrator):
    """A preview that passes must import: a too-long cell is reported on its row, not at confirm time."""
    users = "user_principal_name,display_name,managed_apple_id\n" + f"a@example.com,{'A' * 201},{'b' * 255}\n"
    result = csv_import.preview("users", users)
    assert result.rows[0].errors == [
        "display_name is longer than 200 characters.",
        "managed_apple_id is longer than 254 characters.",
    ]
    devices = "serial_number,name\n" + "S" * 65 + ",iPad\n"
    assert csv_import.preview("devices", devices).rows[0].errors == [
        "serial_number is longer than 64 characters."
    ]
    with pytest.raises(ValidationError):
        csv_import.import_apply(kind="users", content=users, actor=administrator)
    assert not DirectoryUser.objects.exists()


def test_excel_files_with_bom_semicolons_crlf_and_blank_lines(administrator):
    """Excel writes UTF-8 with a byte-order mark, CRLF line ends and, in many locales, semicolons."""
    content = (
        "user_principal_name;display_name;email\r\n"
        "ana@example.com;Ana, Jr.;\r\n\r\n;;\r\n"
        "ben@example.com;Ben;\r\n"
    )
    for raw in (content.encode("utf-8-sig"), "\ufeff" + content):
        result = csv_import.preview("users", raw)
        assert result.is_valid, result.error_messages()
        assert [(r.number, r.key, r.values) for r in result.rows] == [
            (2, "ana@example.com", {"user_principal_name": "ana@example.com", "display_name": "Ana, Jr."}),
            (5, "ben@example.com", {"user_principal_name": "ben@example.com", "display_name": "Ben"}),
        ]
    csv_import.import_apply(kind="users", content=content.encode("utf-8-sig"), actor=administrator)
    assert DirectoryUser.objects.get(user_principal_name="ana@example.com").display_name == "Ana, Jr."


# --- bulk import: a few queries whatever the number of rows, the same audit log and hooks -------------
def _users_file(n: int, start: int = 0, suffix: str = "") -> str:
    rows = "".join(f"u{i}@example.com,User {i}{suffix},u{i}@example.com,\n" for i in range(start, start + n))
    return "user_principal_name,display_name,email,is_active\n" + rows


def _devices_file(n: int, suffix: str = "") -> str:
    rows = "".join(f"SN{i:05d},Device {i}{suffix},iPadOS,u{i % 3}@example.com\n" for i in range(n))
    return "serial_number,name,platform,primary_user\n" + rows


def test_import_queries_do_not_grow_with_rows(administrator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for start, n in ((0, 3), (100, 30)):
        with CaptureQueriesContext(connection) as created:
            csv_import.import_apply(kind="users", content=_users_file(n, start), actor=administrator)
        with CaptureQueriesContext(connection) as updated:
            csv_import.import_apply(kind="users", content=_users_file(n, start, " 2"), actor=administrator)
        counts.append((len(created), len(updated)))
    assert counts[0] == counts[1]
    with CaptureQueriesContext(connection) as few:
        csv_import.import_apply(kind="devices", content=_devices_file(3), actor=administrator)
    Device.objects.all().delete()
    with CaptureQueriesContext(connection) as many:
        csv_import.import_apply(kind="devices", content=_devices_file(30), actor=administrator)
    assert len(few) == len(many)


def test_b6_bulk_import_records_one_audit_entry_per_created_or_changed_object(administrator):
    from console.models import AuditEntry

    factories.DirectoryUserFactory(user_principal_name="u1@example.com", display_name="Old", email="")
    csv_import.import_apply(kind="users", content=_users_file(2), actor=administrator)
    u0 = DirectoryUser.objects.get(user_principal_name="u0@example.com")
    created = AuditEntry.objects.get(action="directory.user.create", object_id=str(u0.pk))
    assert created.actor == administrator and created.object_type == "directory.directoryuser"
    assert created.after["user_principal_name"] == "u0@example.com" and created.after["is_active"] is True
    updated = AuditEntry.objects.get(action="directory.user.update")
    assert (updated.before, updated.after) == (
        {"display_name": "Old", "email": ""},
        {"display_name": "User 1", "email": "u1@example.com"},
    )
    csv_import.import_apply(kind="devices", content=_devices_file(1), actor=administrator)
    device = AuditEntry.objects.get(action="directory.device.create")
    assert device.after["serial_number"] == "SN00000" and device.after["primary_user_id"] == u0.pk


def test_s11_import_deactivating_a_user_reaches_the_assignments_hooks_after_commit(
    administrator, django_capture_on_commit_callbacks
):
    from directory import signals

    calls = []

    def record(sender, signal=None, **kwargs):
        calls.append(("on_user_deactivated", kwargs))

    signals.user_deactivated.connect(record)
    user = factories.DirectoryUserFactory(user_principal_name="leaver@example.com")
    content = "user_principal_name,is_active\nLEAVER@example.com,false\n"
    with django_capture_on_commit_callbacks(execute=True):
        csv_import.import_apply(kind="users", content=content, actor=administrator)
    signals.user_deactivated.disconnect(record)
    user.refresh_from_db()
    assert not user.is_active
    assert calls == [("on_user_deactivated", {"user_id": user.pk, "actor_id": administrator.pk})]


def test_bulk_services_refuse_a_conflicting_batch_and_save_nothing(administrator):
    from console.models import AuditEntry
    from directory import services

    factories.DirectoryUserFactory(
        user_principal_name="taken@example.com", managed_apple_id="id@apple.example"
    )
    rows = [
        {"user_principal_name": "new@example.com", "display_name": "New"},
        {"user_principal_name": "TAKEN@example.com", "display_name": "Dup"},
        {"user_principal_name": "o@example.com", "display_name": "O", "managed_apple_id": "ID@apple.example"},
        {"user_principal_name": "long@example.com", "display_name": "L" * 201},
    ]
    with pytest.raises(ValidationError) as exc:
        services.user_bulk_create(rows=rows, actor=administrator)
    assert exc.value.messages[:2] == [
        "A user with the user principal name “TAKEN@example.com” already exists.",
        "The Apple ID “ID@apple.example” already belongs to taken@example.com.",
    ]
    assert "long@example.com: display_name:" in exc.value.messages[2]
    with pytest.raises(ValidationError):
        services.device_bulk_create(rows=[{"serial_number": "sn1"}, {"serial_number": "SN1"}], actor=None)
    assert DirectoryUser.objects.count() == 1 and not Device.objects.exists()
    assert not AuditEntry.objects.exists()
