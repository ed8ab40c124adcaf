"""T9 / B2: licenses Apple holds for targets the console does not know are License rows, state untracked."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from applesync.sync import run_sync
from assignments import services
from assignments.models import License, LicenseRun
from assignments.services import execute
from tests import factories
from tests.assignments.conftest import add_members, settle
from tokens.models import SyncRun
from tokens.sync import request_sync


def _sync(token, full=False):
    run, _created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, full=full)
    run = run_sync(run_id=run.pk)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    return run


def _at_apple(apple, uid, adam_id):
    return [a for a in apple.location(uid, include_assignments=True)["assignments"] if a["adamId"] == adam_id]


def _strangers(apple, token, app, serials, client_user_ids=()):
    """Another product assigns licenses of `app` to devices and users this console does not know."""
    from tokens.apple import client_for
    from vpp.types import AssetRef, RequestUser

    client = client_for(token)
    if client_user_ids:
        client.create_users([RequestUser(cid) for cid in client_user_ids])
        apple.wait_idle()
    client.associate_assets(
        [AssetRef(app.adam_id)], serial_numbers=list(serials), client_user_ids=list(client_user_ids)
    )
    apple.wait_idle()


def _count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_t9_untracked_licenses_are_listed_on_pages_api_and_csv_after_sync(
    apple, location, make_app, administrator, admin_web, admin_api
):
    token, uid = location
    app = make_app(total=10, name="GarageBand")
    group = factories.GroupFactory(group_type="device")
    ours = factories.DeviceFactory()
    add_members(group, devices=[ours])
    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    settle(apple, execute(LicenseRun.objects.get(assignment=assignment)))
    _strangers(apple, token, app, ["STRANGER-1", "STRANGER-2"], ["other-product-user"])
    assert len(_at_apple(apple, uid, app.adam_id)) == 4

    _sync(token)
    app.refresh_from_db()
    assert app.used_licenses == 4
    untracked = License.objects.filter(app=app, state="untracked")
    assert sorted(untracked.values_list("apple_serial_number", "apple_client_user_id")) == [
        ("", "other-product-user"),
        ("STRANGER-1", ""),
        ("STRANGER-2", ""),
    ]
    # Every license Apple counts is now a row: one ours, three untracked.
    assert License.objects.filter(app=app, state__in=["assigned", "untracked"]).count() == app.used_licenses

    # The app page lists them with the target Apple reports.
    page = admin_web.get(f"/assignments/apps/{app.pk}/").content.decode()
    assert "STRANGER-1" in page and "other-product-user" in page
    assert "Untracked 3" in " ".join(page.split())

    # Monitor › Licenses, filtered by the new state, with the app's name; and its CSV export.
    page = admin_web.get("/assignments/licenses/?state=untracked").content.decode()
    assert "GarageBand" in page and "STRANGER-2" in page and ours.serial_number not in page
    response = admin_web.get("/assignments/licenses/?state=untracked&export=csv")
    body = b"".join(response.streaming_content).decode()
    lines = body.strip().splitlines()
    assert len(lines) == 4
    assert all("GarageBand" in line and "untracked" in line.lower() for line in lines[1:])
    assert any("STRANGER-1" in line for line in lines) and any("other-product-user" in line for line in lines)

    # The API: the same rows, the serial number or client user id Apple reports.
    body = admin_api.get("/api/v1/licenses/?state=untracked").json()
    assert body["count"] == 3
    rows = sorted((r["serial_number"] or "", r["client_user_id"] or "") for r in body["results"])
    assert rows == [("", "other-product-user"), ("STRANGER-1", ""), ("STRANGER-2", "")]
    assert {r["state"] for r in body["results"]} == {"untracked"}
    assert {r["app"] for r in body["results"]} == {app.pk}
    assert "untracked_target" not in body["results"][0]
    per_app = admin_api.get(f"/api/v1/apps/{app.pk}/licenses/?state=untracked").json()
    assert per_app["count"] == 3
    bad = admin_api.get("/api/v1/licenses/?state=nonsense")
    assert bad.status_code == 400

    # A second sync changes nothing (no duplicates).
    _sync(token)
    assert License.objects.filter(app=app, state="untracked").count() == 3

    # Query counts do not grow with untracked rows.
    few = _count_queries(admin_api, "/api/v1/licenses/?state=untracked")
    few_page = _count_queries(admin_web, "/assignments/licenses/?state=untracked")
    _strangers(apple, token, app, [f"STRANGER-{n}" for n in range(3, 9)])
    _sync(token)
    assert License.objects.filter(app=app, state="untracked").count() == 9
    assert _count_queries(admin_api, "/api/v1/licenses/?state=untracked") == few
    assert _count_queries(admin_web, "/assignments/licenses/?state=untracked") == few_page


@pytest.mark.django_db
def test_t9_untracked_rows_follow_apple_on_reconciliation(apple, location, make_app, administrator):
    token, _uid = location
    app = make_app(total=10)
    _strangers(apple, token, app, ["GONE-1", "KNOWN-1", "STAYS-1"])
    _sync(token)
    assert License.objects.filter(app=app, state="untracked").count() == 3

    from tokens.apple import client_for
    from vpp.types import AssetRef

    # At Apple one goes away; here a device with another's serial number joins the directory.
    client_for(token).disassociate_assets([AssetRef(app.adam_id)], serial_numbers=["GONE-1"])
    apple.wait_idle()
    factories.DeviceFactory(serial_number="KNOWN-1")
    check = services.token_reconcile(token=token, actor=None)
    execute(check)
    check.refresh_from_db()
    assert check.status == "completed", check.error
    left = License.objects.filter(app=app, state="untracked")
    assert list(left.values_list("apple_serial_number", flat=True)) == ["STAYS-1"]
    # The same holds after a full sync (which refreshes the mirror of Apple's assignments).
    factories.DeviceFactory(serial_number="STAYS-1")
    _sync(token, full=True)
    assert not License.objects.filter(app=app, state="untracked").exists()


@pytest.mark.django_db
def test_b2_revoke_untracked_releases_the_untracked_rows(apple, location, make_app, admin_api):
    token, uid = location
    app = make_app(total=10)
    _strangers(apple, token, app, ["STRANGER-1"], ["other-product-user"])
    _sync(token)
    app.refresh_from_db()
    assert app.used_licenses == 2
    rows = list(License.objects.filter(app=app, state="untracked"))
    assert len(rows) == 2

    response = admin_api.post(f"/api/v1/vpp-tokens/{token.pk}/reclaim-untracked/")
    assert response.status_code == 202
    run = LicenseRun.objects.get(kind="reclaim_untracked")
    execute(run)
    settle(apple, run)
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert (run.total, run.succeeded, run.failed) == (2, 2, 0)
    assert _at_apple(apple, uid, app.adam_id) == []
    assert sorted(License.objects.filter(app=app).values_list("state", flat=True)) == ["revoked", "revoked"]
    app.refresh_from_db()
    assert app.used_licenses == 0 and app.available_licenses == 10
    # Revoked rows stay as history; nothing is untracked any more after the next sync.
    _sync(token)
    assert not License.objects.filter(app=app, state="untracked").exists()
