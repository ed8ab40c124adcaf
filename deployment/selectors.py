"""Reads of install states for the app's panes, the device page and the API (D5, M2)."""

from __future__ import annotations

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.utils.translation import gettext as _

from assignments.models import License, LicenseDevice
from console.messages import Message
from deployment.models import SEVERITY, DeviceAppState, InstallState
from directory.models import Device


def device_states(app_id: int) -> QuerySet[DeviceAppState]:
    """The install state of one app on every device it reached, with the device and its user."""
    return (
        DeviceAppState.objects.filter(app_id=app_id)
        .select_related("device__primary_user")
        .order_by("device__name", "device__serial_number", "id")
    )


def _count(state: str) -> Count:
    return Count("id", filter=Q(state=state))


def user_states(app_id: int) -> QuerySet:
    """Per user (the devices' primary user): devices installed / failed / pending and the worst state."""
    worst = Case(
        *[When(**{f"n_{state}__gt": 0}, then=Value(rank)) for rank, state in enumerate(SEVERITY)],
        default=Value(len(SEVERITY)),
        output_field=IntegerField(),
    )
    return (
        DeviceAppState.objects.filter(app_id=app_id, device__primary_user__isnull=False)
        .values(
            "device__primary_user",
            "device__primary_user__user_principal_name",
            "device__primary_user__display_name",
        )
        .annotate(**{f"n_{state}": _count(state) for state in SEVERITY})
        .annotate(worst=worst)
        .order_by("device__primary_user__user_principal_name")
    )


def summary(app_id: int) -> dict:
    """D5: how many devices (and users) are in each install state."""
    counts = dict(
        DeviceAppState.objects.filter(app_id=app_id).values_list("state").annotate(n=Count("id")).order_by()
    )
    result = {state.value: counts.get(state.value, 0) for state in InstallState}
    users = {state.value: 0 for state in InstallState}
    for row in user_states(app_id):
        users[SEVERITY[row["worst"]].value if row["worst"] < len(SEVERITY) else "not_applicable"] += 1
    result["users"] = users
    return result


def row_state(row: dict) -> str:
    return SEVERITY[row["worst"]].value if row["worst"] < len(SEVERITY) else InstallState.NOT_APPLICABLE.value


def error_text(state: DeviceAppState) -> str:
    """The last error of an install state in words (translated where the console wrote it)."""
    if not state.error and state.error_code is None:
        return ""
    # A license's error is a stored message (said in the reader's language); the console's own are msgids.
    reason = str(state.error) if isinstance(state.error, Message) else _(state.error)
    if state.error_domain == "license":
        return _("No license: %(reason)s") % {"reason": reason}
    if state.error_domain == "console":
        return reason
    if state.error_code is not None:
        return _("%(text)s (%(domain)s error %(code)s)") % {
            "text": state.error or _("No description"),
            "domain": state.error_domain or _("device"),
            "code": state.error_code,
        }
    return state.error


def device_apps(device: Device) -> list[dict]:
    """Every app reaching a device (a license or an install state): license, install state, last error."""
    rows: dict[int, dict] = {}
    licenses = License.objects.filter(
        Q(device=device) | Q(pk__in=LicenseDevice.objects.filter(device=device).values("license_id"))
    ).select_related("app__vpp_token")
    for lic in licenses.exclude(state=License.State.REVOKED):
        rows.setdefault(lic.app_id, {"app": lic.app, "license": lic, "state": None})
    for state in DeviceAppState.objects.filter(device=device).select_related("app__vpp_token"):
        rows.setdefault(state.app_id, {"app": state.app, "license": None, "state": None})["state"] = state
    return sorted(rows.values(), key=lambda r: (r["app"].name.lower(), r["app"].pk))
