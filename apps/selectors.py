"""Reads of the Apps & Books catalogue."""

from __future__ import annotations

from django.db.models import F, QuerySet
from django.db.models.functions import Lower

from apps.models import App

# Names sort as people read them: "iMovie" between "Garageband" and "Keynote", not after "Zoom".
NAME_ORDER = Lower("name")


def app_list() -> QuerySet[App]:
    """Every app and book, with its token (T12: the token's name is shown beside each app), by name
    (case-insensitive), then token.
    """
    return App.objects.select_related("vpp_token").order_by(NAME_ORDER, Lower("vpp_token__name"), "id")


def order_by_name(queryset: QuerySet[App], *, descending: bool = False) -> QuerySet[App]:
    """`queryset` by name, case-insensitive, then token and id (stable for pagination)."""
    name = NAME_ORDER.desc() if descending else NAME_ORDER.asc()
    return queryset.order_by(name, Lower("vpp_token__name"), "id")


def app_same_asset_elsewhere(app: App) -> QuerySet[App]:
    """The same Apple product bought on other tokens (T12), with their tokens."""
    return (
        App.objects.filter(adam_id=app.adam_id)
        .exclude(pk=app.pk)
        .select_related("vpp_token")
        .order_by("vpp_token__name", "pricing_param")
    )


def with_usage_at_least(percent: float, queryset: QuerySet[App] | None = None) -> QuerySet[App]:
    """Apps with a license count (not unlimited, some purchased) of which at least `percent` % are used."""
    queryset = App.objects.all() if queryset is None else queryset
    return (
        queryset.filter(is_unlimited=False, total_licenses__gt=0)
        .alias(used_hundredfold=F("used_licenses") * 100)
        .filter(used_hundredfold__gte=F("total_licenses") * percent)
    )


def exhausted(queryset: QuerySet[App] | None = None) -> QuerySet[App]:
    """Apps with a license count that have none left (every purchased license used)."""
    queryset = App.objects.all() if queryset is None else queryset
    return queryset.filter(is_unlimited=False, total_licenses__gt=0, used_licenses__gte=F("total_licenses"))


def assigned_counts(token) -> dict[tuple[str, str], int]:
    """The assigned (used) count the console holds for each asset of `token`: (adamId, pricingParam) → n."""
    rows = App.objects.filter(vpp_token=token).values_list("adam_id", "pricing_param", "used_licenses")
    return {(adam_id, pricing_param): used for adam_id, pricing_param, used in rows}
