"""D5, M2, M4: the install status of an app per device and per user, in the API and on the panes."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from assignments.models import License
from deployment.models import DeviceAppState
from tests import factories

pytestmark = pytest.mark.django_db


def _fleet(n_users: int = 3, prefix: str = ""):
    """An app on 2 devices per user (installed + one other state) and one device without a user."""
    app = factories.AppFactory(name="Keynote", bundle_id="com.apple.Keynote")
    states = ["failed", "pending_install", "installed"]
    for i in range(n_users):
        user = factories.DirectoryUserFactory(
            user_principal_name=f"{prefix}user{i}@example.com", display_name=f"User {i}"
        )
        first = factories.DeviceFactory(name=f"iPad A{i}", primary_user=user, udid=f"{prefix}UDID-A{i}")
        second = factories.DeviceFactory(name=f"iPad B{i}", primary_user=user, udid=f"{prefix}UDID-B{i}")
        DeviceAppState.objects.create(device=first, app=app, state="installed")
        DeviceAppState.objects.create(
            device=second,
            app=app,
            state=states[i % 3],
            error_code=12064 if states[i % 3] == "failed" else None,
            error_domain="MCMDMErrorDomain" if states[i % 3] == "failed" else "",
            error="The app could not be installed." if states[i % 3] == "failed" else "",
        )
    lone = factories.DeviceFactory(name="Shared iPad", udid=f"{prefix}UDID-LONE")
    DeviceAppState.objects.create(
        device=lone, app=app, state="failed", error_domain="license", error="No licenses available"
    )
    return app


def test_d5_device_statuses_rows_filters_and_search(admin_api):
    app = _fleet()
    body = admin_api.get(f"/api/v1/apps/{app.pk}/device-statuses/").json()
    assert body["count"] == 7
    row = next(r for r in body["results"] if r["device_name"] == "iPad B0")
    assert row == {
        "device": row["device"],
        "serial_number": row["serial_number"],
        "udid": "UDID-B0",
        "device_name": "iPad B0",
        "user": "user0@example.com",
        "install_state": "failed",
        "error_code": 12064,
        "error_domain": "MCMDMErrorDomain",
        "error": "The app could not be installed. (MCMDMErrorDomain error 12064)",
        "last_reported_at": None,
    }
    lone = next(r for r in body["results"] if r["device_name"] == "Shared iPad")
    assert lone["user"] is None and lone["error"] == "No license: No licenses available"
    failed = admin_api.get(f"/api/v1/apps/{app.pk}/device-statuses/?install_state=failed").json()
    assert sorted(r["device_name"] for r in failed["results"]) == ["Shared iPad", "iPad B0"]
    by_user = admin_api.get(f"/api/v1/apps/{app.pk}/device-statuses/?search=user1@").json()
    assert sorted(r["device_name"] for r in by_user["results"]) == ["iPad A1", "iPad B1"]
    by_udid = admin_api.get(f"/api/v1/apps/{app.pk}/device-statuses/?search=udid-lone").json()
    assert [r["device_name"] for r in by_udid["results"]] == ["Shared iPad"]
    bad = admin_api.get(f"/api/v1/apps/{app.pk}/device-statuses/?install_state=broken")
    assert bad.status_code == 400


def test_d5_user_statuses_take_the_worst_device_state(admin_api):
    app = _fleet()
    body = admin_api.get(f"/api/v1/apps/{app.pk}/user-statuses/").json()
    rows = {r["user_principal_name"]: r for r in body["results"]}
    assert body["count"] == 3
    assert rows["user0@example.com"] | {"user": 0} == {
        "user": 0,
        "user_principal_name": "user0@example.com",
        "display_name": "User 0",
        "devices_installed": 1,
        "devices_failed": 1,
        "devices_pending": 0,
        "install_state": "failed",
    }
    assert rows["user1@example.com"]["install_state"] == "pending_install"
    assert rows["user2@example.com"]["install_state"] == "installed"
    assert rows["user2@example.com"]["devices_installed"] == 2
    pending = admin_api.get(f"/api/v1/apps/{app.pk}/user-statuses/?install_state=pending_install").json()
    assert [r["user_principal_name"] for r in pending["results"]] == ["user1@example.com"]


def test_d5_install_summary_counts_devices_and_users(admin_api):
    app = _fleet()
    body = admin_api.get(f"/api/v1/apps/{app.pk}/install-summary/").json()
    assert body == {
        "installed": 4,
        "failed": 2,
        "pending_install": 1,
        "not_installed": 0,
        "uninstall_pending": 0,
        "uninstall_failed": 0,
        "not_applicable": 0,
        "users": {
            "installed": 1,
            "failed": 1,
            "pending_install": 1,
            "not_installed": 0,
            "uninstall_pending": 0,
            "uninstall_failed": 0,
            "not_applicable": 0,
        },
    }


def test_m4_status_endpoints_permissions(admin_api, helpdesk_api, anon_api, no_role_user):
    from tests.conftest import _api_client

    app = _fleet(1)
    for suffix in ("device-statuses", "user-statuses", "install-summary"):
        url = f"/api/v1/apps/{app.pk}/{suffix}/"
        assert helpdesk_api.get(url).status_code == 200
        assert anon_api.get(url).status_code == 401
        assert _api_client(no_role_user).get(url).status_code == 404
        assert admin_api.get(f"/api/v1/apps/999999/{suffix}/").status_code == 404
        assert helpdesk_api.post(url, {}).status_code in (403, 405)


@pytest.mark.parametrize("suffix", ["device-statuses", "user-statuses", "install-summary"])
def test_status_endpoints_query_count_does_not_grow(admin_api, suffix):
    small = _fleet(2)
    big = _fleet(20, prefix="big-")

    def count(app):
        with CaptureQueriesContext(connection) as ctx:
            assert admin_api.get(f"/api/v1/apps/{app.pk}/{suffix}/").status_code == 200
        return len(ctx.captured_queries)

    assert count(big) == count(small) <= 8


@pytest.mark.parametrize("pane", ["devices", "users"])
def test_status_panes_query_count_does_not_grow(admin_web, pane):
    small = _fleet(2)
    big = _fleet(20, prefix="big-")

    def count(app):
        with CaptureQueriesContext(connection) as ctx:
            assert admin_web.get(f"/deployment/apps/{app.pk}/{pane}/").status_code == 200
        return len(ctx.captured_queries)

    assert count(big) == count(small) <= 12


def test_m2_device_pane_shows_states_errors_in_words_and_links(helpdesk_web, settings):
    settings.NANOMDM_URL = "http://127.0.0.1:9"
    app = _fleet(1)
    page = helpdesk_web.get(f"/deployment/apps/{app.pk}/devices/?install_state=failed").content.decode()
    assert "Device install status" in page and "Shared iPad" in page and "iPad A0" not in page
    assert "No license: No licenses available" in page
    device = app.device_states.get(device__name="Shared iPad").device
    assert f'href="/directory/devices/{device.pk}/"' in page
    assert 'data-testid="mdm-not-configured"' not in page
    assert "S6" not in page and "license_domain" not in page


def test_m2_panes_say_when_no_mdm_server_is_connected(admin_web, settings):
    settings.NANOMDM_URL = ""
    app = _fleet(1)
    for pane in ("devices", "users"):
        page = admin_web.get(f"/deployment/apps/{app.pk}/{pane}/").content.decode()
        assert 'data-testid="mdm-not-configured"' in page
        assert "manages licenses only" in page


def test_m2_user_pane_and_csv_export(helpdesk_web):
    app = _fleet(2)
    page = helpdesk_web.get(f"/deployment/apps/{app.pk}/users/").content.decode()
    assert "User install status" in page and "user0@example.com" in page
    response = helpdesk_web.get(f"/deployment/apps/{app.pk}/users/?export=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "User",
        "User principal name",
        "Install state",
        "Devices installed",
        "Devices failed",
        "Devices pending",
    ]
    assert ["User 0", "user0@example.com", "Failed", "1", "1", "0"] in rows
    response = helpdesk_web.get(f"/deployment/apps/{app.pk}/devices/?export=csv&install_state=failed")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["Device", "Serial number", "UDID", "User", "Install state"]
    assert len(rows) == 1 + 2
    assert any(r[5] == "The app could not be installed. (MCMDMErrorDomain error 12064)" for r in rows[1:])


def test_m4_panes_permissions(admin_web, helpdesk_web, anon_web, no_role_user):
    app = _fleet(1)
    url = f"/deployment/apps/{app.pk}/devices/"
    assert admin_web.get(url).status_code == 200
    assert helpdesk_web.get(url).status_code == 200
    assert anon_web.get(url).status_code == 302
    other = Client()
    other.force_login(no_role_user)
    assert other.get(url).status_code == 404
    assert admin_web.get("/deployment/apps/999999/devices/").status_code == 404


def test_d5_device_page_lists_every_app_reaching_it(helpdesk_web, settings):
    settings.NANOMDM_URL = "http://127.0.0.1:9"
    app = _fleet(1)
    device = app.device_states.get(device__name="iPad B0").device
    License.objects.create(app=app, license_type="device", device=device, state="assigned")
    other = factories.AppFactory(name="Numbers")
    License.objects.create(app=other, license_type="device", device=device, state="failed", error="x")
    page = helpdesk_web.get(f"/directory/devices/{device.pk}/").content.decode()
    section = page[page.index('data-testid="device-apps"') :]
    assert "Keynote" in section and "Numbers" in section
    assert "The app could not be installed. (MCMDMErrorDomain error 12064)" in section
    assert "UDID-B0" in page
