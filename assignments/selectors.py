"""Reads for pages and API: querysets with what their rows show already joined (no N+1)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from assignments.models import Assignment, License, LicenseRun
from tokens.models import VPPToken


def license_list():
    return License.objects.select_related(
        "app__vpp_token", "device", "user", "assignment__group"
    ).prefetch_related("covered_devices")


def license_table():
    """Monitor › Licenses (page and CSV): the columns it shows and exports, and no more. The token's secret
    is not read (decrypting it for each of 50 rows was a tenth of the page), nor the license's covered
    devices or assignment, which the page does not show."""
    return License.objects.select_related("app__vpp_token", "device", "user").only(
        "app",
        "license_type",
        "user",
        "device",
        "apple_serial_number",
        "apple_client_user_id",
        "state",
        "error_number",
        "error",
        "updated_at",
        "app__name",
        "app__vpp_token",
        "app__vpp_token__name",
        "device__serial_number",
        "user__display_name",
    )


def license_run_list():
    return LicenseRun.objects.select_related("vpp_token", "app", "user", "device", "requested_by")


def assignment_list(app=None):
    qs = Assignment.objects.select_related("app__vpp_token", "group")
    return qs.filter(app=app) if app is not None else qs


def holder_licenses(*, user=None, device=None):
    """Licenses of one user or one device (for their pages), newest first.

    A device's licenses include the user licenses that cover it (A3).
    """
    qs = license_list()
    if user is not None:
        return qs.filter(user=user)
    return qs.filter(Q(device=device) | Q(device_links__device=device)).distinct()


def available_assignments_for(*, user=None, device=None):
    """Available (install-on-request) assignments whose group covers the holder, for the install buttons."""
    if device is not None:
        cover = Q(group__memberships__device=device)
        if device.primary_user_id:
            cover |= Q(group__memberships__user_id=device.primary_user_id)
    else:
        cover = Q(group__memberships__user=user, license_type="user") | Q(
            group__memberships__device__primary_user=user, license_type="user"
        )
    return (
        Assignment.objects.filter(cover, intent=Assignment.Intent.AVAILABLE)
        .select_related("app__vpp_token", "group")
        .distinct()
    )


def latest_reconciliations():
    """The last reconciliation run of each token."""
    runs = {}
    for run in LicenseRun.objects.filter(kind=LicenseRun.Kind.RECONCILE).select_related("vpp_token"):
        runs.setdefault(run.vpp_token_id, run)
    return [(token, runs.get(token.pk)) for token in VPPToken.objects.all()]


JUST_FINISHED = timedelta(minutes=1)


def app_runs_to_show(app) -> list[LicenseRun]:
    """The app's license runs a person waits on: the active ones and those finished in the last minute."""
    recent = Q(status__in=LicenseRun.ACTIVE) | Q(finished_at__gte=timezone.now() - JUST_FINISHED)
    return list(license_run_list().filter(recent, app=app).order_by("-pk")[:3])
