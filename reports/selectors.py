"""Reads behind the reports: one queryset per report with every count its rows show already annotated.

Counts are correlated subqueries (not joins), so a row's figures never multiply one another and the number of
queries of a page does not grow with its rows.
"""

from __future__ import annotations

from django.db.models import (
    Case,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from apps.models import App
from assignments.models import Assignment, License
from console.pagination import RowCount, row_counts_by
from deployment.models import DeviceAppState, InstallState
from directory.models import GroupMembership

# The install states the reports count per app and per assignment (each count links to its rows).
COUNTED_STATES = {
    "installed": InstallState.INSTALLED,
    "failed": InstallState.FAILED,
    "pending": InstallState.PENDING_INSTALL,
}


def _count(queryset: QuerySet) -> Coalesce:
    """The number of rows of a correlated queryset, as an annotation (0 when none)."""
    counted = queryset.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def in_group(group) -> Q:
    """Install states of the devices a group reaches: its member devices and the devices of its member users
    (their primary user). `group` is an id or an OuterRef."""
    return Q(
        device_id__in=GroupMembership.objects.filter(group_id=group, device__isnull=False).values("device_id")
    ) | Q(
        device__primary_user_id__in=GroupMembership.objects.filter(group_id=group, user__isnull=False).values(
            "user_id"
        )
    )


def app_licenses() -> QuerySet[App]:
    """M1: every app (one per token), with its token, license figures, usage in percent, how many assignments
    it has and how many devices installed it, failed or are waiting for it."""
    states = {
        name: _count(DeviceAppState.objects.filter(app_id=OuterRef("pk"), state=state))
        for name, state in COUNTED_STATES.items()
    }
    usage = Case(
        When(total_licenses__gt=0, then=F("used_licenses") * 100.0 / F("total_licenses")),
        default=Value(0.0),
        output_field=FloatField(),
    )
    return (
        App.objects.select_related("vpp_token")
        .annotate(
            usage=usage,
            assignment_count=_count(Assignment.objects.filter(app_id=OuterRef("pk"))),
            **{f"{name}_count": count for name, count in states.items()},
        )
        .order_by("name", "vpp_token__name", "pk")
    )


def install_states() -> QuerySet[DeviceAppState]:
    """M2: the install state of every app on every device, with the app, its token, the device, its user."""
    return DeviceAppState.objects.select_related("app__vpp_token", "device__primary_user").order_by(
        "app__name", "device__name", "device__serial_number", "pk"
    )


def install_status_table() -> QuerySet[DeviceAppState]:
    """Install status (page and CSV): `install_states()` reading only the columns it shows and exports (not
    the token's secret, decrypted for each of 50 rows, nor the device's and user's other fields)."""
    return install_states().only(
        "app",
        "device",
        "state",
        "error_code",
        "error_domain",
        "error",
        "last_reported_at",
        "app__name",
        "app__vpp_token",
        "app__vpp_token__name",
        "device__name",
        "device__serial_number",
        "device__platform",
        "device__primary_user",
        "device__primary_user__user_principal_name",
    )


def install_state_counts(queryset: QuerySet[DeviceAppState]) -> dict[str, RowCount]:
    """How many rows of `queryset` are in each install state (every state, zero included): exact up to
    LIST_EXACT_COUNT_LIMIT, above it PostgreSQL's estimate (issue 13: a `GROUP BY` read all 100,000 rows on
    every view of the page); one query, plus one `EXPLAIN` per state past the limit."""
    return row_counts_by(queryset, "state", [state.value for state in InstallState])


def assignments() -> QuerySet[Assignment]:
    """Every assignment with its app, token and group, the group's members (targets), the licenses Apple
    assigned for it, and the install states of the group's devices for the app."""
    device_states = DeviceAppState.objects.filter(app_id=OuterRef("app_id")).filter(
        in_group(OuterRef(OuterRef("group_id")))
    )
    return (
        Assignment.objects.select_related("app__vpp_token", "group")
        .annotate(
            target_count=_count(GroupMembership.objects.filter(group_id=OuterRef("group_id"))),
            licensed_count=_count(
                License.objects.filter(assignment_id=OuterRef("pk"), state=License.State.ASSIGNED)
            ),
            installed_count=_count(device_states.filter(state=InstallState.INSTALLED)),
            failed_count=_count(device_states.filter(state=InstallState.FAILED)),
        )
        .order_by("app__name", "group__name", "pk")
    )
