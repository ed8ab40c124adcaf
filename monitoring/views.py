"""Monitor › Alerts (list, CSV, an alert's page with its deliveries, acknowledge) and the charts."""

from __future__ import annotations

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import DetailView

from console.views_base import Column, ConsoleAccessMixin, FilteredListView, redirect_back
from monitoring import charts, selectors, services
from monitoring.filters import AlertFilter
from monitoring.messages import message_of
from monitoring.models import Alert


def _object_link(alert: Alert) -> str | None:
    if alert.object_id is None:
        return None
    if alert.object_type == Alert.ObjectType.VPP_TOKEN:
        return reverse("tokens:detail", args=[alert.object_id])
    if alert.object_type == Alert.ObjectType.APP:
        if alert.kind == Alert.Kind.INSTALL_FAILURES:
            return reverse("deployment:device-status", args=[alert.object_id]) + "?install_state=failed"
        return reverse("assignments:app-assignments", args=[alert.object_id])
    return None


def _acknowledged(alert: Alert) -> str:
    if alert.acknowledged_at is None:
        return ""
    who = alert.acknowledged_by.get_username() if alert.acknowledged_by else ""
    return f"{who} {alert.acknowledged_at:%Y-%m-%d %H:%M}".strip()


class AlertListView(FilteredListView):
    """Monitor › Alerts: open and past alerts, by state and kind; CSV (B5, M4)."""

    filterset_class = AlertFilter
    title = _("Alerts")
    breadcrumbs = [(_("Home"), "/"), (_("Monitor"), None), (_("Alerts"), None)]
    csv_filename = "alerts.csv"
    default_ordering = ("-opened_at", "-id")
    columns = [
        Column(
            _("Opened"),
            "opened_at",
            order_by="opened_at",
            link=lambda a: reverse("monitoring:alert", args=[a.pk]),
        ),
        Column(_("Kind"), "get_kind_display"),
        Column(_("Object"), "object_name", link=_object_link),
        Column(_("Message"), message_of),
        Column(_("State"), "get_state_display", template="monitoring/cells/state.html"),
        Column(_("Resolved"), "resolved_at", order_by="resolved_at"),
        Column(_("Acknowledged"), _acknowledged, template="monitoring/cells/acknowledge.html"),
    ]

    def get_base_queryset(self):
        return selectors.alert_list()


class AlertDetailView(ConsoleAccessMixin, DetailView):
    """One alert: what, since when, its notices and how each delivery went."""

    template_name = "monitoring/alert_detail.html"
    context_object_name = "alert"

    def get_queryset(self):
        return selectors.alert_list()

    def get_breadcrumbs(self):
        return [
            (_("Home"), "/"),
            (_("Monitor"), None),
            (_("Alerts"), reverse("monitoring:alerts")),
            (self.object.get_kind_display(), None),
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            message=message_of(self.object),
            object_link=_object_link(self.object),
            deliveries=self.object.deliveries.all(),
        )
        return context


class AlertAcknowledgeView(ConsoleAccessMixin, View):
    write = True

    def post(self, request, pk):
        alert = get_object_or_404(Alert, pk=pk)
        services.alert_acknowledge(alert=alert, actor=request.user)
        messages.success(request, _("Alert acknowledged."))
        return redirect_back(request, reverse("monitoring:alert", args=[alert.pk]))


# The SVG's own <style> (pygal's) is inline in the image; no script is in it.
@method_decorator(csp_update({"style-src": [UNSAFE_INLINE]}), name="dispatch")
class ChartView(ConsoleAccessMixin, View):
    def get(self, request, name):
        draw = charts.CHARTS.get(name)
        if draw is None:
            raise Http404
        response = HttpResponse(draw(), content_type="image/svg+xml; charset=utf-8")
        response["Cache-Control"] = "private, max-age=60"
        return response
