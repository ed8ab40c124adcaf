"""Monitor's reports (M1, M2, M4): App licenses, Install status, Assignments, and the CSV exports the other
pages lacked (B6). Pages read through selectors; nothing here writes: the help desk sees and exports all."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import View

from apps.models import App
from assignments import selectors as assignment_selectors
from assignments.models import License
from console.links import reverse_cached
from console.messages import render
from console.pagination import RowCount
from console.views_base import Column, ConsoleAccessMixin, FilteredListView, choice_label, csv_response
from deployment import selectors as deployment_selectors
from deployment.models import InstallState
from directory import selectors as directory_selectors
from directory.models import Device, DirectoryUser, Group
from reports import selectors
from reports.filters import AppLicenseFilter, AssignmentReportFilter, InstallStatusFilter

MONITOR = [(_("Home"), "/"), (_("Monitor"), None)]


def _url(name: str, *args, **query) -> str:
    """A page's address with a query string (the rows behind a count)."""
    url = reverse(name, args=args)
    return f"{url}?{urlencode(query)}" if query else url


def _app_states_link(state) -> str:
    """Install status of the row's app (per row: one `reverse()` per page, console.links)."""
    return f"{reverse_cached('reports:install-status')}?{urlencode({'app': state.app_id})}"


def _app_link(app: App) -> str:
    return reverse("apps:detail", args=[app.pk])


def _token_link(obj) -> str:
    return reverse("tokens:detail", args=[obj.vpp_token_id])


def _states_link(state: str):
    return lambda app: _url("reports:install-status", app=app.pk, install_state=state)


# --- App licenses (M1) --------------------------------------------------------------------------------------


class AppLicensesView(FilteredListView):
    """Per app and token: licenses total, used and available, usage, assignments and installs."""

    filterset_class = AppLicenseFilter
    title = _("App licenses")
    breadcrumbs = [*MONITOR, (_("App licenses"), None)]
    csv_filename = "app-licenses.csv"
    columns = [
        Column(_("App"), "name", link=_app_link, order_by="name"),
        Column(_("Adam ID"), "adam_id", csv_only=True),
        Column(_("Type"), "get_product_type_display", order_by="product_type"),
        Column(_("Platforms"), "platforms", csv_only=True),
        Column(_("Token"), "vpp_token.name", link=_token_link, order_by="vpp_token__name"),
        # Total and available are Apple's counts of purchased seats: no rows of this console are behind them.
        Column(_("Total"), "total_licenses", order_by="total_licenses"),
        Column(
            _("Used"),
            "used_licenses",
            link=lambda app: _url("assignments:licenses", app=app.pk, state="assigned"),
            order_by="used_licenses",
        ),
        Column(_("Available"), "available_licenses", order_by="available_licenses"),
        Column(
            _("Usage (%)"),
            lambda app: round(app.usage),
            order_by="usage",
            template="reports/cells/usage.html",
        ),
        Column(
            _("Assigned"),
            lambda app: app.assignment_count > 0,
            order_by="assignment_count",
            template="reports/cells/assigned.html",
        ),
        Column(_("Assignments"), "assignment_count", csv_only=True),
        Column(_("Installed"), "installed_count", link=_states_link("installed"), order_by="installed_count"),
        Column(_("Failed"), "failed_count", link=_states_link("failed"), order_by="failed_count"),
        Column(
            _("Pending install"),
            "pending_count",
            link=_states_link("pending_install"),
            order_by="pending_count",
        ),
    ]

    def get_base_queryset(self):
        return selectors.app_licenses()


# --- Install status (M2) ------------------------------------------------------------------------------------


def _device_link(state) -> str:
    return reverse_cached("directory:device-detail", state.device_id)


def _user_link(state) -> str | None:
    user_id = state.device.primary_user_id
    return reverse_cached("directory:user-detail", user_id) if user_id else None


def _why(state) -> str:
    """Why a row is in its state, in words: the last error, or for a failure without one, that none came."""
    text = deployment_selectors.error_text(state)
    if not text and state.state in (InstallState.FAILED, InstallState.UNINSTALL_FAILED):
        return gettext("The device reported the failure without a reason.")
    return text


def _user_name(state) -> str:
    user = state.device.primary_user
    return user.user_principal_name if user else ""


