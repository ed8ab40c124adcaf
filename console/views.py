"""Console pages that belong to no single resource: health, audit log, API keys, runs of every kind (the home
page is `home`)."""

from __future__ import annotations

from django import forms
from django.apps import apps as django_apps
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse, reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import View, defaults
from django.views.decorators.cache import never_cache
from django.views.generic import DetailView, TemplateView

from console import api_keys, lockouts, roles
from console.durations import duration_text
from console.filters import AuditEntryFilter, RunFilter
from console.messages import from_json
from console.models import AuditEntry, Run
from console.views_base import Column, ConsoleAccessMixin, FilteredListView, add_service_errors


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


def _object_type_name(entry: AuditEntry) -> str:
    """ "tokens.vpptoken" read as the model's name in the reader's language ("VPP token", "VPP 令牌")."""
    try:
        model = django_apps.get_model(entry.object_type)
    except (LookupError, ValueError):
        return entry.object_type
    return capfirst(str(model._meta.verbose_name)) if model else entry.object_type


def _audit_value(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if isinstance(value, list):
        return ", ".join(_audit_value(item) for item in value) or "—"
    if isinstance(value, dict) and (message := from_json(value)) is not None:
        return str(message)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_audit_value(item)}" for key, item in value.items()) or "—"
    return str(value)


def _messages_said(value):
    """An audit entry's before/after for the CSV: JSON still, with stored messages as the reader's words."""
    if isinstance(value, dict):
        if (message := from_json(value)) is not None:
            return str(message)
        return {key: _messages_said(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_messages_said(item) for item in value]
    return value


def audit_changes(entry: AuditEntry) -> list[tuple[str, str | None, str]]:
    """The fields an audit entry changed, as (field, before, after) text; before is None for a creation.

    Only the fields whose values differ, so an edit of one field reads as one line, not two object dumps.
    """
    before = entry.before if isinstance(entry.before, dict) else {}
    after = entry.after if isinstance(entry.after, dict) else {}
    changes: list[tuple[str, str | None, str]] = []
    for field in [*before, *(key for key in after if key not in before)]:
        old, new = before.get(field), after.get(field)
        if field in before and field in after and old == new:
            continue
        changes.append((field.replace("_", " "), _audit_value(old) if before else None, _audit_value(new)))
    return changes


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
        Column(_("Object type"), _object_type_name),
        Column(_("Object"), "object_repr"),
        Column(_("Changes"), audit_changes, template="console/cells/changes.html"),
        Column(_("Before"), lambda entry: _messages_said(entry.before), csv_only=True),
        Column(_("After"), lambda entry: _messages_said(entry.after), csv_only=True),
    ]


class LockoutListView(FilteredListView):
    """Failed sign-ins per user name and address, and which are locked out (django-axes)."""

    title = _("Sign-in lock-outs")
    breadcrumbs = [(_("Home"), "/"), (_("Sign-in lock-outs"), None)]
    csv_filename = "sign-in-lockouts.csv"
    columns = [
        Column(_("User name"), "username", order_by="username"),
        Column(_("Address"), "ip_address", order_by="ip_address"),
        Column(_("Failed sign-ins"), "failures_since_start", order_by="failures_since_start"),
        Column(_("Last failure"), "attempt_time", order_by="attempt_time"),
        Column(_("Locked"), lambda attempt: _("Locked") if lockouts.is_locked(attempt) else ""),
        Column("", "pk", template="console/cells/lockout_lift.html"),
    ]

    def get_base_queryset(self):
        return lockouts.lockout_list()


class LockoutLiftView(ConsoleAccessMixin, View):
    """An administrator lifts a lock-out (forgets the failed sign-ins of that user name and address)."""

    write = True
    http_method_names = ["post"]

    def post(self, request, pk):
        from axes.models import AccessAttempt

        attempt = get_object_or_404(AccessAttempt, pk=pk)
        lockouts.lockout_lift(attempt=attempt, actor=request.user)
        messages.success(request, _("The lock-out is lifted."))
        return HttpResponseRedirect(reverse("sign-in-lockouts"))


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    """404: the console's page, or `{"detail": …}` under /api/ (API clients never get HTML)."""
    if _wants_json(request):
        return JsonResponse({"detail": gettext("Not found.")}, status=404)
    return defaults.page_not_found(request, exception)


def permission_denied(request, exception=None):
    if _wants_json(request):
        return JsonResponse(
            {"detail": gettext("You do not have permission to perform this action.")}, status=403
        )
    return defaults.permission_denied(request, exception)


def server_error(request):
    """500: templates/500.html, rendered without a request context; JSON under /api/."""
    if _wants_json(request):
        return JsonResponse({"detail": gettext("Server error.")}, status=500)
    return defaults.server_error(request)


