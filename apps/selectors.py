"""Reads of the Apps & Books catalogue."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.models import App


def app_list() -> QuerySet[App]:
    """Every app and book, with its token (T12: the token's name is shown beside each app)."""
    return App.objects.select_related("vpp_token")


def app_same_asset_elsewhere(app: App) -> QuerySet[App]:
    """The same Apple product bought on other tokens (T12), with their tokens."""
    return (
        App.objects.filter(adam_id=app.adam_id)
        .exclude(pk=app.pk)
        .select_related("vpp_token")
        .order_by("vpp_token__name", "pricing_param")
    )
