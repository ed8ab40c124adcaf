"""Monitor › Alerts and `GET /api/v1/alerts/`: rows, filters, CSV, acknowledge (administrators only; the help
desk reads and exports), constant query counts; the dashboard's tiles, links, health and charts."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.models import App
from assignments.models import License
from console.models import AuditEntry
from deployment.models import DeviceAppState, InstallState
from monitoring import services
from monitoring.models import Alert, UsageSnapshot
from tests import factories
from tokens.models import SyncRun, VPPToken

pytestmark = pytest.mark.django_db


def _alerts(n: int) -> list[Alert]:
    """n expiring tokens and n apps at 90 %: 2n open alerts; one more app resolved."""
    for i in range(n):
        factories.VPPTokenFactory(name=f"Expiring {i}", expires_at=timezone.now() + timedelta(days=5 + i))
        factories.AppFactory(name=f"Busy {i}", total_licenses=10, used_licenses=9)
    gone = factories.AppFactory(name="Was busy", total_licenses=10, used_licenses=10)
    services.alerts_evaluate()
    App.objects.filter(pk=gone.pk).update(total_licenses=100)
    services.alerts_evaluate()
    return list(Alert.objects.all())


def _count_queries(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = call()
        assert response.status_code == 200
    return len(queries)


def test_b5_api_lists_alerts_with_their_fields_and_filters(admin_api):
    _alerts(2)
    body = admin_api.get("/api/v1/alerts/").json()
    assert body["count"] == 5
    row = next(r for r in body["results"] if r["object_name"] == "Expiring 0")
    assert set(row) >= {
        "id",
        "kind",
        "object_type",
        "object_id",
        "object_name",
        "state",
        "opened_at",
        "resolved_at",
        "message",
    }
    token = VPPToken.objects.get(name="Expiring 0")
    assert (row["kind"], row["object_type"], row["object_id"], row["state"]) == (
        "token_expiring",
        "vpp_token",
        token.pk,
        "open",
    )
    assert row["message"].startswith("The VPP token “Expiring 0” expires within 7 days")
    assert row["resolved_at"] is None
    resolved = admin_api.get("/api/v1/alerts/?state=resolved").json()["results"]
    assert [(r["kind"], r["object_name"].split(" · ")[0]) for r in resolved] == [
        ("licenses_exhausted", "Was busy")
    ]
    assert resolved[0]["resolved_at"] is not None
    low = admin_api.get("/api/v1/alerts/?kind=licenses_low&state=open").json()["results"]
    assert sorted(r["object_name"].split(" · ")[0] for r in low) == ["Busy 0", "Busy 1"]
    assert admin_api.get("/api/v1/alerts/?kind=nonsense").status_code == 400


def test_b5_api_message_is_in_the_readers_language(admin_api):
    _alerts(1)
    rows = admin_api.get("/api/v1/alerts/?kind=token_expiring", HTTP_ACCEPT_LANGUAGE="zh-hans").json()[
        "results"
    ]
    assert rows[0]["message"].startswith("VPP 令牌“Expiring 0”将在 7 天内过期")


def test_b5_help_desk_reads_and_exports_alerts_but_cannot_acknowledge(helpdesk_api, helpdesk_web):
    alert = _alerts(1)[0]
    assert helpdesk_api.get("/api/v1/alerts/").json()["count"] == 3
    assert helpdesk_api.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 403
    page = helpdesk_web.get("/monitor/alerts/")
    assert page.status_code == 200 and "Expiring 0" in page.content.decode()
    assert 'data-testid="acknowledge"' not in page.content.decode()
    export = helpdesk_web.get("/monitor/alerts/?export=csv")
    assert export.status_code == 200
    assert helpdesk_web.post(f"/monitor/alerts/{alert.pk}/acknowledge/").status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert not AuditEntry.objects.filter(action="alert.acknowledge").exists()


def test_b5_administrator_acknowledges_and_the_alert_leaves_the_banner(admin_api, admin_web, administrator):
    _alerts(1)
    alert = Alert.objects.get(kind="token_expiring")
    before = admin_web.get("/apps/").content.decode()
    assert "The VPP token “Expiring 0” expires within 7 days" in before
    response = admin_api.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert response.status_code == 200 and response.json()["acknowledged_by"] == administrator.username
    assert AuditEntry.objects.filter(action="alert.acknowledge", object_id=str(alert.pk)).count() == 1
    after = admin_web.get("/apps/").content.decode()
    assert "The VPP token “Expiring 0” expires within 7 days" not in after
    assert "“Busy 0 · " in after  # the others stay
    # From the page too; a second acknowledgement keeps the first.
    other = Alert.objects.filter(kind="licenses_low").first()
    page = admin_web.post(f"/monitor/alerts/{other.pk}/acknowledge/", {"next": "/monitor/alerts/"})
    assert page.status_code == 302 and page["Location"] == "/monitor/alerts/"
    first = Alert.objects.get(pk=other.pk).acknowledged_at
    admin_api.post(f"/api/v1/alerts/{other.pk}/acknowledge/")
    assert Alert.objects.get(pk=other.pk).acknowledged_at == first


def test_b5_alert_page_csv_has_words_not_codes(admin_web):
    _alerts(1)
    export = admin_web.get("/monitor/alerts/?export=csv&state=open&kind=token_expiring")
    body = b"".join(export.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["Opened", "Kind", "Object", "Message", "State", "Resolved", "Acknowledged"]
    assert len(rows) == 2
    assert rows[1][1:3] == ["Token expiring", "Expiring 0"] and rows[1][4] == "Open"
    assert rows[1][3].startswith("The VPP token “Expiring 0” expires within 7 days")
    assert "token_expiring" not in body


def test_b5_alert_detail_shows_each_delivery(admin_web, administrator):
    _alerts(1)
    alert = Alert.objects.get(kind="token_expiring")
    page = admin_web.get(f"/monitor/alerts/{alert.pk}/").content.decode()
    assert administrator.email in page and "Pending" in page and 'data-testid="acknowledge"' in page


def test_alert_list_and_api_query_counts_do_not_grow_with_rows(admin_web, admin_api):
    _alerts(2)
    small = (
        _count_queries(lambda: admin_web.get("/monitor/alerts/")),
        _count_queries(lambda: admin_api.get("/api/v1/alerts/")),
    )
    _alerts(6)
    assert Alert.objects.count() > 12
    large = (
        _count_queries(lambda: admin_web.get("/monitor/alerts/")),
        _count_queries(lambda: admin_api.get("/api/v1/alerts/")),
    )
    assert small == large


# --- the dashboard -----------------------------------------------------------------------------------------


def _dashboard_data():
    healthy = factories.VPPTokenFactory(name="Healthy HQ")
    SyncRun.objects.create(
        vpp_token=healthy, trigger="manual", status="completed", finished_at=timezone.now()
    )
    broken = factories.VPPTokenFactory(name="Broken HQ", state=VPPToken.State.REVOKED)
    low = factories.AppFactory(name="Numbers", vpp_token=healthy, total_licenses=10, used_licenses=8)
    gone = factories.AppFactory(name="Keynote", vpp_token=healthy, total_licenses=5, used_licenses=5)
    factories.AppFactory(name="Calm", vpp_token=healthy, total_licenses=10, used_licenses=1)
    device, old_device = factories.DeviceFactory(name="Front desk iPad"), factories.DeviceFactory()
    DeviceAppState.objects.create(device=device, app=low, state=InstallState.FAILED, error="No license")
    stale = DeviceAppState.objects.create(device=old_device, app=low, state=InstallState.FAILED)
    DeviceAppState.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(days=30))
    License.objects.create(app=gone, license_type="device", device=device, state="failed")
    return {"healthy": healthy, "broken": broken, "low": low, "gone": gone, "device": device}


def test_dashboard_tiles_count_and_link_to_the_rows_behind_them(admin_web):
    data = _dashboard_data()
    page = admin_web.get("/").content.decode()
    since = (timezone.localdate() - timedelta(days=6)).isoformat()
    assert 'href="/apps/?usage_at_least=80" data-testid="tile-low-apps"><span class="tile-value">2<' in page
    assert (
        'href="/apps/?exhausted=true" data-testid="tile-exhausted-apps"><span class="tile-value">1<' in page
    )
    licenses_link = f"/assignments/licenses/?state=failed&amp;changed_since={since}"
    assert f'href="{licenses_link}" data-testid="tile-failed-licenses"><span class="tile-value">1<' in page
    assert 'data-testid="tile-failed-installs"><span class="tile-value">1<' in page
    failed_link = f"/deployment/apps/{data['low'].pk}/devices/?install_state=failed&amp;changed_since={since}"
    assert f'href="{failed_link}" data-testid="failed-installs-{data["low"].pk}">1<' in page
    # Each link shows exactly the rows counted.
    low_list = admin_web.get("/apps/?usage_at_least=80").content.decode()
    assert "Numbers" in low_list and "Keynote" in low_list and "Calm" not in low_list
    gone_list = admin_web.get("/apps/?exhausted=true").content.decode()
    assert "Keynote" in gone_list and "Numbers" not in gone_list
    devices = admin_web.get(failed_link.replace("&amp;", "&")).content.decode()
    assert "Front desk iPad" in devices and data["device"].serial_number in devices
    assert devices.count("No license") == 1  # the failure of 30 days ago is not among them
    licenses = admin_web.get(f"/assignments/licenses/?state=failed&changed_since={since}").content.decode()
    assert "Keynote" in licenses


def test_dashboard_connector_health_per_token_and_nanomdm(admin_web, settings):
    data = _dashboard_data()
    settings.NANOMDM_URL = "http://127.0.0.1:9"
    services.nanomdm_check()
    page = admin_web.get("/").content.decode()
    healthy = page.split(f'data-testid="health-{data["healthy"].pk}"')[1].split("</tr>")[0]
    broken = page.split(f'data-testid="health-{data["broken"].pk}"')[1].split("</tr>")[0]
    nanomdm = page.split('data-testid="health-nanomdm"')[1].split("</tr>")[0]
    assert "Healthy" in healthy and "Unhealthy" in broken and "Revoked" in broken
    assert "Unreachable" in nanomdm and "No webhook received yet." in nanomdm


def test_dashboard_charts_are_svg_images_with_a_data_table(admin_web):
    _dashboard_data()
    services.usage_snapshot_take()
    page = admin_web.get("/").content.decode()
    for name in ("token-usage", "top-apps", "install-states", "usage-history"):
        assert f'<img src="/monitor/charts/{name}.svg"' in page
        chart = admin_web.get(f"/monitor/charts/{name}.svg")
        assert chart.status_code == 200 and chart["Content-Type"].startswith("image/svg+xml")
        assert b"<svg" in chart.content and b"<script" not in chart.content
    assert b"Healthy HQ" in admin_web.get("/monitor/charts/token-usage.svg").content
    table = page.split('id="chart-top-apps-data"')[1].split("</details>")[0]
    assert "Numbers" in table and "<td>8</td><td>10</td>" in table
    assert admin_web.get("/monitor/charts/nothing.svg").status_code == 404


def test_dashboard_query_count_does_not_grow_with_tokens_and_apps(admin_web):
    _dashboard_data()
    small = _count_queries(lambda: admin_web.get("/"))
    for i in range(5):
        token = factories.VPPTokenFactory(name=f"More {i}")
        factories.AppFactory.create_batch(3, vpp_token=token, total_licenses=10, used_licenses=9)
    assert _count_queries(lambda: admin_web.get("/")) == small


def test_usage_snapshots_one_row_per_token_and_day_kept_400_days():
    token = factories.VPPTokenFactory()
    factories.AppFactory(vpp_token=token, total_licenses=10, used_licenses=4)
    factories.AppFactory(vpp_token=token, total_licenses=5, used_licenses=5)
    factories.AppFactory(vpp_token=token, total_licenses=0, used_licenses=99, is_unlimited=True)
    today = timezone.localdate()
    UsageSnapshot.objects.create(day=today - timedelta(days=401), vpp_token=token, total=1, used=1)
    UsageSnapshot.objects.create(day=today - timedelta(days=399), vpp_token=token, total=1, used=1)
    assert services.usage_snapshot_take() == 1
    assert services.usage_snapshot_take() == 1  # again the same day: replaced, not added
    rows = list(UsageSnapshot.objects.order_by("day").values_list("total", "used"))
    assert rows == [(1, 1), (15, 9)]
