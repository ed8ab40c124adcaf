"""Reads of tokens and sync runs shared by the pages and the API (one query per list page)."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from tokens.models import NotificationReceipt, SyncRun, VPPToken


def token_list() -> QuerySet[VPPToken]:
    """Tokens with `app_count` (apps and books synced for the token), by name.

    The ordering is explicit: Django drops Meta.ordering from an aggregated (GROUP BY) query, and paginated
    lists need a stable order.
    """
    return VPPToken.objects.annotate(app_count=Count("apps", distinct=True)).order_by("name", "id")


def token_get(*, pk) -> VPPToken:
    """One token with `app_count`; raises VPPToken.DoesNotExist."""
    return token_list().get(pk=pk)


def sync_run_list() -> QuerySet[SyncRun]:
    """Sync runs, newest first, with their token loaded."""
    return SyncRun.objects.select_related("vpp_token", "requested_by")


def notifications_processed_since(*, token: VPPToken, since, types: tuple[str, ...]) -> list[dict]:
    """The payloads of `token`'s notifications of these types processed (not rejected) since `since`."""
    return list(
        NotificationReceipt.objects.filter(
            vpp_token=token, notification_type__in=types, processed_at__gte=since
        )
        .exclude(result__startswith="rejected")
        .values_list("payload", flat=True)
    )
