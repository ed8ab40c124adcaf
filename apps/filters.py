"""One FilterSet for the Apps & Books pages and the apps API (UI/API parity)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps import selectors
from apps.models import App
from console.filters import AnyBooleanFilter
from console.ids import IdFilter
from console.pickers import PickerInput

PLATFORMS = [(p, p) for p in ("iOS", "macOS", "tvOS", "watchOS", "visionOS")]
LICENSING = [("device", _("Device licensing")), ("user", _("User licensing"))]


class AppFilter(django_filters.FilterSet):
    """Search by name, bundle ID or Adam ID; filter by token, type, platform, licensing and custom apps."""

    search = django_filters.CharFilter(
        method="filter_search", label=_("Search"), widget=forms.TextInput(attrs={"type": "search"})
    )
    vpp_token = IdFilter(field_name="vpp_token_id", label=_("Token"), widget=PickerInput("token"))
    product_type = django_filters.ChoiceFilter(choices=App.ProductType.choices, label=_("Type"))
    platform = django_filters.ChoiceFilter(choices=PLATFORMS, method="filter_platform", label=_("Platform"))
    licensing = django_filters.ChoiceFilter(
        choices=LICENSING, method="filter_licensing", label=_("Licensing")
    )
    custom = AnyBooleanFilter(field_name="is_custom_app", label=_("Custom (B2B) app"))
    # The dashboard's "apps at or above the usage threshold" and "exhausted apps" tiles link here.
    usage_at_least = django_filters.NumberFilter(
        method="filter_usage_at_least", label=_("Licenses used at least (%)"), min_value=0, max_value=100
    )
    exhausted = AnyBooleanFilter(method="filter_exhausted", label=_("No licenses left"))

    class Meta:
        model = App
        fields = [
            "search",
            "vpp_token",
            "product_type",
            "platform",
            "licensing",
            "custom",
            "usage_at_least",
            "exhausted",
        ]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(bundle_id__icontains=value) | Q(adam_id=value))

    def filter_platform(self, queryset, name, value):
        # `platforms` is a JSON list; matching the quoted name works on SQLite and PostgreSQL alike.
        return queryset.filter(platforms__icontains=f'"{value}"') if value else queryset

    def filter_licensing(self, queryset, name, value):
        if value == "device":
            return queryset.filter(supports_device_licensing=True)
        if value == "user":
            return queryset.filter(supports_user_licensing=True)
        return queryset

    def filter_usage_at_least(self, queryset, name, value):
        return queryset if value is None else selectors.with_usage_at_least(float(value), queryset)

    def filter_exhausted(self, queryset, name, value):
        if value is None:
            return queryset
        gone = selectors.exhausted(queryset)
        return gone if value else queryset.exclude(pk__in=gone.values("pk"))
