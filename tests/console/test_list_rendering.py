"""List pages render their rows in Python (issue 13: the table's cells, per-row `reverse()` and per-row
`get_<field>_display()` were most of a page's time at a million rows); what a reader sees stays the same:
the same cell HTML as the template wrote, the same addresses, the same words in English and Chinese, and
the same rows on every page when a sort reads its ids first."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import clear_script_prefix, reverse, set_script_prefix
from django.utils import timezone, translation
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from assignments.models import Assignment, License
from console.links import reverse_cached
from console.views_base import Column, _table_row, choice_label
from deployment.models import InstallState
from tests import factories

# The table's cell loop as console/partials/table.html had it, before the cells were rendered in Python.
TEMPLATE_CELLS = Template(
    '{% for value, link, label in row %}<td data-label="{{ label }}">{% if link %}<a href="{{ link }}">'
    '{{ value|default_if_none:"" }}</a>{% else %}{{ value|default_if_none:"" }}{% endif %}</td>{% endfor %}'
)

VALUES = [
    None,
    "",
    'Bob\'s <iPad> & "Co"',
    0,
    1234567,
    1.5,
    Decimal("2.50"),
    True,
    dt.datetime(2026, 12, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.date(2026, 12, 2),
    gettext_lazy("Installed"),
    mark_safe("<b>kept</b>"),
    ["A", "B"],
]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai"])
def test_cells_render_as_the_template_rendered_them(language, zone):
    columns = [
        Column(
            gettext_lazy("State"), lambda obj, v=v: v, link=(lambda obj: "/a?b=1&c=<2>") if i % 3 else None
        )
        for i, v in enumerate(VALUES)
    ]
    with translation.override(language), timezone.override(zone):
        labels = [str(c.label) for c in columns]
        expected = TEMPLATE_CELLS.render(
            Context({"row": [(c.read(None), c.link(None) if c.link else None, c.label) for c in columns]})
        )
        segments = _table_row(None, columns, [conditional_escape(label) for label in labels])
    assert [template for _, _, _, template, _ in segments] == [None]
    assert segments[0][0] == expected
    assert "&lt;iPad&gt; &amp; &quot;Co&quot;" in expected and "<b>kept</b>" in expected


def test_a_template_cell_keeps_its_place_and_its_words(admin_web, db):
    app = factories.AppFactory(name="Keynote")
    License.objects.create(app=app, device=factories.DeviceFactory(), license_type="device", state="failed")
    page = admin_web.get("/assignments/licenses/").content.decode()
    # State is a template cell between plain cells: its <td>, the span and the word, then the next cells.
    assert ('<td data-label="License type">Device licensing</td><td data-label="Device or user">') in page
    assert (
        '<td data-label="State"><span class="status status-failed">Failed</span>\n</td>'
        '<td data-label="Error number"></td>'
    ) in page
    chinese = admin_web.get("/assignments/licenses/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    with translation.override("zh-hans"):
        failed = str(License.State.FAILED.label)
        device_licensing = str(Assignment.LicenseType.DEVICE.label)
    assert failed != "Failed" and device_licensing != "Device licensing"
    assert f'<span class="status status-failed">{failed}</span>' in chinese
    assert f">{device_licensing}</td>" in chinese


@pytest.mark.parametrize(
    "name",
    ["directory:device-detail", "directory:user-detail", "tokens:detail", "assignments:app-assignments"],
)
def test_cached_addresses_are_reverses(name):
    assert reverse_cached(name, 42) == reverse(name, args=[42])
    assert reverse_cached(name, "7") == reverse(name, args=[7])
    assert reverse_cached("reports:install-status") == reverse("reports:install-status")
    set_script_prefix("/console/")
    try:
        # Served under a prefix (SCRIPT_NAME): the prefix is part of the cached address, as of reverse()'s.
        assert reverse_cached(name, 42) == reverse(name, args=[42])
        assert reverse_cached(name, 42).startswith("/console/")
    finally:
        clear_script_prefix()
    assert not reverse_cached(name, 42).startswith("/console/")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_choice_labels_are_what_get_display_says(db, language):
    app = factories.AppFactory()
    with translation.override(language):
        for state in License.State.values:
            lic = License(app=app, license_type="user", state=state)
            assert choice_label(License.State, lic.state) == lic.get_state_display()
            assert choice_label(Assignment.LicenseType, "user") == lic.get_license_type_display()
        assert choice_label(InstallState, "failed") == str(InstallState.FAILED.label)
        assert (
            choice_label(License.State, "no-such-state") == License(state="no-such-state").get_state_display()
        )


def _licenses_by_app(names: list[str], per_app: int) -> None:
    for name in names:
        app = factories.AppFactory(name=name)
        License.objects.bulk_create(
            License(app=app, device=device, license_type="device", state="assigned")
            for device in factories.DeviceFactory.create_batch(per_app)
        )


def _page_ids(client, query: str) -> list[int]:
    return [lic.pk for lic in client.get(f"/assignments/licenses/?{query}").context["object_list"]]


@pytest.mark.parametrize("limit", [10_000, 5])  # counted exactly; past the limit (estimated on PostgreSQL)
@pytest.mark.parametrize("ordering", ["app__name", "-app__name"])
def test_sorted_by_app_name_pages_hold_the_same_rows_in_the_same_order(
    admin_web, db, settings, limit, ordering
):
    settings.LIST_EXACT_COUNT_LIMIT = limit
    _licenses_by_app(["Pages", "Keynote", "Numbers", "Keynote Remote"], per_app=17)
    tie = "-pk" if ordering.startswith("-") else "pk"
    expected = list(License.objects.order_by(ordering, tie).values_list("pk", flat=True))
    shown = _page_ids(admin_web, f"ordering={ordering}") + _page_ids(admin_web, f"ordering={ordering}&page=2")
    assert shown == expected
    failed = License.objects.filter(app__name="Numbers").order_by("pk")[:3]
    License.objects.filter(pk__in=[lic.pk for lic in failed]).update(state="failed")
    expected_failed = list(
        License.objects.filter(state="failed").order_by(ordering, tie).values_list("pk", flat=True)
    )
    assert _page_ids(admin_web, f"ordering={ordering}&state=failed") == expected_failed


def test_sorting_by_app_name_costs_no_extra_query(admin_web, db):
    _licenses_by_app(["Pages", "Keynote"], per_app=5)
    admin_web.get("/assignments/licenses/")  # warm the session

    def queries(query: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_web.get(f"/assignments/licenses/?{query}").status_code == 200
        return len(ctx)

    assert queries("ordering=-app__name") == queries("ordering=state") == queries("")