# --- runs (B8) --------------------------------------------------------------------------------------------

RUN_CRUMBS = [(_("Home"), "/"), (_("Monitor"), None), (_("Runs"), reverse_lazy("runs"))]


def run_list():
    """Runs, newest first, with what their rows show already joined (one query per page)."""
    return Run.objects.select_related("vpp_token", "app", "user", "device", "requested_by")


def _run_link(run: Run) -> str:
    return reverse("run", args=[run.pk])


def _run_duration(run: Run) -> str:
    return duration_text(run.duration)


def run_columns() -> list[Column]:
    """The columns every run list shares (the sync-runs and license-runs pages add their own)."""
    return [
        Column(_("Run"), "pk", link=_run_link, order_by="id"),
        Column(_("Kind"), "get_kind_display", order_by="kind"),
        Column(_("Status"), "status", template="console/cells/run_status.html", order_by="status"),
        Column(_("Trigger"), "get_trigger_display", order_by="trigger"),
        Column(_("Progress"), "progress"),
        Column(_("Total"), "total"),
        Column(_("Succeeded"), "succeeded"),
        Column(_("Failed"), "failed"),
        Column(_("Skipped"), "skipped"),
        Column(_("Requested"), "created_at", order_by="created_at"),
        Column(_("Started"), "started_at", order_by="started_at"),
        Column(_("Finished"), "finished_at", order_by="finished_at"),
        Column(_("Duration"), _run_duration),
        Column(_("Apple error number"), "error_number"),
        Column(_("Error"), "error"),
    ]


class RunListView(FilteredListView):
    """Monitor › Runs: every background run (syncs, license actions, reconciliations, imports…)."""

    model = Run
    filterset_class = RunFilter
    title = _("Runs")
    breadcrumbs = [*RUN_CRUMBS[:-1], (_("Runs"), None)]
    csv_filename = "runs.csv"
    default_ordering = ("-created_at", "-pk")
    columns = run_columns()

    def get_base_queryset(self):
        return run_list()


class RunDetailView(ConsoleAccessMixin, DetailView):
    """One run: the live progress partial and its properties. Subclasses narrow the queryset to a kind."""

    template_name = "console/run_detail.html"
    context_object_name = "run"
    progress_template = "console/partials/run_progress.html"

    def get_queryset(self):
        return run_list()

    def get_template_names(self):
        if getattr(self.request, "htmx", False):
            return [self.progress_template]
        return [self.template_name]

    def get_breadcrumbs(self):
        return [*RUN_CRUMBS, (str(self.object), None)]

    def get_context_data(self, **kwargs):
        return super().get_context_data(title=str(self.object), **kwargs)


class RunProgressView(ConsoleAccessMixin, DetailView):
    """The live progress of one run: an htmx partial that re-polls every 2 s while the run is active."""

    template_name = "console/partials/run_progress.html"
    context_object_name = "run"

    def get_queryset(self):
        return run_list()


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What uses the key, e.g. “Inventory script”."),
    )


class ApiKeysView(ConsoleAccessMixin, TemplateView):
    """The signed-in person's API keys: create one (the key is shown once, in the answer to the creation),
    see when each was created and last used, revoke. Administrators also see and revoke everyone's keys."""

    template_name = "console/api_keys.html"
    title = _("API keys")
    breadcrumbs = [(_("Home"), "/"), (_("API keys"), None)]

    def needs_write(self, request) -> bool:
        # Help desk create and revoke their own keys too: a key has exactly its owner's rights.
        return False

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.setdefault("form", ApiKeyForm())
        context.update(
            title=self.title,
            own_keys=list(api_keys.keys_of(user)),
            all_keys=list(api_keys.all_keys()) if roles.is_administrator(user) else None,
        )
        return context

    def post(self, request):
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            try:
                key, plain = api_keys.api_key_create(
                    user=request.user, name=form.cleaned_data["name"], actor=request.user
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                # The only time the key is ever shown: this answer, never cached, never stored.
                response = self.render_to_response(
                    self.get_context_data(form=ApiKeyForm(), new_key=plain, new_key_row=key), status=201
                )
                add_never_cache_headers(response)
                return response
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ApiKeyRevokeView(ConsoleAccessMixin, View):
    """Revoke one key: its owner, or an administrator (anyone else: 404)."""

    def needs_write(self, request) -> bool:
        return False

    def post(self, request, pk):
        key = get_object_or_404(api_keys.all_keys(), pk=pk)
        if key.user_id != request.user.pk and not roles.is_administrator(request.user):
            raise Http404
        api_keys.api_key_revoke(key=key, actor=request.user)
        messages.success(request, _("The API key “%(name)s” is revoked.") % {"name": key.name})
        return HttpResponseRedirect(reverse("api-keys"))
