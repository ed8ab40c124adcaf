"""Reads of monitoring: the alert lists, and everything the dashboard shows (each a bounded number of queries,
whatever the number of tokens, apps or devices)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from apps.models import App
from assignments.models import License
from console.models import Run
from deployment.models import DeviceAppState, InstallState, WebhookEvent
from monitoring import conditions
from monitoring.health import Health, token_health
from monitoring.models import Alert, ConnectorCheck, UsageSnapshot
from tokens.models import SyncRun, VPPToken

RECENT_DAYS = 7
TOP_APPS = 10


def alert_list() -> QuerySet[Alert]:
    return Alert.objects.select_related("acknowledged_by").order_by("-opened_at", "-id")


def banner_alerts() -> QuerySet[Alert]:
    return Alert.objects.filter(state=Alert.State.OPEN, acknowledged_at__isnull=True).order_by(
        "-opened_at", "-id"
    )


@dataclass
class TokenHealthRow:
    token: VPPToken
    health: Health
    last_success_at: datetime | None


def token_health_rows(now: datetime | None = None) -> list[TokenHealthRow]:
    """Every token with its health (one query)."""
    now = now or timezone.now()
    last_success = SyncRun.objects.filter(vpp_token=OuterRef("pk"), status=Run.Status.COMPLETED).order_by(
        "-finished_at"
    )
    tokens = VPPToken.objects.annotate(
        last_success_at=Subquery(last_success.values("finished_at")[:1])
    ).order_by("name", "pk")
    return [
        TokenHealthRow(
            token=t,
            health=token_health(
                state=t.state,
                expires_at=t.expires_at,
                last_sync_status=t.last_sync_status,
                last_success_at=t.last_success_at,
                created_at=t.created_at,
                now=now,
            ),
            last_success_at=t.last_success_at,
        )
        for t in tokens
    ]


def nanomdm_status() -> dict[str, Any] | None:
    """The NanoMDM connector: configured, last probe, last webhook received; None when deployment is off."""
    if not settings.NANOMDM_URL:
        return None
    check = ConnectorCheck.objects.filter(name=conditions.NANOMDM).first()
    return {
        "check": check,
        "last_webhook_at": WebhookEvent.objects.aggregate(at=Max("received_at"))["at"],
    }


def recent_since(now: datetime | None = None) -> date:
    """The first day of the dashboard's "last 7 days" (today included), in the console's time zone."""
    return timezone.localdate(now) - timedelta(days=RECENT_DAYS - 1)


def tiles(now: datetime | None = None) -> dict[str, Any]:
    since = recent_since(now)
    failed_installs = DeviceAppState.objects.filter(state=InstallState.FAILED, updated_at__date__gte=since)
    return {
        "threshold": settings.LICENSES_LOW_PERCENT,
        "since": since,
        "low_apps": conditions.low_usage_apps().count(),
        "exhausted_apps": conditions.exhausted_apps().count(),
        "failed_installs": failed_installs.count(),
        "failed_licenses": License.objects.filter(
            state=License.State.FAILED, updated_at__date__gte=since
        ).count(),
        "runs_running": Run.objects.filter(status=Run.Status.RUNNING).count(),
    }


def failed_installs_by_app(now: datetime | None = None) -> list[dict[str, Any]]:
    """Apps with installs failed in the last 7 days, most first: id, name, token, count."""
    since = recent_since(now)
    rows = (
        DeviceAppState.objects.filter(state=InstallState.FAILED, updated_at__date__gte=since)
        .values("app", "app__name", "app__vpp_token__name")
        .annotate(count=Count("id"))
        .order_by("-count", "app__name", "app")
    )
    return [
        {"id": r["app"], "name": r["app__name"], "token": r["app__vpp_token__name"], "count": r["count"]}
        for r in rows
    ]


def usage_by_token() -> list[dict[str, Any]]:
    rows = (
        App.objects.filter(is_unlimited=False)
        .values("vpp_token", "vpp_token__name")
        .annotate(total=Sum("total_licenses"), used=Sum("used_licenses"))
        .order_by("vpp_token__name", "vpp_token")
    )
    return [
        {"id": r["vpp_token"], "name": r["vpp_token__name"], "total": r["total"] or 0, "used": r["used"] or 0}
        for r in rows
    ]


def top_apps_by_usage(limit: int = TOP_APPS) -> list[App]:
    return list(
        App.objects.filter(is_unlimited=False, total_licenses__gt=0)
        .select_related("vpp_token")
        .order_by("-used_licenses", "name", "pk")[:limit]
    )


def install_states_by_app(limit: int = TOP_APPS) -> tuple[list[dict[str, Any]], list[str]]:
    """The apps with the most install states, each with its count per state; and the states shown."""
    states = [
        InstallState.INSTALLED,
        InstallState.PENDING_INSTALL,
        InstallState.FAILED,
        InstallState.NOT_INSTALLED,
    ]
    top = list(
        DeviceAppState.objects.values("app")
        .annotate(n=Count("id"))
        .order_by("-n", "app")
        .values_list("app", flat=True)[:limit]
    )
    counts = (
        DeviceAppState.objects.filter(app__in=top, state__in=states)
        .values("app", "state")
        .annotate(n=Count("id"))
    )
    names = dict(App.objects.filter(pk__in=top).values_list("pk", "name"))
    by_app: dict[int, dict[str, int]] = {pk: {} for pk in top}
    for row in counts:
        by_app[row["app"]][row["state"]] = row["n"]
    rows = [{"id": pk, "name": names.get(pk, ""), "counts": by_app[pk]} for pk in top]
    return rows, [str(s) for s in states]


def usage_history() -> list[dict[str, Any]]:
    """Licenses used and purchased per day, all tokens together (the snapshots kept)."""
    rows = UsageSnapshot.objects.values("day").annotate(total=Sum("total"), used=Sum("used")).order_by("day")
    return [{"day": r["day"], "total": r["total"] or 0, "used": r["used"] or 0} for r in rows]
