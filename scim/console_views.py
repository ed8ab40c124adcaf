"""Tenant administration › SCIM clients: the identity providers allowed to provision, and their tokens.

A token is shown once, in the answer to the request that issued it, and never stored readable.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import DetailView, FormView, View

from console.views_base import Column, ConsoleAccessMixin, FilteredListView, add_service_errors
from scim import services
from scim.models import ScimClient

HOME = (gettext_lazy("Home"), reverse_lazy("home"))
CLIENTS = (gettext_lazy("SCIM clients"), reverse_lazy("scim-clients:list"))


def _client_url(client: ScimClient) -> str:
    return reverse("scim-clients:detail", args=[client.pk])


def _state(client: ScimClient) -> str:
    return _("Active") if client.is_active else _("Revoked")


def _tenant_url(request) -> str:
    return request.build_absolute_uri(reverse("scim:root"))


class ScimClientForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("The identity provider, for example “Entra ID” or “Okta”."),
    )


class ScimClientListView(FilteredListView):
    model = ScimClient
    title = gettext_lazy("SCIM clients")
    breadcrumbs = [HOME, (gettext_lazy("SCIM clients"), None)]
    csv_filename = "scim-clients.csv"
    actions_template = "scim/partials/client_list_actions.html"
    default_ordering = ("name",)
    columns = [
        Column(gettext_lazy("Name"), "name", link=_client_url, order_by="name"),
        Column(gettext_lazy("State"), _state),
        Column(gettext_lazy("Token starts with"), "token_prefix"),
        Column(gettext_lazy("Token issued"), "token_issued_at", order_by="token_issued_at"),
        Column(gettext_lazy("Last used"), "last_used_at", order_by="last_used_at"),
    ]


class ScimClientDetailView(ConsoleAccessMixin, DetailView):
    model = ScimClient
    template_name = "scim/client_detail.html"
    context_object_name = "client"

    def get_breadcrumbs(self):
        return [HOME, CLIENTS, (str(self.object), None)]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["tenant_url"] = _tenant_url(self.request)
        return context


def _show_token(request, client: ScimClient, token: str):
    """The one page that shows a token; nothing keeps it afterwards."""
    response = render(
        request,
        "scim/token.html",
        {
            "client": client,
            "token": token,
            "tenant_url": _tenant_url(request),
            "breadcrumbs": [HOME, CLIENTS, (str(client), _client_url(client)), (_("Token"), None)],
        },
    )
    response["Cache-Control"] = "no-store"
    return response


class ScimClientCreateView(ConsoleAccessMixin, FormView):
    write = True
    form_class = ScimClientForm
    template_name = "directory/form.html"
    breadcrumbs = [HOME, CLIENTS, (gettext_lazy("New SCIM client"), None)]

    def form_valid(self, form):
        try:
            client, token = services.scim_client_create(
                name=form.cleaned_data["name"], actor=self.request.user
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self.form_invalid(form)
        return _show_token(self.request, client, token)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(title=_("New SCIM client"), cancel_url=reverse("scim-clients:list"))
        return context


class _ClientAction(ConsoleAccessMixin, View):
    """POST only (the buttons on the client's page); administrators only (ConsoleAccessMixin)."""

    write = True

    def post(self, request, pk: int):
        return self.perform(get_object_or_404(ScimClient, pk=pk))

    def perform(self, client: ScimClient):  # pragma: no cover - every subclass defines it
        raise NotImplementedError


class ScimClientNewTokenView(_ClientAction):
    def perform(self, client):
        return _show_token(
            self.request, client, services.scim_client_new_token(client=client, actor=self.request.user)
        )


class ScimClientRevokeView(_ClientAction):
    def perform(self, client):
        services.scim_client_revoke(client=client, actor=self.request.user)
        messages.success(
            self.request,
            _("The token of %(name)s is revoked: its requests are refused from now on.") % {"name": client},
        )
        return redirect(_client_url(client))