class InstallStatusView(FilteredListView):
    """Every app on every device: filter by app, token, group, platform, state, device or user; counts per
    state (each a link to its rows); a failed row says why and opens the device or its user."""

    filterset_class = InstallStatusFilter
    title = _("Install status")
    breadcrumbs = [*MONITOR, (_("Install status"), None)]
    csv_filename = "install-status.csv"
    table_template = "reports/partials/install_status_table.html"
    columns = [
        Column(
            _("App"),
            "app.name",
            link=_app_states_link,
            order_by="app__name",
        ),
        Column(
            _("Token"),
            "app.vpp_token.name",
            link=lambda s: reverse_cached("tokens:detail", s.app.vpp_token_id),
            order_by="app__vpp_token__name",
        ),
        Column(
            _("Device"),
            lambda s: s.device.name or s.device.serial_number,
            link=_device_link,
            order_by="device__name",
        ),
        Column(_("Serial number"), "device.serial_number", order_by="device__serial_number"),
        Column(_("Platform"), "device.platform", order_by="device__platform"),
        Column(_("User"), _user_name, link=_user_link, order_by="device__primary_user__user_principal_name"),
        Column(
            _("Install state"),
            lambda s: choice_label(InstallState, s.state),
            order_by="state",
            template="deployment/cells/state.html",
        ),
        Column(_("Why"), _why),
        Column(_("Error code"), "error_code", csv_only=True),
        Column(_("Error domain"), "error_domain", csv_only=True),
        Column(_("Last reported"), "last_reported_at", order_by="last_reported_at"),
    ]

    def get_base_queryset(self):
        return selectors.install_status_table()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["state_counts"] = self.state_counts()
        return context

    def state_counts(self) -> list[dict]:
        """Rows per install state under every filter but the state, each with the link to those rows."""
        query = self.request.GET.copy()
        for key in ("install_state", "page", "export"):
            query.pop(key, None)
        counts: dict[str, RowCount] = {}
        filterset = InstallStatusFilter(query, queryset=selectors.install_states(), request=self.request)
        if filterset.is_valid():
            counts = selectors.install_state_counts(filterset.qs)
        current = self.request.GET.get("install_state", "")
        rows = []
        none = RowCount(0, estimated=False)
        for state, label in InstallState.choices:
            query["install_state"] = state
            count = counts.get(state, none)
            rows.append(
                {
                    "state": state,
                    "label": label,
                    "count": count.value,
                    "estimated": count.estimated,
                    "url": f"?{query.urlencode()}",
                    "current": state == current,
                }
            )
        return rows


# --- Assignments --------------------------------------------------------------------------------------------


def _group_link(assignment) -> str:
    return reverse("directory:group-detail", args=[assignment.group_id])


def _assignment_states(state: str):
    return lambda a: _url("reports:install-status", app=a.app_id, group=a.group_id, install_state=state)


class AssignmentListView(FilteredListView):
    """Every assignment: app, token, group, intent, license type, targets, licensed, installed, failed."""

    filterset_class = AssignmentReportFilter
    title = _("Assignments")
    breadcrumbs = [*MONITOR, (_("Assignments"), None)]
    csv_filename = "assignments.csv"
    columns = [
        Column(
            _("App"),
            "app.name",
            link=lambda a: reverse("assignments:app-assignments", args=[a.app_id]),
            order_by="app__name",
        ),
        Column(
            _("Token"),
            "app.vpp_token.name",
            link=lambda a: _token_link(a.app),
            order_by="app__vpp_token__name",
        ),
        Column(_("Group"), "group.name", link=_group_link, order_by="group__name"),
        Column(_("Intent"), "get_intent_display", order_by="intent"),
        Column(_("License type"), "get_license_type_display", order_by="license_type"),
        Column(_("Targets"), "target_count", link=_group_link, order_by="target_count"),
        Column(
            _("Licensed"),
            "licensed_count",
            link=lambda a: _url("assignments:licenses", assignment=a.pk, state="assigned"),
            order_by="licensed_count",
        ),
        Column(
            _("Installed"),
            "installed_count",
            link=_assignment_states("installed"),
            order_by="installed_count",
        ),
        Column(_("Failed"), "failed_count", link=_assignment_states("failed"), order_by="failed_count"),
        Column(_("Created"), "created_at", order_by="created_at"),
    ]

    def get_base_queryset(self):
        return selectors.assignments()


# --- CSV exports other pages link to (B6) -------------------------------------------------------------------


