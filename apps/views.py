"""Apps & Books pages: the catalogue (one row per token and asset, T12), books (A4), one app (A5)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.generic import DetailView

from apps import selectors
from apps.filters import AppFilter
from apps.models import App
from console.views_base import Column, ConsoleAccessMixin, FilteredListView


def _count(field: str):
    def read(app: App):
        if app.is_unlimited and field in ("total_licenses", "available_licenses"):
            return _("Unlimited")
        return getattr(app, field)

    return read


def _licensing(app: App) -> str:
    kinds = []
    if app.supports_device_licensing:
        kinds.append(str(_("Device")))
    if app.supports_user_licensing:
        kinds.append(str(_("User")))
    return ", ".join(kinds)


def _detail_url(app: App) -> str:
    return reverse("apps:detail", args=[app.pk])


class AppListView(FilteredListView):
    """All apps and books of every token, searchable, filterable, sortable and exportable."""

    filterset_class = AppFilter
    title = _("Apps")
    csv_filename = "apps.csv"
    # No default_ordering: the selector's case-insensitive name order stands unless a column is chosen.
    breadcrumbs = [(_("Home"), "/"), (_("Apps"), None)]
    columns = [
        # The cell shows the synced icon beside the name; the CSV keeps the plain name.
        Column(
            _("Name"),
            lambda a: a.name or a.adam_id,
            link=_detail_url,
            order_by="name",
            template="apps/cells/name.html",
        ),
        Column(_("Token"), "vpp_token.name", order_by="vpp_token__name"),
        Column(_("Type"), "get_product_type_display", order_by="product_type"),
        Column(_("Bundle ID"), "bundle_id", order_by="bundle_id"),
        Column(_("Adam ID"), "adam_id", order_by="adam_id"),
        Column(_("Version"), "version"),
        Column(_("Platforms"), lambda a: ", ".join(a.platforms or [])),
        Column(_("Licensing"), _licensing),
        Column(_("Custom"), "is_custom_app", csv_only=True),
        Column(_("Total"), _count("total_licenses"), order_by="total_licenses"),
        Column(_("Used"), _count("used_licenses"), order_by="used_licenses"),
        Column(_("Available"), _count("available_licenses"), order_by="available_licenses"),
        Column(_("Store URL"), "store_url", csv_only=True),
    ]

    def get_base_queryset(self):
        return selectors.app_list()

    def get_queryset(self):
        queryset = super().get_queryset()
        ordering = self.request.GET.get("ordering", "")
        if ordering in ("name", "-name"):
            queryset = selectors.order_by_name(queryset, descending=ordering.startswith("-"))
        return queryset


class BookListView(AppListView):
    """Books only (A4: synced, assignable to users, never to devices)."""

    title = _("Books")
    csv_filename = "books.csv"
    breadcrumbs = [(_("Home"), "/"), (_("Apps"), "/apps/"), (_("Books"), None)]

    def get_base_queryset(self):
        return selectors.app_list().filter(product_type=App.ProductType.BOOK)


class AppDetailView(ConsoleAccessMixin, DetailView):
    """One app of one token: properties, icon, license counts (A5) and the other tokens that own it (T12)."""

    template_name = "apps/detail.html"
    context_object_name = "app"

    def get_queryset(self):
        return selectors.app_list()

    def get_breadcrumbs(self):
        return [(_("Home"), "/"), (_("Apps"), reverse("apps:list")), (str(self.object), None)]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = str(self.object)
        context["elsewhere"] = list(selectors.app_same_asset_elsewhere(self.object))
        context["licensing"] = _licensing(self.object)
        return context
