"""Console pages that belong to no single resource: health and the audit log (the home page is `home`)."""

from __future__ import annotations

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from console.filters import AuditEntryFilter
from console.models import AuditEntry
from console.views_base import Column, FilteredListView


@never_cache
def healthz(request):
    """200 with the state of the database and the broker when both answer, 503 otherwise."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
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
