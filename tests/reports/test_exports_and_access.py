"""M4, B6: the help desk reads and exports every report and every table, and changes nothing; exports carry
names, state labels and ISO 8601 dates."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assignments.models import LicenseRun
from tests import factories
from tests.conftest import _api_client
from tests.reports.conftest import build_estate, csv_rows, table_rows

pytestmark = pytest.mark.django_db
PAGES = ["/reports/app-licenses/", "/reports/install-status/", "/reports/assignments/"]
APIS = ["/api/v1/reports/app-licenses/", "/api/v1/reports/install-status/", "/api/v1/assignments/"]


@pytest.mark.parametrize("url", PAGES)
def test_m4_help_desk_reads_and_exports_every_report_and_changes_nothing(helpdesk_web, anon_web, estate, url):
    page = helpdesk_web.get(url)
    assert page.status_code == 200 and 'data-testid="export-csv"' in page.content.decode()
    assert len(csv_rows(helpdesk_web.get(f"{url}?export=csv"))) > 1
    assert helpdesk_web.post(url, {}).status_code == 403
    assert anon_web.get(url).status_code == 302


@pytest.mark.parametrize("url", APIS)
def test_m4_api_reads_for_help_desk_and_refuses_writes(
    helpdesk_api, admin_api, anon_api, no_role_user, estate, url
):
    assert helpdesk_api.get(url).json()["count"] > 0
    assert helpdesk_api.post(url, {}).status_code == 403
    assert helpdesk_api.delete(url).status_code == 403
    assert admin_api.post(url, {}).status_code == 405  # reports have nothing to write
    assert anon_api.get(url).status_code == 401
    assert _api_client(no_role_user).get(url).status_code in (403, 404)


def test_reports_are_under_monitor_in_the_navigation(helpdesk_web, estate):
    page = helpdesk_web.get("/reports/app-licenses/").content.decode()
    for label, url in [
        ("App licenses", "/reports/app-licenses/"),
        ("Install status", "/reports/install-status/"),
    ]:
        assert f'<a href="{url}">{label}</a>' in page
    assert '<a href="/reports/assignments/">Assignments</a>' in page


def test_b6_user_and_device_license_tables_export(helpdesk_web, estate):
    device_page = helpdesk_web.get(f"/directory/devices/{estate.ipad1.pk}/").content.decode()
    assert f'href="/reports/exports/devices/{estate.ipad1.pk}/licenses.csv"' in device_page
    assert f'href="/reports/install-status/?device={estate.ipad1.pk}&amp;export=csv"' in device_page
    rows = table_rows(csv_rows(helpdesk_web.get(f"/reports/exports/devices/{estate.ipad1.pk}/licenses.csv")))
    assert rows[0] | {"Updated": ""} == {
        "App": "Keynote",
        "Token": "Alpha",
        "License type": "Device licensing",
        "User": "",
        "Serial number": estate.ipad1.serial_number,
        "Devices using it": "",
        "State": "Assigned",
        "Error number": "",
        "Error": "",
        "Updated": "",
    }
    assert rows[0]["Updated"][:4].isdigit() and "T" in rows[0]["Updated"]
    user_page = helpdesk_web.get(f"/directory/users/{estate.ann.pk}/").content.decode()
    assert f'href="/reports/exports/users/{estate.ann.pk}/licenses.csv"' in user_page
    assert f'href="/reports/install-status/?user={estate.ann.pk}&amp;export=csv"' in user_page
    installs = table_rows(
        csv_rows(helpdesk_web.get(f"/reports/install-status/?user={estate.ann.pk}&export=csv"))
    )
    assert [(r["App"], r["Device"], r["Install state"]) for r in installs] == [
        ("Keynote", "iPhone 3", "Pending install")
    ]
    assert csv_rows(helpdesk_web.get(f"/reports/exports/users/{estate.ann.pk}/licenses.csv"))[1:] == []
    assert helpdesk_web.get("/reports/exports/users/999999/licenses.csv").status_code == 404


def test_b6_group_members_export(helpdesk_web, estate):
    page = helpdesk_web.get(f"/directory/groups/{estate.sales.pk}/").content.decode()
    assert f'href="/reports/exports/groups/{estate.sales.pk}/members.csv"' in page
    rows = table_rows(csv_rows(helpdesk_web.get(f"/reports/exports/groups/{estate.sales.pk}/members.csv")))
    assert [(r["Member"], r["User principal name or serial number"], r["Active"]) for r in rows] == [
        (str(estate.ipad1), estate.ipad1.serial_number, "Yes"),
        (str(estate.ipad2), estate.ipad2.serial_number, "Yes"),
    ]
    staff = table_rows(csv_rows(helpdesk_web.get(f"/reports/exports/groups/{estate.staff.pk}/members.csv")))
    assert staff[0]["User principal name or serial number"] == "ann@example.com"


def test_b6_app_assignments_licenses_and_token_sync_history_exports(helpdesk_web, estate):
    app_page = helpdesk_web.get(f"/assignments/apps/{estate.keynote.pk}/").content.decode()
    assert f'href="/reports/assignments/?app={estate.keynote.pk}&amp;export=csv"' in app_page
    assert f'href="/assignments/licenses/?app={estate.keynote.pk}&amp;export=csv"' in app_page
    licenses = table_rows(
        csv_rows(helpdesk_web.get(f"/assignments/licenses/?app={estate.keynote.pk}&export=csv"))
    )
    assert sorted(r["State"] for r in licenses) == ["Assigned", "Failed"]  # labels, not codes
    token_page = helpdesk_web.get(f"/tokens/{estate.alpha.pk}/").content.decode()
    assert f'href="/tokens/sync-runs/?vpp_token={estate.alpha.pk}&amp;export=csv"' in token_page


def test_b6_token_list_exports_the_expiry_date_not_days_left(helpdesk_web, estate):
    rows = table_rows(csv_rows(helpdesk_web.get("/tokens/?export=csv")))
    alpha = next(r for r in rows if r["Name"] == "Alpha")
    assert alpha["Expires"] == estate.alpha.expires_at.isoformat(timespec="seconds")
    assert "days left" not in alpha["Expires"] and alpha["State"] == estate.alpha.get_state_display()


def test_b6_reconciliation_drift_export(helpdesk_web, estate):
    LicenseRun.objects.create(
        kind=LicenseRun.Kind.RECONCILE,
        vpp_token=estate.alpha,
        status="completed",
        summary={
            "untracked": [[estate.keynote.adam_id, "STDQ", "s", "STRANGER-1", False]],
            "missing": [estate.license1.pk],
        },
    )
    page = helpdesk_web.get("/assignments/reconciliation/").content.decode()
    assert 'href="/reports/exports/reconciliation-drift.csv"' in page
    rows = table_rows(csv_rows(helpdesk_web.get("/reports/exports/reconciliation-drift.csv")))
    assert [{k: v for k, v in r.items() if k != "Last check"} for r in rows] == [
        {
            "Token": "Alpha",
            "Drift": "Untracked: held at Apple, not by this console",
            "App": "Keynote",
            "Adam ID": estate.keynote.adam_id,
            "Target": "Serial number: STRANGER-1",
            "Target known": "No",
        },
        {
            "Token": "Alpha",
            "Drift": "Missing at Apple",
            "App": "Keynote",
            "Adam ID": estate.keynote.adam_id,
            "Target": estate.ipad1.serial_number,
            "Target known": "Yes",
        },
    ]
    assert "T" in rows[0]["Last check"] and "+00:00" in rows[0]["Last check"]


def test_b6_exports_refuse_anonymous_and_outsiders(anon_web, client, estate):
    client.force_login(factories.UserFactory())
    for url in [
        "/reports/exports/reconciliation-drift.csv",
        f"/reports/exports/groups/{estate.sales.pk}/members.csv",
        f"/reports/exports/devices/{estate.ipad1.pk}/licenses.csv",
    ]:
        assert anon_web.get(url).status_code == 302
        assert client.get(url).status_code in (403, 404)


def test_b6_exports_query_count_does_not_grow_with_rows(admin_web, db):
    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            csv_rows(admin_web.get(url))
        return len(ctx.captured_queries)

    def urls(estate) -> list[str]:
        LicenseRun.objects.create(
            kind=LicenseRun.Kind.RECONCILE,
            vpp_token=estate.alpha,
            status="completed",
            summary={"untracked": [[estate.keynote.adam_id, "STDQ", "s", "X", False]] * 3, "missing": []},
        )
        return [
            f"/reports/exports/groups/{estate.sales.pk}/members.csv",
            f"/reports/exports/devices/{estate.ipad1.pk}/licenses.csv",
            f"/reports/exports/users/{estate.ann.pk}/licenses.csv",
            "/reports/exports/reconciliation-drift.csv",
        ]

    small = [count(url) for url in urls(build_estate())]
    big_estate = build_estate(prefix="big-", extra_devices=30)
    for i in range(5):
        build_estate(prefix=f"more{i}-")
    big = [count(url) for url in urls(big_estate)]
    assert big == small and max(big) <= 10
