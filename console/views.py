"""Console pages that belong to no single resource: home, health, audit log."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.http import JsonResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from console.filters import AuditEntryFilter
from console.models import AuditEntry
from console.views_base import Column, ConsoleAccessMixin, FilteredListView


class HomeView(ConsoleAccessMixin, TemplateView):
    template_name = "console/home.html"

    def get_context_data(self, **kwargs):
        from apps.models import App
        from assignments.models import License
        from tokens.models import SyncRun, VPPToken

        context = super().get_context_data(**kwargs)
        tokens = VPPToken.objects.aggregate(
            total=Count("id"),
            valid=Count("id", filter=Q(state=VPPToken.State.VALID)),
            expiring=Count(
                "id",
                filter=Q(
                    state=VPPToken.State.VALID, expires_at__lte=timezone.now() + timezone.timedelta(days=30)
                ),
            ),
        )
        apps = App.objects.aggregate(
            total=Count("id"),
            books=Count("id", filter=Q(product_type=App.ProductType.BOOK)),
            used=Sum("used_licenses", filter=Q(is_unlimited=False)),
            purchased=Sum("total_licenses", filter=Q(is_unlimited=False)),
        )
        context.update(
            tokens=tokens,
            apps=apps,
            failed_licenses=License.objects.filter(state=License.State.FAILED).count(),
            recent_runs=SyncRun.objects.select_related("vpp_token")[:5],
        )
        return context


@never_cache
def healthz(request):
    """200 when the database and broker answer, beat's heartbeat is recent and no queue is starved; 503
    otherwise (console.health). `?scope=web`: the database and the broker only."""
    from console import health

    healthy, checks = health.report(scope="web" if request.GET.get("scope") == "web" else "all")
    return JsonResponse(
        {
            "status": "ok" if healthy else "error",
            **checks,
            "version": settings.SPECTACULAR_SETTINGS["VERSION"],
        },
        status=200 if healthy else 503,
    )


class AuditLogView(FilteredListView):
    model = AuditEntry
    filterset_class = AuditEntryFilter
    title = _("Audit log")
    breadcrumbs = [(_("Home"), "/"), (_("Audit log"), None)]
    csv_filename = "audit-log.csv"
    columns = [
        Column(_("Time"), "created_at", order_by="created_at"),
        Column(_("Actor"), "actor_name", order_by="actor_name"),
        Column(_("Action"), "action", order_by="action"),
        Column(_("Object type"), "object_type"),
        Column(_("Object"), "object_repr"),
        Column(_("Before"), "before", template="console/cells/json.html"),
        Column(_("After"), "after", template="console/cells/json.html"),
    ]
