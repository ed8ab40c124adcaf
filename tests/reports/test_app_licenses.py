"""M1: Monitor › App licenses — per app and token: licenses, usage, assignments, installs; CSV."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.reports.conftest import build_estate, csv_rows, table_rows

pytestmark = pytest.mark.django_db
PAGE = "/reports/app-licenses/"
API = "/api/v1/reports/app-licenses/"


def _names(page: str) -> list[str]:
    return re.findall(r'<td data-label="App"><a href="/apps/\d+/">([^<]+)</a>', page)


def test_m1_rows_show_token_counts_usage_assignments_and_installs(helpdesk_web, estate):
    page = helpdesk_web.get(PAGE).content.decode()
    assert _names(page) == ["Guide", "Keynote", "Pages"]
    keynote = estate.keynote
    assert f'href="/tokens/{estate.alpha.pk}/">Alpha</a>' in page
    assert 'value="90"' in page and "90 % (9 of 10 used)" in page  # the bar and its words
    assert f'href="/reports/assignments/?app={keynote.pk}">Yes (2 assignments)</a>' in page
    assert f'href="/reports/install-status/?app={keynote.pk}&amp;install_state=installed">1</a>' in page
    assert f'href="/reports/install-status/?app={keynote.pk}&amp;install_state=failed">1</a>' in page
    assert f'href="/reports/install-status/?app={keynote.pk}&amp;install_state=pending_install">1</a>' in page
    assert f'href="/assignments/licenses/?app={keynote.pk}&amp;state=assigned">9</a>' in page
    assert f'href="/reports/assignments/?app={estate.guide.pk}">No</a>' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("usage_at_least=80", ["Keynote"]),
        ("usage_at_least=25", ["Keynote", "Pages"]),
        ("assigned=false", ["Guide", "Pages"]),
        ("assigned=true", ["Keynote"]),
        ("product_type=book", ["Guide"]),
        ("platform=macOS", ["Keynote"]),
    ],
)
def test_m1_filters_on_page_and_api(helpdesk_web, helpdesk_api, estate, query, expected):
    assert _names(helpdesk_web.get(f"{PAGE}?{query}").content.decode()) == expected
    assert [r["name"] for r in helpdesk_api.get(f"{API}?{query}").json()["results"]] == expected


def test_m1_token_filter_is_a_picker_and_filters(helpdesk_web, helpdesk_api, estate):
    page = helpdesk_web.get(f"{PAGE}?vpp_token={estate.beta.pk}").content.decode()
    assert _names(page) == ["Pages"]
    assert re.search(r'name="vpp_token"[^>]*data-picker-url="/api/v1/vpp-tokens/"', page)
    body = helpdesk_api.get(f"{API}?vpp_token={estate.alpha.pk}").json()
    assert [r["name"] for r in body["results"]] == ["Guide", "Keynote"]


def test_m1_bad_filters_are_explained_not_500(helpdesk_web, helpdesk_api, estate):
    response = helpdesk_web.get(f"{PAGE}?usage_at_least=140")
    assert response.status_code == 400 and "Usage at or above (%)" in response.content.decode()
    assert helpdesk_api.get(f"{API}?usage_at_least=abc").status_code == 400


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("-usage", ["Keynote", "Pages", "Guide"]),
        ("total_licenses", ["Pages", "Guide", "Keynote"]),
        ("available_licenses", ["Keynote", "Pages", "Guide"]),
        ("-used_licenses", ["Keynote", "Pages", "Guide"]),
        # Ties (the other two have none, or the same token) keep their place: compare the first row only.
        ("-assignment_count", ["Keynote"]),
        ("-vpp_token__name", ["Pages"]),
        ("-failed_count", ["Keynote"]),
    ],
)
def test_m1_sort_by_column(helpdesk_web, helpdesk_api, estate, ordering, expected):
    page = _names(helpdesk_web.get(f"{PAGE}?ordering={ordering}").content.decode())
    api = [r["name"] for r in helpdesk_api.get(f"{API}?ordering={ordering}").json()["results"]]
    assert page[: len(expected)] == expected and api[: len(expected)] == expected
    assert f"ordering={ordering.lstrip('-')}" in helpdesk_web.get(PAGE).content.decode()  # a header link


def test_m1_csv_has_readable_values(helpdesk_web, estate):
    rows = table_rows(csv_rows(helpdesk_web.get(f"{PAGE}?export=csv")))
    keynote = next(r for r in rows if r["App"] == "Keynote")
    assert keynote == {
        "App": "Keynote",
        "Adam ID": estate.keynote.adam_id,
        "Type": "App",
        "Platforms": "iOS, macOS",
        "Token": "Alpha",
        "Total": "10",
        "Used": "9",
        "Available": "1",
        "Usage (%)": "90",
        "Assigned": "Yes",
        "Assignments": "2",
        "Installed": "1",
        "Failed": "1",
        "Pending install": "1",
    }
    guide = next(r for r in rows if r["App"] == "Guide")
    assert guide["Type"] == "Book" and guide["Assigned"] == "No"


def test_m1_csv_in_chinese(helpdesk_web, estate):
    helpdesk_web.cookies["django_language"] = "zh-hans"
    rows = csv_rows(helpdesk_web.get(f"{PAGE}?export=csv", HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert rows[0][0] == "应用"
    guide = next(r for r in rows[1:] if r[0] == "Guide")
    assert "图书" in guide and "否" in guide


def test_m1_api_row(helpdesk_api, estate):
    body = helpdesk_api.get(API).json()
    keynote = next(r for r in body["results"] if r["name"] == "Keynote")
    assert keynote == {
        "app": estate.keynote.pk,
        "name": "Keynote",
        "adam_id": estate.keynote.adam_id,
        "product_type": "app",
        "platforms": ["iOS", "macOS"],
        "vpp_token": estate.alpha.pk,
        "vpp_token_name": "Alpha",
        "total_licenses": 10,
        "used_licenses": 9,
        "available_licenses": 1,
        "usage_percent": 90.0,
        "assigned": True,
        "assignments": 2,
        "installed": 1,
        "failed": 1,
        "pending_install": 1,
    }


@pytest.mark.parametrize("url", [PAGE, f"{PAGE}?export=csv", API])
def test_m1_query_count_does_not_grow_with_rows(admin_web, db, url):
    client = admin_web

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
            assert response.status_code == 200
        return len(ctx.captured_queries)

    build_estate()
    small = count()
    for i in range(6):
        build_estate(prefix=f"more{i}-", extra_devices=2)
    assert count() == small <= 12


def test_m1_page_in_chinese(helpdesk_web, estate):
    helpdesk_web.cookies["django_language"] = "zh-hans"
    page = helpdesk_web.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "<h1>应用许可证</h1>" in page
    assert "是（2 个分配）" in page and "90 %（已用 9 / 共 10）" in page
    assert "使用率不低于 (%)" in page
    status = helpdesk_web.get("/reports/install-status/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "各安装状态的设备数" in status and "Pending install" not in status
