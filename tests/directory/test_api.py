"""The directory REST API: contract (docs/rules.md, Stable interfaces), members in join order, import,
personas, queries."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.models import AuditEntry
from directory import services
from directory.models import Device, DirectoryUser, GroupMembership
from tests import factories

pytestmark = pytest.mark.django_db

USER_FIELDS = {"id", "user_principal_name", "display_name", "email", "managed_apple_id", "is_active"}
DEVICE_FIELDS = {
    "id", "serial_number", "name", "model", "os_version", "platform", "ownership", "supervised", "kiosk_mode",
    "dep_enrolled", "primary_user", "app_store_allowed",
}  # fmt: skip
GROUP_FIELDS = {"id", "name", "group_type", "description", "member_count"}


def test_users_contract(admin_api):
    factories.DirectoryUserFactory()
    body = admin_api.get("/api/v1/users/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert set(body["results"][0]) >= USER_FIELDS


def test_devices_contract(admin_api):
    factories.DeviceFactory(primary_user=factories.DirectoryUserFactory())
    row = admin_api.get("/api/v1/devices/").json()["results"][0]
    assert set(row) >= DEVICE_FIELDS


def test_groups_contract(admin_api):
    group = factories.GroupFactory(group_type="device")
    services.group_add_members(group=group, devices=[factories.DeviceFactory()], actor=None)
    row = admin_api.get("/api/v1/groups/").json()["results"][0]
    assert set(row) >= GROUP_FIELDS
    assert row["group_type"] == "device" and row["member_count"] == 1


def test_create_user_validates_through_the_service(admin_api, administrator):
    response = admin_api.post(
        "/api/v1/users/",
        {
            "user_principal_name": "ana@example.com",
            "display_name": "Ana",
            "managed_apple_id": "ana@apple.example",
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["user_principal_name"] == "ana@example.com"
    assert AuditEntry.objects.get(action="directory.user.create").actor == administrator
    again = admin_api.post(
        "/api/v1/users/", {"user_principal_name": "ANA@example.com", "display_name": "Ana 2"}
    )
    assert again.status_code == 400
    assert again.json()["user_principal_name"] == [
        "A user with the user principal name “ANA@example.com” already exists."
    ]
    apple = admin_api.post(
        "/api/v1/users/",
        {
            "user_principal_name": "b@example.com",
            "display_name": "B",
            "managed_apple_id": "ana@apple.example",
        },
    )
    assert apple.status_code == 400
    assert "already belongs to ana@example.com" in apple.json()["managed_apple_id"][0]


def test_unknown_group_id_answers_400_naming_it(admin_api):
    group = factories.GroupFactory(group_type="user")
    response = admin_api.post(
        "/api/v1/users/",
        {"user_principal_name": "a@example.com", "display_name": "A", "groups": [group.pk, 987654]},
    )
    assert response.status_code == 400
    assert "987654" in response.json()["detail"]
    assert not DirectoryUser.objects.exists()
    listing = admin_api.get("/api/v1/users/", {"group": 987654})
    assert listing.status_code == 400
    assert "987654" in str(listing.json())


def test_create_user_into_groups(admin_api):
    group = factories.GroupFactory(group_type="user")
    response = admin_api.post(
        "/api/v1/users/", {"user_principal_name": "a@example.com", "display_name": "A", "groups": [group.pk]}
    )
    assert response.status_code == 201
    assert GroupMembership.objects.get().user.user_principal_name == "a@example.com"
    assert admin_api.get("/api/v1/users/", {"group": group.pk}).json()["count"] == 1


def test_device_create_update_and_unknown_primary_user(admin_api):
    owner = factories.DirectoryUserFactory()
    response = admin_api.post(
        "/api/v1/devices/",
        {"serial_number": "c02xyz", "platform": "iPadOS", "ownership": "corporate", "primary_user": owner.pk},
    )
    assert response.status_code == 201, response.content
    assert response.json()["serial_number"] == "C02XYZ"
    assert response.json()["primary_user"] == owner.pk
    device_id = response.json()["id"]
    patched = admin_api.patch(
        f"/api/v1/devices/{device_id}/", {"kiosk_mode": True, "app_store_allowed": False}
    )
    assert patched.status_code == 200
    assert patched.json()["kiosk_mode"] is True
    bad = admin_api.post("/api/v1/devices/", {"serial_number": "SN2", "primary_user": 999999})
    assert bad.status_code == 400
    assert "primary_user" in bad.json()
    dup = admin_api.post("/api/v1/devices/", {"serial_number": "C02XYZ"})
    assert dup.status_code == 400
    assert dup.json()["serial_number"] == ["A device with the serial number “C02XYZ” already exists."]


def test_deactivate_retire_and_delete_actions(admin_api):
    user = factories.DirectoryUserFactory()
    device = factories.DeviceFactory()
    assert admin_api.post(f"/api/v1/users/{user.pk}/deactivate/").json()["is_active"] is False
    assert admin_api.post(f"/api/v1/users/{user.pk}/reactivate/").json()["is_active"] is True
    assert admin_api.delete(f"/api/v1/users/{user.pk}/").status_code == 204
    user.refresh_from_db()
    assert not user.is_active  # DELETE deactivates; the row stays
    assert admin_api.post(f"/api/v1/devices/{device.pk}/retire/").json()["is_active"] is False
    other = factories.DeviceFactory()
    assert admin_api.delete(f"/api/v1/devices/{other.pk}/").status_code == 204
    assert Device.objects.filter(pk=other.pk, is_active=False).exists()


def test_s6_group_members_in_join_order(admin_api):
    group = factories.GroupFactory(group_type="user")
    a, b, c = (factories.DirectoryUserFactory() for _ in range(3))
    response = admin_api.post(f"/api/v1/groups/{group.pk}/members/", {"users": [b.pk, c.pk]})
    assert response.status_code == 201
    assert response.json() == {"added": 2, "member_count": 2}
    admin_api.post(f"/api/v1/groups/{group.pk}/members/", {"users": [a.pk, b.pk]})
    members = admin_api.get(f"/api/v1/groups/{group.pk}/members/").json()
    assert [m["user"] for m in members["results"]] == [b.pk, c.pk, a.pk]
    assert all(m["joined_at"] for m in members["results"])
    assert members["results"][0]["member_type"] == "user"


def test_group_members_wrong_type_and_unknown_ids(admin_api):
    group = factories.GroupFactory(group_type="user", name="Staff")
    device = factories.DeviceFactory()
    wrong = admin_api.post(f"/api/v1/groups/{group.pk}/members/", {"devices": [device.pk]})
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == "“Staff” is a user group: it accepts users only, not devices."
    unknown = admin_api.post(f"/api/v1/groups/{group.pk}/members/", {"users": [123456]})
    assert unknown.status_code == 400
    assert "123456" in unknown.json()["detail"]
    empty = admin_api.post(f"/api/v1/groups/{group.pk}/members/", {})
    assert empty.status_code == 400


def test_remove_members_by_delete_and_by_post(admin_api):
    group = factories.GroupFactory(group_type="device")
    a, b = factories.DeviceFactory(), factories.DeviceFactory()
    services.group_add_members(group=group, devices=[a, b], actor=None)
    response = admin_api.delete(f"/api/v1/groups/{group.pk}/members/", {"devices": [a.pk]}, format="json")
    assert response.json() == {"removed": 1, "member_count": 1}
    response = admin_api.post(f"/api/v1/groups/{group.pk}/members/remove/", {"devices": [b.pk]})
    assert response.json() == {"removed": 1, "member_count": 0}


def test_group_create_update_delete(admin_api):
    response = admin_api.post("/api/v1/groups/", {"name": "Sales", "group_type": "user"})
    assert response.status_code == 201
    group_id = response.json()["id"]
    assert admin_api.post("/api/v1/groups/", {"name": "sales", "group_type": "user"}).status_code == 400
    patched = admin_api.patch(f"/api/v1/groups/{group_id}/", {"description": "Team"})
    assert patched.json()["description"] == "Team"
    assert admin_api.delete(f"/api/v1/groups/{group_id}/").status_code == 204


def _csv(text: str, name: str = "import.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_import_preview_then_confirm(admin_api):
    content = "user_principal_name,display_name\na@example.com,A\nb@example.com,B\n"
    preview = admin_api.post(
        "/api/v1/directory-import/", {"kind": "users", "file": _csv(content)}, format="multipart"
    )
    assert preview.status_code == 200
    body = preview.json()
    assert body["valid"] and not body["imported"] and body["counts"]["create"] == 2
    assert not DirectoryUser.objects.exists()
    done = admin_api.post(
        "/api/v1/directory-import/", {"confirmation": body["confirmation"]}, format="multipart"
    )
    assert done.status_code == 201
    assert DirectoryUser.objects.count() == 2


def test_import_with_a_bad_row_answers_400_and_imports_nothing(admin_api):
    content = "serial_number,platform\nSN1,iPadOS\nSN2,Android\n"
    response = admin_api.post(
        "/api/v1/devices/import/", {"file": _csv(content), "confirm": "true"}, format="multipart"
    )
    assert response.status_code == 400
    assert "Row 3:" in response.json()["detail"]
    assert not Device.objects.exists()
    preview = admin_api.post("/api/v1/devices/import/", {"file": _csv(content)}, format="multipart")
    assert preview.status_code == 400
    assert preview.json()["rows"][1]["errors"]


def test_group_members_import(admin_api):
    group = factories.GroupFactory(group_type="user")
    factories.DirectoryUserFactory(user_principal_name="a@example.com")
    response = admin_api.post(
        f"/api/v1/groups/{group.pk}/members/import/",
        {"file": _csv("user_principal_name\na@example.com\n"), "confirm": "true"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert group.memberships.count() == 1


def test_import_refuses_a_forged_confirmation(admin_api):
    response = admin_api.post("/api/v1/directory-import/", {"confirmation": "forged"}, format="multipart")
    assert response.status_code == 400


# --- permissions -----------------------------------------------------------------------------------
LISTS = ["/api/v1/users/", "/api/v1/devices/", "/api/v1/groups/"]


@pytest.mark.parametrize("url", LISTS)
def test_reads_by_persona(url, admin_api, helpdesk_api, anon_api, no_role_user):
    from tests.conftest import _api_client

    assert admin_api.get(url).status_code == 200
    assert helpdesk_api.get(url).status_code == 200
    assert anon_api.get(url).status_code == 401
    assert _api_client(no_role_user).get(url).status_code == 404


def test_help_desk_changes_nothing(helpdesk_api):
    user = factories.DirectoryUserFactory()
    device = factories.DeviceFactory()
    group = factories.GroupFactory(group_type="user")
    assert helpdesk_api.get(f"/api/v1/groups/{group.pk}/members/").status_code == 200
    for method, url, data in [
        ("post", "/api/v1/users/", {"user_principal_name": "x@example.com", "display_name": "X"}),
        ("patch", f"/api/v1/users/{user.pk}/", {"display_name": "Y"}),
        ("post", f"/api/v1/users/{user.pk}/deactivate/", {}),
        ("delete", f"/api/v1/users/{user.pk}/", {}),
        ("post", f"/api/v1/devices/{device.pk}/retire/", {}),
        ("post", "/api/v1/groups/", {"name": "G", "group_type": "user"}),
        ("post", f"/api/v1/groups/{group.pk}/members/", {"users": [user.pk]}),
        ("post", f"/api/v1/groups/{group.pk}/members/remove/", {"users": [user.pk]}),
        ("post", "/api/v1/directory-import/", {"kind": "users"}),
    ]:
        assert getattr(helpdesk_api, method)(url, data).status_code == 403, url
    user.refresh_from_db()
    assert user.is_active and not GroupMembership.objects.exists()


# --- query counts ------------------------------------------------------------------------------------
def _populate(n: int, group_user, group_device):
    for _ in range(n):
        user = factories.DirectoryUserFactory()
        device = factories.DeviceFactory(primary_user=user)
        factories.GroupFactory(group_type="user")
        services.group_add_members(group=group_user, users=[user], actor=None)
        services.group_add_members(group=group_device, devices=[device], actor=None)


@pytest.mark.parametrize("url", [*LISTS, "members-user", "members-device"])
def test_list_endpoint_queries_do_not_grow_with_rows(url, admin_api):
    group_user = factories.GroupFactory(group_type="user")
    group_device = factories.GroupFactory(group_type="device")
    url = {
        "members-user": f"/api/v1/groups/{group_user.pk}/members/",
        "members-device": f"/api/v1/groups/{group_device.pk}/members/",
    }.get(url, url)
    _populate(3, group_user, group_device)
    with CaptureQueriesContext(connection) as few:
        assert admin_api.get(url).status_code == 200
    _populate(27, group_user, group_device)
    with CaptureQueriesContext(connection) as many:
        response = admin_api.get(url)
    assert response.json()["count"] >= 30
    assert len(many) == len(few)
    assert len(many) <= 8
