"""What is wrong right now: the alert conditions (B5), computed from the tables in a few aggregate queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count, OuterRef, Subquery

from apps import selectors as app_selectors
from apps.models import App
from deployment.models import DeviceAppState, InstallState
from monitoring.models import Alert, ConnectorCheck
from tokens.models import SyncRun, VPPToken

Kind = Alert.Kind
ObjectType = Alert.ObjectType

# Days before expiry at which a token's alert opens (30) and is raised again (14, 7, 1) (B5).
EXPIRY_THRESHOLDS = (30, 14, 7, 1)
UNUSABLE_STATES = (
    VPPToken.State.EXPIRED,
    VPPToken.State.REVOKED,
    VPPToken.State.ASSIGNED_TO_EXTERNAL_MDM,
    VPPToken.State.INVALID,
)
# An alert of the first kind clears without a "resolved" notice while one of the second holds for the same
# object: the condition got worse, it did not go away.
SUPERSEDED_BY: dict[str, str] = {
    Kind.TOKEN_EXPIRING: Kind.TOKEN_UNUSABLE,
    Kind.LICENSES_LOW: Kind.LICENSES_EXHAUSTED,
}
NANOMDM = "nanomdm"


@dataclass(frozen=True)
class Condition:
    kind: str
    object_type: str
    object_id: int | None
    object_name: str
    level: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return alert_key(self.kind, self.object_type, self.object_id)


def alert_key(kind: str, object_type: str, object_id: int | None) -> str:
    return f"{kind}:{object_type}:{'' if object_id is None else object_id}"


def expiry_threshold(expires_at: datetime, now: datetime) -> int | None:
    """The smallest of 30/14/7/1 days the token is within, or None (further away, or expired)."""
    if expires_at <= now:
        return None
    days = (expires_at - now).days
    reached = [d for d in EXPIRY_THRESHOLDS if days < d]
    return min(reached) if reached else None


def _token_conditions(now: datetime) -> list[Condition]:
    last_error = SyncRun.objects.filter(vpp_token=OuterRef("pk")).order_by("-created_at", "-id")
    tokens = VPPToken.objects.annotate(
        last_error_number=Subquery(last_error.values("error_number")[:1])
    ).only("id", "name", "state", "expires_at", "last_sync_status")
    found = []
    for token in tokens:
        if token.state in UNUSABLE_STATES or token.expires_at <= now:
            state = VPPToken.State.EXPIRED if token.expires_at <= now else token.state
            found.append(_on_token(token, Kind.TOKEN_UNUSABLE, params={"state": state}))
            continue
        threshold = expiry_threshold(token.expires_at, now)
        if threshold is not None:
            params = {"days": threshold, "expires_on": token.expires_at.date().isoformat()}
            found.append(_on_token(token, Kind.TOKEN_EXPIRING, level=threshold, params=params))
        if token.last_sync_status == VPPToken.SyncStatus.FAILED:
            params = {"error_number": token.last_error_number} if token.last_error_number else {}
            found.append(_on_token(token, Kind.SYNC_FAILED, params=params))
    return found


def _on_token(token: VPPToken, kind: str, *, level: int | None = None, params: dict[str, Any]) -> Condition:
    return Condition(kind, ObjectType.VPP_TOKEN, token.pk, token.name, level=level, params=params)


def _app_name(app: App) -> str:
    return f"{app.name or app.adam_id} · {app.vpp_token.name}"


def low_usage_apps():
    """Apps with a license count whose usage is at or above LICENSES_LOW_PERCENT (exhausted ones too)."""
    return app_selectors.with_usage_at_least(settings.LICENSES_LOW_PERCENT)


def exhausted_apps():
    return app_selectors.exhausted()


def _app_conditions() -> list[Condition]:
    found = []
    for app in low_usage_apps().select_related("vpp_token"):
        base = {"object_type": ObjectType.APP, "object_id": app.pk, "object_name": _app_name(app)}
        params = {"used": app.used_licenses, "total": app.total_licenses}
        if app.used_licenses >= app.total_licenses:
            found.append(Condition(kind=Kind.LICENSES_EXHAUSTED, params=params, **base))
        else:
            percent = app.used_licenses * 100 // app.total_licenses
            found.append(Condition(kind=Kind.LICENSES_LOW, params={**params, "percent": percent}, **base))
    failures = (
        DeviceAppState.objects.filter(state=InstallState.FAILED)
        .values("app")
        .annotate(count=Count("id"))
        .filter(count__gte=settings.ALERT_INSTALL_FAILURES)
    )
    counts = {row["app"]: row["count"] for row in failures}
    for app in App.objects.filter(pk__in=counts).select_related("vpp_token"):
        found.append(
            Condition(
                kind=Kind.INSTALL_FAILURES,
                object_type=ObjectType.APP,
                object_id=app.pk,
                object_name=_app_name(app),
                params={"count": counts[app.pk]},
            )
        )
    return found


def _mdm_conditions() -> list[Condition]:
    if not settings.NANOMDM_URL:
        return []
    check = ConnectorCheck.objects.filter(name=NANOMDM).first()
    if check is None or check.reachable:
        return []
    return [
        Condition(
            kind=Kind.MDM_UNREACHABLE,
            object_type=ObjectType.MDM_SERVER,
            object_id=None,
            object_name="NanoMDM",
        )
    ]


def current_conditions(*, now: datetime) -> list[Condition]:
    """Every condition that holds now."""
    return [*_token_conditions(now), *_app_conditions(), *_mdm_conditions()]
