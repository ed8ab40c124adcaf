"""The app's Device install status and User install status panes (D5, M2): filter, search, CSV export."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from apps.models import App
from console.views_base import Column, FilteredListView
from deployment import selectors, services
from deployment.filters import DeviceStateFilter, UserStateFilter
from deployment.models import InstallState


def _device_url(state) -> str:
    return reverse("directory:device-detail", args=[state.device_id])


def _user_url(state) -> str | None:
    if state.device.primary_user_id is None:
        return None
    return reverse("directory:user-detail", args=[state.device.primary_user_id])


def _user_row_url(row) -> str:
    return reverse("directory:user-detail", args=[row["device__primary_user"]])


def _state_label(value: str) -> str:
    return str(InstallState(value).label)


class _AppPane(FilteredListView):
    template_name = "deployment/status_list.html"
    pane = ""

    def dispatch(self, request, *args, **kwargs):
        self.app = get_object_or_404(App.objects.select_related("vpp_token"), pk=kwargs["app_id"])
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs(self):
        return [
            (_("Home"), "/"),
            (_("Apps"), reverse("apps:list")),
            (str(self.app), reverse("apps:detail", args=[self.app.pk])),
            (self.title, None),
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(app=self.app, pane=self.pane, mdm_configured=services.mdm_configured())
        return context


class DeviceStatusView(_AppPane):
    """D5: the install state of the app on every device it reached, with the last error in words."""

    filterset_class = DeviceStateFilter
    title = _("Device install status")
    pane = "devices"
    columns = [
        Column(_("Device"), lambda s: s.device.name or s.device.serial_number, link=_device_url),
        Column(_("Serial number"), "device.serial_number"),
        Column(_("UDID"), "device.udid"),
        Column(
            _("User"),
            lambda s: s.device.primary_user.user_principal_name if s.device.primary_user_id else "",
            link=_user_url,
        ),
        Column(_("Install state"), "get_state_display", template="deployment/cells/state.html"),
        Column(_("Error"), selectors.error_text),
        Column(_("Error code"), "error_code", csv_only=True),
        Column(_("Error domain"), "error_domain", csv_only=True),
        Column(_("Last reported"), "last_reported_at"),
    ]

    def get_base_queryset(self):
        return selectors.device_states(self.app.pk)

    @property
    def csv_filename(self):
        return f"device-install-status-{self.app.pk}.csv"


class UserStatusView(_AppPane):
    """D5: per user, the worst state of their devices and how many installed, failed or are pending."""

    filterset_class = UserStateFilter
    title = _("User install status")
    pane = "users"
    columns = [
        Column(_("User"), lambda r: r["device__primary_user__display_name"], link=_user_row_url),
        Column(_("User principal name"), lambda r: r["device__primary_user__user_principal_name"]),
        Column(
            _("Install state"),
            lambda r: _state_label(selectors.row_state(r)),
            template="deployment/cells/user_state.html",
        ),
        Column(_("Devices installed"), lambda r: r["n_installed"]),
        Column(_("Devices failed"), lambda r: r["n_failed"] + r["n_uninstall_failed"]),
        Column(_("Devices pending"), lambda r: r["n_pending_install"] + r["n_uninstall_pending"]),
    ]

    def get_base_queryset(self):
        return selectors.user_states(self.app.pk)

    @property
    def csv_filename(self):
        return f"user-install-status-{self.app.pk}.csv"
