"""Words on the console pages: names not ids, "Any" not "Unknown", stored messages in the reader's language,
country names from CLDR, and a token form that keeps its file across validation errors."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests import factories
from tests.tokens.test_token_pages import _create_post

pytestmark = pytest.mark.django_db


def _failed_license():
    from assignments.allocation import NO_LICENSES
    from assignments.models import Assignment, License

    app = factories.AppFactory(name="Keynote")
    group = factories.GroupFactory(name="iPads")
    assignment = Assignment.objects.create(app=app, group=group, intent="required", license_type="device")
    device = factories.DeviceFactory()
    return License.objects.create(
        app=app,
        assignment=assignment,
        license_type="device",
        device=device,
        state="failed",
        error=NO_LICENSES,
    )


def test_s5_stored_license_error_is_rendered_in_the_readers_language(admin_web):
    license = _failed_license()
    url = reverse("assignments:licenses")
    english = admin_web.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No licenses available" in english
    chinese = admin_web.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "没有可用的许可证" in chinese and "No licenses available" not in chinese
    # The same stored row on the app's Assignments pane.
    pane = admin_web.get(
        reverse("assignments:app-assignments", args=[license.app_id]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert "没有可用的许可证" in pane


def test_license_rows_link_to_their_app_token_and_device(admin_web):
    license = _failed_license()
    page = admin_web.get(reverse("assignments:licenses")).content.decode()
    assert f'href="{reverse("assignments:app-assignments", args=[license.app_id])}"' in page
    assert f'href="{reverse("tokens:detail", args=[license.app.vpp_token_id])}"' in page
    assert f'href="{reverse("directory:device-detail", args=[license.device_id])}"' in page


def test_license_filters_name_things_and_search_the_api(admin_web):
    page = admin_web.get(reverse("assignments:licenses")).content.decode()
    for label in ("App id", "Token id", "User id", "Device id", "Assignment id"):
        assert f"{label} <" not in page
    assert f'data-picker-url="{reverse("app-list")}"' in page
    assert f'data-picker-url="{reverse("directory-user-list")}"' in page
    assert f'data-picker-url="{reverse("directory-device-list")}"' in page
    # The pickers' source is the API's search, answering for the signed-in console session.
    person = factories.DirectoryUserFactory(display_name="Adele Vance")
    factories.DirectoryUserFactory(display_name="Megan Bowen")
    found = admin_web.get(reverse("directory-user-list"), {"search": "adele"}).json()["results"]
    assert [row["id"] for row in found] == [person.pk] and found[0]["display_name"] == "Adele Vance"


def test_yes_no_filters_default_to_any(admin_web):
    page = admin_web.get(reverse("directory:devices")).content.decode()
    assert '<option value="" selected>Any</option>' in page
    assert ">Unknown<" not in page


def test_b3_preflight_explains_that_available_assignments_use_licenses_on_request(admin_web):
    app = factories.AppFactory()
    group = factories.GroupFactory()
    group.memberships.create(device=factories.DeviceFactory())
    url = reverse("assignments:preflight", args=[app.pk])
    available = admin_web.get(url, {"group": group.pk, "license_type": "device", "intent": "available"})
    assert "a license is assigned when a member asks to install it" in available.content.decode()
    required = admin_web.get(url, {"group": group.pk, "license_type": "device", "intent": "required"})
    assert "a license is assigned when a member asks" not in required.content.decode()


def test_token_form_names_countries_in_the_readers_language(admin_web):
    english = admin_web.get(reverse("tokens:create"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<option value="US">United States (US)</option>' in english
    chinese = admin_web.get(reverse("tokens:create"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<option value="US">美国 (US)</option>' in chinese


def _kept_key(page: str) -> str:
    match = re.search(r'<input type="hidden" name="kept_file" value="([^"]+)">', page)
    assert match, "the page keeps no file"
    return match.group(1)


def test_t2_token_form_keeps_its_file_across_errors_and_never_shows_it(apple, admin_web):
    from django.contrib.sessions.models import Session

    from tokens.models import VPPToken

    content = apple.mint_token(org_name="Acme", location_name="HQ")
    first = admin_web.post(reverse("tokens:create"), _create_post(content, name=""))
    page = first.content.decode()
    assert first.status_code == 200 and "This field is required." in page
    assert 'data-testid="kept-file"' in page and "File kept: acme.vpptoken" in page
    assert content not in page  # the secret is never sent back
    # Kept encrypted at rest: the session row holds no readable token.
    assert all(
        content not in row.session_data and content not in str(row.get_decoded())
        for row in Session.objects.all()
    )

    # Submitting again without choosing the file uses the kept one.
    second = admin_web.post(
        reverse("tokens:create"), _create_post("", token_file=None, kept_file=_kept_key(page))
    )
    token = VPPToken.objects.get()
    assert second.status_code == 302 and second["Location"] == reverse("tokens:detail", args=[token.pk])
    assert token.name == "Acme HQ" and token.location_name == "HQ"
    # Used once: the file is forgotten after the success.
    again = admin_web.post(
        reverse("tokens:create"), _create_post("", token_file=None, kept_file=_kept_key(page), name="Other")
    )
    assert "File kept" not in again.content.decode() and "This field is required." in again.content.decode()


def test_t2_a_kept_file_belongs_to_its_session_and_form(apple, admin_web, administrator):
    from django.test import Client

    content = apple.mint_token(org_name="Acme", location_name="HQ")
    page = admin_web.post(reverse("tokens:create"), _create_post(content, name="")).content.decode()
    key = _kept_key(page)
    # Another session (the same administrator signed in elsewhere) cannot use the key.
    elsewhere = Client()
    elsewhere.force_login(administrator)
    other = elsewhere.post(
        reverse("tokens:create"), _create_post("", token_file=None, kept_file=key)
    ).content.decode()
    assert "This field is required." in other and "File kept" not in other
    # A wrong key in the same session is no kept file either.
    wrong = admin_web.post(
        reverse("tokens:create"), _create_post("", token_file=None, kept_file="not-the-key")
    ).content.decode()
    assert "This field is required." in wrong


def test_csv_import_preview_shows_names_not_internal_ids_or_none(admin_web):
    person = factories.DirectoryUserFactory(user_principal_name="adele@contoso.example")
    group = factories.GroupFactory(name="Sales iPads", group_type="device")
    factories.DeviceFactory(serial_number="SNEXISTING")
    devices = (
        "serial_number,name,supervised,primary_user\n"
        "SNNEW0001,Front desk iPad,yes,adele@contoso.example\n"
        "SNNEW0002,,,\n"
    )
    page = admin_web.post(
        reverse("directory:import"),
        {"kind": "devices", "file": SimpleUploadedFile("devices.csv", devices.encode())},
    ).content.decode()
    assert "primary_user: adele@contoso.example" in page and "supervised: Yes" in page
    assert f"primary_user={person.pk}" not in page and f"primary_user: {person.pk}<" not in page
    assert "None" not in page
    members = "group,user_principal_name,serial_number\nSales iPads,,SNEXISTING\n"
    page = admin_web.post(
        reverse("directory:import"),
        {"kind": "memberships", "file": SimpleUploadedFile("members.csv", members.encode())},
    ).content.decode()
    assert "group: Sales iPads" in page and "device: SNEXISTING" in page
    assert f"group: {group.pk}" not in page and "None" not in page


def test_audit_log_shows_the_fields_that_changed_before_and_after(admin_web, administrator):
    from console import audit

    token = factories.VPPTokenFactory(name="Contoso HQ")
    audit.record(
        actor=administrator,
        action="token.update",
        obj=token,
        before={"name": "Contoso", "automatic_app_updates": False, "country_or_region": "US"},
        after={"name": "Contoso HQ", "automatic_app_updates": True, "country_or_region": "US"},
    )
    page = admin_web.get(reverse("audit-log")).content.decode()
    assert "name:</span> Contoso → Contoso HQ" in page
    assert "automatic app updates:</span> No → Yes" in page
    assert "country or region:" not in page  # unchanged fields are left out
    assert "{&#x27;" not in page and "{'" not in page  # no Python dicts
    body = b"".join(admin_web.get(reverse("audit-log"), {"export": "csv"}).streaming_content).decode()
    assert '""name"": ""Contoso""' in body and "{'name'" not in body


def test_audit_log_names_object_types_in_the_readers_language(admin_web, administrator):
    from console import audit

    audit.record(actor=administrator, action="token.update", obj=factories.VPPTokenFactory(name="Contoso HQ"))
    english = admin_web.get(reverse("audit-log"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<td data-label="Object type">VPP token</td>' in english
    assert "tokens.vpptoken" not in english.split("<tbody>")[1]
    chinese = admin_web.get(reverse("audit-log"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "VPP 令牌" in chinese.split("<tbody>")[1]