class _ExportView(FilteredListView):
    """A table of another page, downloaded as CSV (the page itself shows it with its own actions)."""

    def get(self, request, *args, **kwargs):
        return self.export_csv()


def _license_columns() -> list[Column]:
    return [
        Column(_("App"), "app.name"),
        Column(_("Token"), "app.vpp_token.name"),
        Column(_("License type"), "license_type"),
        Column(_("User"), lambda lic: lic.user.user_principal_name if lic.user_id else ""),
        Column(_("Serial number"), lambda lic: lic.device.serial_number if lic.device_id else ""),
        Column(_("Devices using it"), lambda lic: [d.serial_number for d in lic.covered_devices.all()]),
        Column(_("State"), "state"),
        Column(_("Error number"), "error_number"),
        Column(_("Error"), lambda lic: render(lic.error)),
        Column(_("Updated"), "updated_at"),
    ]


class UserLicensesExportView(_ExportView):
    """The VPP licenses table of a user's page."""

    columns = _license_columns()

    def get_base_queryset(self):
        self.holder = get_object_or_404(DirectoryUser, pk=self.kwargs["pk"])
        return assignment_selectors.holder_licenses(user=self.holder).order_by("app__name", "pk")

    @property
    def csv_filename(self):
        return f"licenses-{slugify(self.holder.user_principal_name) or self.holder.pk}.csv"


class DeviceLicensesExportView(_ExportView):
    """The VPP licenses table of a device's page (with the user licenses that cover the device, A3)."""

    columns = _license_columns()

    def get_base_queryset(self):
        self.holder = get_object_or_404(Device, pk=self.kwargs["pk"])
        return assignment_selectors.holder_licenses(device=self.holder).order_by("app__name", "pk")

    @property
    def csv_filename(self):
        return f"licenses-{slugify(self.holder.serial_number) or self.holder.pk}.csv"


class GroupMembersExportView(_ExportView):
    """A group's members in the order they joined (the order licenses are given in)."""

    columns = [
        Column(_("Member"), lambda m: str(m.user or m.device)),
        Column(
            _("User principal name or serial number"),
            lambda m: m.user.user_principal_name if m.user_id else m.device.serial_number,
        ),
        Column(_("Active"), lambda m: (m.user or m.device).is_active),
        Column(_("Joined"), "joined_at"),
    ]

    def get_base_queryset(self):
        self.group = get_object_or_404(Group, pk=self.kwargs["pk"])
        return directory_selectors.group_members(self.group)

    @property
    def csv_filename(self):
        return f"group-members-{slugify(self.group.name) or self.group.pk}.csv"


class ReconciliationDriftExportView(ConsoleAccessMixin, View):
    """B2, B6: the drift the last reconciliation of each token found, one row per license or assignment."""

    def get(self, request):
        header = [
            _("Token"),
            _("Last check"),
            _("Drift"),
            _("App"),
            _("Adam ID"),
            _("Target"),
            _("Target known"),
        ]
        return csv_response(header, _drift_rows(), "reconciliation-drift.csv")


def _drift_rows():
    reconciled = [(token, run) for token, run in assignment_selectors.latest_reconciliations() if run]
    apps = {
        (app.vpp_token_id, app.adam_id, app.pricing_param): app.name
        for app in App.objects.filter(vpp_token__in=[token for token, _run in reconciled])
    }
    missing_ids = [pk for _token, run in reconciled for pk in (run.summary or {}).get("missing", [])]
    missing = {lic.pk: lic for lic in assignment_selectors.license_list().filter(pk__in=missing_ids)}
    for token, run in reconciled:
        summary = run.summary or {}
        for adam, pricing, kind, target, known in summary.get("untracked", []):
            what = _("Serial number") if kind == "s" else _("Apple user")
            yield [
                token.name,
                run.created_at,
                _("Untracked: held at Apple, not by this console"),
                apps.get((token.pk, adam, pricing), ""),
                adam,
                f"{what}: {target}",
                bool(known),
            ]
        for pk in summary.get("missing", []):
            lic: License | None = missing.get(pk)
            if lic is None:
                continue
            holder = (
                lic.device.serial_number
                if lic.device_id
                else (lic.user.user_principal_name if lic.user_id else "")
            )
            yield [
                token.name,
                run.created_at,
                _("Missing at Apple"),
                lic.app.name,
                lic.app.adam_id,
                holder,
                True,
            ]
