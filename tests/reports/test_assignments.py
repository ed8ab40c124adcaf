"""Monitor › Assignments: every assignment with its targets, licenses and installs; filters, CSV, API."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.reports.conftest import build_estate, csv_rows, table_rows

pytestmark = pytest.mark.django_db
PAGE = "/reports/assignments/"
API = "/api/v1/assignments/"


def _groups(page: str) -> list[str]:
    return re.findall(r'<td data-label="Group"><a href="/directory/groups/\d+/">([^<]+)</a>', page)


def test_rows_count_targets_licenses_installs_and_link_to_them(helpdesk_web, estate):
    page = helpdesk_web.get(PAGE).content.decode()
    assert _groups(page) == ["Sales", "Staff"]
    a = estate.device_assignment
    assert f'href="/directory/groups/{estate.sales.pk}/">2</a>' in page  # targets
    assert f'href="/assignments/licenses/?assignment={a.pk}&amp;state=assigned">1</a>' in page
    k, g = estate.keynote.pk, estate.sales.pk
    assert f'href="/reports/install-status/?app={k}&amp;group={g}&amp;install_state=installed">1</a>' in page
    assert f'href="/reports/install-status/?app={k}&amp;group={g}&amp;install_state=failed">1</a>' in page
    # the link's rows are the count's rows
    failed = helpdesk_web.get(
        f"/reports/install-status/?app={k}&group={g}&install_state=failed"
    ).content.decode()
    assert "iPad 2" in failed and "iPad 1" not in failed


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("intent=available", ["Staff"]),
        ("license_type=device", ["Sales"]),
        ("group={staff}", ["Staff"]),
        ("app={pages}", []),
        ("vpp_token={alpha}", ["Sales", "Staff"]),
    ],
)
def test_filters_on_page_and_api(helpdesk_web, helpdesk_api, estate, query, expected):
    query = query.format(staff=estate.staff.pk, pages=estate.pages.pk, alpha=estate.alpha.pk)
    assert _groups(helpdesk_web.get(f"{PAGE}?{query}").content.decode()) == expected
    assert [r["group_name"] for r in helpdesk_api.get(f"{API}?{query}").json()["results"]] == expected


def test_csv_and_api_rows(helpdesk_web, helpdesk_api, estate):
    rows = table_rows(csv_rows(helpdesk_web.get(f"{PAGE}?export=csv")))
    sales = rows[0]
    assert sales | {"Created": ""} == {
        "App": "Keynote",
        "Token": "Alpha",
        "Group": "Sales",
        "Intent": "Required",
        "License type": "Device licensing",
        "Targets": "2",
        "Licensed": "1",
        "Installed": "1",
        "Failed": "1",
        "Created": "",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", sales["Created"])
    assert rows[1]["Intent"] == "Available" and rows[1]["License type"] == "User licensing"
    body = helpdesk_api.get(API).json()
    staff = body["results"][1]
    assert staff | {"created_at": None} == {
        "id": estate.user_assignment.pk,
        "app": estate.keynote.pk,
        "app_name": "Keynote",
        "vpp_token": estate.alpha.pk,
        "vpp_token_name": "Alpha",
        "group": estate.staff.pk,
        "group_name": "Staff",
        "intent": "available",
        "license_type": "user",
        "targets": 1,
        "licensed": 0,
        "installed": 0,
        "failed": 0,
        "created_at": None,
    }


@pytest.mark.parametrize("url", [PAGE, f"{PAGE}?export=csv", API])
def test_query_count_does_not_grow_with_rows(admin_web, db, url):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = admin_web.get(url)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
            assert response.status_code == 200
        return len(ctx.captured_queries)

    build_estate()
    small = count()
    for i in range(6):
        build_estate(prefix=f"more{i}-", extra_devices=2)
    assert count() == small <= 12
