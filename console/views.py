"""Console pages that belong to no single resource: health, audit log, API keys (the home page is `home`)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from console import api_keys, roles
from console.filters import AuditEntryFilter
from console.models import AuditEntry
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
