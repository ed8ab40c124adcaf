"""Directory pages: personas, lists with filters and CSV export, forms, members, CSV import, queries."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.models import AuditEntry
from directory import services
from directory.models import Device, DirectoryUser, Group, GroupMembership
from tests import factories

pytestmark = pytest.mark.django_db

LIST_PAGES = ["directory:users", "directory:devices", "directory:groups"]


def _detail_urls():
    user = factories.DirectoryUserFactory()
    device = factories.DeviceFactory(primary_user=user)
    group = factories.GroupFactory(group_type="device")
    services.group_add_members(group=group, devices=[device], actor=None)
    return [
        reverse("directory:user-detail", args=[user.pk]),
        reverse("directory:device-detail", args=[device.pk]),
        reverse("directory:group-detail", args=[group.pk]),
    ], [
        reverse("directory:user-create"),
        reverse("directory:user-edit", args=[user.pk]),
        reverse("directory:user-deactivate", args=[user.pk]),
        reverse("directory:device-create"),
        reverse("directory:device-edit", args=[device.pk]),
        reverse("directory:device-retire", args=[device.pk]),
        reverse("directory:group-create"),
        reverse("directory:group-edit", args=[group.pk]),
        reverse("directory:group-delete", args=[group.pk]),
        reverse("directory:group-add-members", args=[group.pk]),
        reverse("directory:import"),
    ]


def test_pages_by_persona(admin_web, helpdesk_web, anon_web, no_role_user):
    from django.test import Client

    reads, writes = _detail_urls()
    client = Client()
    client.force_login(no_role_user)
    for url in [reverse(name) for name in LIST_PAGES] + reads:
        assert admin_web.get(url).status_code == 200, url
        assert helpdesk_web.get(url).status_code == 200, url
        response = anon_web.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
        assert client.get(url).status_code == 404, url
    for url in writes:
        assert admin_web.get(url).status_code == 200, url
        assert helpdesk_web.get(url).status_code == 403, url
        assert helpdesk_web.post(url, {}).status_code == 403, url
        assert anon_web.get(url).status_code == 302, url
        assert client.get(url).status_code == 404, url


def test_navigation_shows_the_directory_pages(admin_web):
    page = admin_web.get(reverse("home")).content.decode()
    for name in LIST_PAGES:
        assert f'href="{reverse(name)}"' in page


def test_admin_only_actions_are_hidden_from_help_desk(admin_web, helpdesk_web):
    user = factories.DirectoryUserFactory()
    url = reverse("directory:user-detail", args=[user.pk])
    assert 'data-testid="deactivate"' in admin_web.get(url).content.decode()
    assert 'data-testid="deactivate"' not in helpdesk_web.get(url).content.decode()
    assert 'data-testid="new-user"' in admin_web.get(reverse("directory:users")).content.decode()
    assert 'data-testid="new-user"' not in helpdesk_web.get(reverse("directory:users")).content.decode()


def test_users_list_search_filters_and_csv_export(helpdesk_web):
    factories.DirectoryUserFactory(display_name="Ada Apple", managed_apple_id="ada@apple.example")
    factories.DirectoryUserFactory(display_name="Bea NoID", managed_apple_id="")
    factories.DirectoryUserFactory(display_name="Cal Gone", is_active=False)
    page = helpdesk_web.get(reverse("directory:users"), {"has_apple_id": "false"}).content.decode()
    assert "Bea NoID" in page and "Ada Apple" not in page
    page = helpdesk_web.get(reverse("directory:users"), {"is_active": "false"}).content.decode()
    assert "Cal Gone" in page and "Ada Apple" not in page
    page = helpdesk_web.get(reverse("directory:users"), {"search": "ada@apple"}).content.decode()
    assert "Ada Apple" in page and "Bea NoID" not in page
    response = helpdesk_web.get(reverse("directory:users"), {"export": "csv", "has_apple_id": "true"})
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("Display name,User principal name,Email,Apple ID")
    assert "Ada Apple" in body and "Bea NoID" not in body


def test_devices_list_filters(helpdesk_web):
    factories.DeviceFactory(name="Kiosk One", kiosk_mode=True)
    factories.DeviceFactory(name="Phone", ownership="personal", platform="iOS")
    page = helpdesk_web.get(reverse("directory:devices"), {"kiosk_mode": "true"}).content.decode()
    assert "Kiosk One" in page and "Phone" not in page
    page = helpdesk_web.get(reverse("directory:devices"), {"ownership": "personal"}).content.decode()
    assert "Phone" in page and "Kiosk One" not in page


def test_create_user_page_shows_service_errors_on_the_field(admin_web):
    factories.DirectoryUserFactory(user_principal_name="taken@example.com")
    response = admin_web.post(
        reverse("directory:user-create"), {"user_principal_name": "taken@example.com", "display_name": "T"}
    )
    assert response.status_code == 200
    assert (
        "A user with the user principal name “taken@example.com” already exists." in response.content.decode()
    )
    response = admin_web.post(
        reverse("directory:user-create"), {"user_principal_name": "new@example.com", "display_name": "New"}
    )
    user = DirectoryUser.objects.get(user_principal_name="new@example.com")
    assert response["Location"] == reverse("directory:user-detail", args=[user.pk])


def test_edit_user_page_audits_before_and_after(admin_web):
    user = factories.DirectoryUserFactory(display_name="Old name")
    data = {
        "user_principal_name": user.user_principal_name, "display_name": "New name", "email": user.email,
        "managed_apple_id": user.managed_apple_id,
    }  # fmt: skip
    response = admin_web.post(reverse("directory:user-edit", args=[user.pk]), data)
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="directory.user.update")
    assert (entry.before, entry.after) == ({"display_name": "Old name"}, {"display_name": "New name"})


def test_deactivate_page_confirms_then_deactivates(admin_web):
    user = factories.DirectoryUserFactory()
    url = reverse("directory:user-deactivate", args=[user.pk])
    assert "lose their user licenses" in admin_web.get(url).content.decode()
    admin_web.post(url)
    user.refresh_from_db()
    assert not user.is_active


def test_device_pages_create_and_retire(admin_web):
    owner = factories.DirectoryUserFactory()
    response = admin_web.post(
        reverse("directory:device-create"),
        {"serial_number": "c02new", "name": "New iPad", "platform": "iPadOS", "ownership": "corporate",
         "primary_user": owner.pk, "supervised": "on", "app_store_allowed": ""},
    )  # fmt: skip
    device = Device.objects.get(serial_number="C02NEW")
    assert response["Location"] == reverse("directory:device-detail", args=[device.pk])
    assert device.supervised and not device.app_store_allowed and device.primary_user == owner
    page = admin_web.get(reverse("directory:device-detail", args=[device.pk])).content.decode()
    assert "The App Store is blocked on this device" in page
    admin_web.post(reverse("directory:device-retire", args=[device.pk]))
    device.refresh_from_db()
    assert not device.is_active


def test_s6_group_page_shows_members_in_join_order_and_adds_and_removes(admin_web):
    group = factories.GroupFactory(group_type="user", name="Teachers")
    zed = factories.DirectoryUserFactory(display_name="Zed", user_principal_name="zed@example.com")
    amy = factories.DirectoryUserFactory(display_name="Amy", user_principal_name="amy@example.com")
    url = reverse("directory:group-detail", args=[group.pk])
    response = admin_web.post(
        reverse("directory:group-add-members", args=[group.pk]),
        {"members": "ZED@example.com\namy@example.com"},
    )
    assert response["Location"] == url
    page = admin_web.get(url).content.decode()
    assert page.index("zed@example.com") < page.index("amy@example.com")  # join order, not alphabetical
    unknown = admin_web.post(
        reverse("directory:group-add-members", args=[group.pk]), {"members": "ghost@example.com"}
    )
    assert "No user with the UPN: ghost@example.com." in unknown.content.decode()
    zed_membership = GroupMembership.objects.get(user=zed)
    admin_web.post(
        reverse("directory:group-remove-members", args=[group.pk]), {"membership": [zed_membership.pk]}
    )
    assert [m.user for m in GroupMembership.objects.filter(group=group)] == [amy]


def test_group_pages_create_and_delete(admin_web):
    admin_web.post(reverse("directory:group-create"), {"name": "Lab", "group_type": "device"})
    group = Group.objects.get(name="Lab")
    response = admin_web.post(reverse("directory:group-delete", args=[group.pk]))
    assert response["Location"] == reverse("directory:groups")
    assert not Group.objects.exists()


def test_import_page_preview_then_confirm(admin_web):
    content = b"user_principal_name,display_name\na@example.com,A\n"
    upload = SimpleUploadedFile("users.csv", content, content_type="text/csv")
    page = admin_web.post(reverse("directory:import"), {"kind": "users", "file": upload}).content.decode()
    assert 'data-testid="confirm-import"' in page
    assert not DirectoryUser.objects.exists()
    response = admin_web.post(reverse("directory:import"), {"confirm": "1"})
    assert response["Location"] == reverse("directory:users")
    assert DirectoryUser.objects.get().user_principal_name == "a@example.com"


def test_import_page_rejects_a_file_with_a_bad_row(admin_web):
    content = b"user_principal_name,display_name\na@example.com,A\nb@example.com,\n"
    upload = SimpleUploadedFile("users.csv", content, content_type="text/csv")
    page = admin_web.post(reverse("directory:import"), {"kind": "users", "file": upload}).content.decode()
    assert "Nothing will be imported" in page
    assert "display_name is needed for a new user." in page
    assert 'data-testid="confirm-import"' not in page
    admin_web.post(reverse("directory:import"), {"confirm": "1"})
    assert not DirectoryUser.objects.exists()


def test_license_include_point_renders_nothing_without_the_partial(admin_web, settings, tmp_path):
    user = factories.DirectoryUserFactory()
    url = reverse("directory:user-detail", args=[user.pk])
    assert admin_web.get(url).status_code == 200
    partial = tmp_path / "assignments" / "partials"
    partial.mkdir(parents=True)
    (partial / "user_licenses.html").write_text("LICENSES OF {{ directory_user.user_principal_name }}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    assert f"LICENSES OF {user.user_principal_name}" in admin_web.get(url).content.decode()


# --- query counts --------------------------------------------------------------------------------------
def _populate(n: int, user_group, device_group):
    for _ in range(n):
        user = factories.DirectoryUserFactory()
        device = factories.DeviceFactory(primary_user=user)
        factories.GroupFactory(group_type="user")
        services.group_add_members(group=user_group, users=[user], actor=None)
        services.group_add_members(group=device_group, devices=[device], actor=None)


@pytest.mark.parametrize("page", [*LIST_PAGES, "user-group", "device-group"])
def test_list_page_queries_do_not_grow_with_rows(page, admin_web):
    user_group = factories.GroupFactory(group_type="user")
    device_group = factories.GroupFactory(group_type="device")
    url = {
        "user-group": reverse("directory:group-detail", args=[user_group.pk]),
        "device-group": reverse("directory:group-detail", args=[device_group.pk]),
    }.get(page) or reverse(page)
    _populate(3, user_group, device_group)
    with CaptureQueriesContext(connection) as few:
        assert admin_web.get(url).status_code == 200
    _populate(27, user_group, device_group)
    with CaptureQueriesContext(connection) as many:
        assert admin_web.get(url).status_code == 200
    assert len(many) == len(few)
    assert len(many) <= 15
