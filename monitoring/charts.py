"""The dashboard's charts, drawn on the server as SVG by pygal and served as images (no script runs: pygal's
inline configuration script is removed). The page titles each chart and puts its figures in a table beside it
for screen readers."""

from __future__ import annotations

import re

import pygal
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from pygal.style import Style

from deployment.models import InstallState
from monitoring import selectors

_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    font_family="system-ui, -apple-system, 'Segoe UI', 'PingFang SC', 'Microsoft YaHei', sans-serif",
    colors=("#0078d4", "#8a8886", "#d13438", "#ffaa44", "#107c10"),
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    value_font_size=12,
    title_font_size=15,
)
COMMON = {
    "style": STYLE,
    "width": 640,
    "height": 320,
    "js": [],
    "disable_xml_declaration": True,
    "legend_at_bottom": True,
    "print_values": False,
    "truncate_label": 24,
    "show_minor_x_labels": True,
}


def _svg(chart) -> bytes:
    return _SCRIPT.sub("", chart.render(is_unicode=True)).encode()


def token_usage() -> bytes:
    chart = pygal.HorizontalBar(**COMMON)
    rows = selectors.usage_by_token()
    chart.x_labels = [r["name"] for r in rows]
    chart.add(_("Used"), [r["used"] for r in rows])
    chart.add(_("Purchased"), [r["total"] for r in rows])
    chart.no_data_text = _("No data yet")
    return _svg(chart)


def top_apps() -> bytes:
    chart = pygal.HorizontalBar(**COMMON)
    apps = selectors.top_apps_by_usage()
    chart.x_labels = [a.name for a in apps]
    chart.add(_("Used"), [a.used_licenses for a in apps])
    chart.add(_("Purchased"), [a.total_licenses for a in apps])
    chart.no_data_text = _("No data yet")
    return _svg(chart)


def install_states() -> bytes:
    chart = pygal.StackedBar(**COMMON)
    rows, states = selectors.install_states_by_app()
    chart.x_labels = [r["name"] for r in rows]
    chart.x_label_rotation = 20
    for state in states:
        chart.add(str(InstallState(state).label), [r["counts"].get(state, 0) for r in rows])
    chart.no_data_text = _("No data yet")
    return _svg(chart)


def usage_history() -> bytes:
    chart = pygal.Line(**{**COMMON, "show_minor_x_labels": False})
    rows = selectors.usage_history()
    chart.x_labels = [date_format(r["day"], "SHORT_DATE_FORMAT") for r in rows]
    chart.x_labels_major_every = max(1, len(rows) // 8)
    chart.add(_("Used"), [r["used"] for r in rows])
    chart.add(_("Purchased"), [r["total"] for r in rows])
    chart.no_data_text = _("No data yet")
    return _svg(chart)


CHARTS = {
    "token-usage": token_usage,
    "top-apps": top_apps,
    "install-states": install_states,
    "usage-history": usage_history,
}
