"""Pages and API of the assignments app: permissions across personas, query-count guards, the API contract."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assignments.models import License, LicenseRun
from tests import factories


def _licenses(n):
    app = factories.AppFactory()
    for device in factories.DeviceFactory.create_batch(n):
        License.objects.create(app=app, license_type="device", device=device, state="assigned")
    for _ in range(n):
        LicenseRun.objects.create(kind="revoke_app", app=app, vpp_token=app.vpp_token)
    return app


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


PAGES = ["/assignments/licenses/", "/assignments/runs/", "/assignments/reconciliation/"]
ENDPOINTS = ["/api/v1/licenses/", "/api/v1/license-runs/"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_m4_pages_permissions(url, admin_web, helpdesk_web, anon_web, no_role_user, client):
    _licenses(2)
    assert admin_web.get(url).status_code == 200
    assert helpdesk_web.get(url).status_code == 200
    response = anon_web.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]
    from django.test import Client

    other = Client()
    other.force_login(no_role_user)
    assert other.get(url).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("url", ENDPOINTS)
def test_m4_api_permissions(url, admin_api, helpdesk_api, anon_api, no_role_user):
    from tests.conftest import _api_client

    assert admin_api.get(url).status_code == 200
    assert helpdesk_api.get(url).status_code == 200
    assert anon_api.get(url).status_code == 401
    assert _api_client(no_role_user).get(url).status_code == 404


@pytest.mark.django_db
def test_m4_help_desk_cannot_change(helpdesk_api, helpdesk_web):
    app = _licenses(1)
    lic = License.objects.first()
    assert helpdesk_api.post(f"/api/v1/licenses/{lic.pk}/revoke/").status_code == 403
    group = factories.GroupFactory()
    body = {"group": group.pk, "intent": "required", "license_type": "device"}
    assert helpdesk_api.post(f"/api/v1/apps/{app.pk}/assignments/", body).status_code == 403
    assert helpdesk_api.post(f"/api/v1/devices/{lic.device_id}/revoke-licenses/").status_code == 403
    assert helpdesk_web.post(f"/assignments/licenses/{lic.pk}/revoke/").status_code == 403
    assert helpdesk_web.post(f"/assignments/apps/{app.pk}/", {"group": group.pk}).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES[:2] + ENDPOINTS)
def test_query_count_does_not_grow_with_rows(url, admin_web, admin_api):
    client = admin_api if url.startswith("/api/") else admin_web
    _licenses(3)
    few = _count(client, url)
    _licenses(27)
    many = _count(client, url)
    assert few == many


@pytest.mark.django_db
def test_app_licenses_endpoint_filter_and_query_count(admin_api):
    app = _licenses(3)
    url = f"/api/v1/apps/{app.pk}/licenses/?state=assigned"
    few = _count(admin_api, url)
    for device in factories.DeviceFactory.create_batch(27):
        License.objects.create(app=app, license_type="device", device=device, state="assigned")
    License.objects.create(app=app, license_type="device", device=factories.DeviceFactory(), state="failed")
    assert _count(admin_api, url) == few
    body = admin_api.get(url).json()
    assert body["count"] == 30
    row = body["results"][0]
    for field in (
        "id",
        "app",
        "state",
        "serial_number",
        "user",
        "error_number",
        "error",
        "license_type",
        "event_id",
    ):
        assert field in row


@pytest.mark.django_db
def test_licenses_csv_export(admin_web):
    _licenses(3)
    response = admin_web.get("/assignments/licenses/?export=csv&state=assigned")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert body.count("\n") == 4


@pytest.mark.django_db
def test_b3_api_create_assignment_returns_preflight(apple, location, make_app, admin_api):
    from tests.assignments.conftest import add_members

    app = make_app(total=2)
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=factories.DeviceFactory.create_batch(3))
    preflight = admin_api.get(
        f"/api/v1/apps/{app.pk}/assignments/preflight/?group={group.pk}&license_type=device"
    ).json()
    assert preflight["licenses_needed"] == 3 and preflight["licenses_available"] == 2
    response = admin_api.post(
        f"/api/v1/apps/{app.pk}/assignments/",
        {"group": group.pk, "intent": "required", "license_type": "device", "prevent_backup": True},
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["licenses_needed"] == 3
    assert data["licenses_available"] == 2
    assert data["oversubscribed"] is True
    assert data["prevent_backup"] is True
    assert LicenseRun.objects.filter(pk=data["license_run"], kind="allocate").exists()
    # The same group twice is refused with a message.
    again = admin_api.post(
        f"/api/v1/apps/{app.pk}/assignments/",
        {"group": group.pk, "intent": "available", "license_type": "device"},
    )
    assert again.status_code == 400 and "already assigned" in str(again.json())


@pytest.mark.django_db
def test_a4_books_only_to_users_with_user_licensing(apple, location, make_app, admin_api):
    book = make_app(total=5, device_assignable=False, product_type="Book")
    devices = factories.GroupFactory(group_type="device")
    response = admin_api.post(
        f"/api/v1/apps/{book.pk}/assignments/",
        {"group": devices.pk, "intent": "required", "license_type": "device"},
    )
    assert response.status_code == 400
    assert "Books" in str(response.json())


@pytest.mark.django_db
def test_b3_assignments_pane_preflight_and_save(apple, location, make_app, admin_web):
    from tests.assignments.conftest import add_members

    app = make_app(total=1)
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=factories.DeviceFactory.create_batch(2))
    page = admin_web.get(f"/assignments/apps/{app.pk}/")
    assert page.status_code == 200 and b"prompt-table" in page.content
    partial = admin_web.get(f"/assignments/apps/{app.pk}/preflight/?group={group.pk}&license_type=device")
    assert b"needs 2 licenses; 1 are available" in partial.content
    saved = admin_web.post(
        f"/assignments/apps/{app.pk}/",
        {"group": group.pk, "intent": "required", "license_type": "device", "removable_by_user": "on"},
        follow=True,
    )
    assert saved.status_code == 200
    assert "Oversubscribed" not in saved.content.decode()  # the warning is in the message
    assert "needs 2 licenses and 1 are available" in saved.content.decode()


@pytest.mark.django_db
def test_s7_device_partial_shows_prompts(admin_web, rf, administrator):
    from django.template.loader import render_to_string

    device = factories.DeviceFactory(ownership="personal", supervised=False)
    request = rf.get("/")
    request.user = administrator
    html = render_to_string(
        "assignments/partials/device_licenses.html", {"device": device, "can_change": True}, request=request
    )
    assert "BYOD - device licensed" in html
    user = factories.DirectoryUserFactory()
    html = render_to_string(
        "assignments/partials/user_licenses.html",
        {"directory_user": user, "can_change": True},
        request=request,
    )
    assert "VPP licenses" in html


def test_s7_prompt_table():
    from assignments.prompts import prompts_for

    class D:
        ownership, supervised, kiosk_mode = "corporate", True, False

    p = prompts_for(D, "user")
    assert (p.number, p.invite, p.install_prompt, p.apple_id_prompt) == (3, True, False, True)
    D.kiosk_mode = True
    assert prompts_for(D, "user").not_recommended
    assert prompts_for(D, "device").number == 7


def test_beat_schedule_names_registered_task():
    from django.conf import settings

    from config.celery_app import app

    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-licenses"]
    assert entry["task"] in app.tasks
