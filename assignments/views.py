"""Console pages: an app's Assignments pane, Monitor > Licenses, License runs, Reconciliation, and the POST
actions behind their buttons. Every change goes through assignments.services."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import TemplateView

from apps.models import App
from assignments import allocation, prompts, selectors, services
from assignments.filters import LicenseFilter, LicenseRunFilter
from assignments.forms import AssignmentForm
from assignments.models import Assignment, License
from console.ids import parse_id
from console.links import reverse_cached
from console.messages import render
from console.views import RunDetailView, run_columns
from console.views_base import (
    Column,
    ConsoleAccessMixin,
    FilteredListView,
    add_service_errors,
    choice_label,
    redirect_back,
)
from directory.models import Device, DirectoryUser, Group
from tokens.models import VPPToken
from tokens.views import TokenConfirmView, token_link
from vpp.errors import AppleError


def _holder(license):
    return license.device.serial_number if license.device else (license.user or license.apple_target)


def _holder_link(license) -> str | None:
    if license.device_id:
        return reverse_cached("directory:device-detail", license.device_id)
    if license.user_id:
        return reverse_cached("directory:user-detail", license.user_id)
    return None


def _error_text(license) -> str:
    """A stored error (a message code and its parameters) in the reader's language."""
    return render(license.error)


def _serial_number(license):
    """The device's serial number, or the one Apple reports for an untracked license (T9)."""
    return license.device.serial_number if license.device else license.apple_serial_number


class LicenseListView(FilteredListView):
    """Monitor > Licenses: every license, filtered by app, token, state, user, device; CSV (M1, M2, M4)."""

    filterset_class = LicenseFilter
    title = _("Licenses")
    breadcrumbs = [(_("Home"), "/"), (_("Monitor"), None), (_("Licenses"), None)]
    csv_filename = "licenses.csv"
    default_ordering = ("-updated_at", "-id")
    ids_first_orderings = ("app__name",)  # license_list_app: the ids from the index, not 5,000 rows sorted
    columns = [
        Column(
            _("App"),
            "app.name",
            link=lambda lic: reverse_cached("assignments:app-assignments", lic.app_id),
            order_by="app__name",
        ),
        Column(
            _("Token"),
            "app.vpp_token.name",
            link=lambda lic: reverse_cached("tokens:detail", lic.app.vpp_token_id),
        ),
        Column(_("License type"), lambda lic: choice_label(Assignment.LicenseType, lic.license_type)),
        Column(_("Device or user"), _holder, link=_holder_link),
        Column(_("User"), "user.display_name", csv_only=True),
        Column(_("Serial number"), _serial_number, csv_only=True),
        Column(_("Client user id at Apple"), "apple_client_user_id", csv_only=True),
        Column(
            _("State"),
            lambda lic: choice_label(License.State, lic.state),
            order_by="state",
            template="assignments/cells/state.html",
        ),
        Column(_("Error number"), "error_number"),
        Column(_("Error"), _error_text),
        Column(_("Updated"), "updated_at", order_by="updated_at"),
    ]

    def get_base_queryset(self):
        return selectors.license_table()


class LicenseRunListView(FilteredListView):
    """Monitor › License runs: the license kinds of the run list (console.views.RunListView)."""

    filterset_class = LicenseRunFilter
    title = _("License runs")
    breadcrumbs = [(_("Home"), "/"), (_("Monitor"), None), (_("License runs"), None)]
    csv_filename = "license-runs.csv"
    default_ordering = ("-created_at", "-pk")
    columns = [
        Column(_("Run"), "pk", link=lambda r: reverse("assignments:run-detail", args=[r.pk]), order_by="id"),
        *run_columns()[1:],
    ]

    def get_base_queryset(self):
        return selectors.license_run_list()


class LicenseRunDetailView(RunDetailView):
    """A license run: the run page of console.views, for license kinds only."""

    def get_queryset(self):
        return selectors.license_run_list()

    def get_breadcrumbs(self):
        return [(_("Home"), "/"), (_("License runs"), reverse("assignments:runs")), (str(self.object), None)]


class ReconciliationView(ConsoleAccessMixin, TemplateView):
    """B2: the last comparison with Apple per token, and the actions that fix drift."""

    template_name = "assignments/reconciliation.html"
    breadcrumbs = [(_("Home"), "/"), (_("Monitor"), None), (_("Reconciliation"), None)]

    def get_context_data(self, **kwargs):
        return super().get_context_data(rows=selectors.latest_reconciliations(), **kwargs)


class ReconcileActionView(ConsoleAccessMixin, View):
    write = True

    def post(self, request, token_id):
        token = get_object_or_404(VPPToken, pk=token_id)
        what = request.POST.get("action", "check")
        if what == "reclaim":
            run = services.token_reclaim_untracked(token=token, actor=request.user)
        else:
            run = services.token_reconcile(token=token, actor=request.user, repair=what == "repair")
        messages.success(request, _("Started: %(run)s") % {"run": run})
        return HttpResponseRedirect(reverse("assignments:run-detail", args=[run.pk]))


class AppAssignmentsView(ConsoleAccessMixin, TemplateView):
    """An app's Assignments pane: assignments, "Add group" with pre-flight (B3), licenses, prompts (S7)."""

    template_name = "assignments/app_assignments.html"

    def dispatch(self, request, *args, **kwargs):
        self.app = get_object_or_404(App.objects.select_related("vpp_token"), pk=kwargs["app_id"])
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs(self):
        return [
            (_("Home"), "/"),
            (_("Apps"), reverse("apps:list")),
            (str(self.app), None),
            (_("Assignments"), None),
        ]

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        licenses = selectors.license_list().filter(app=self.app)
        shown_runs = selectors.app_runs_to_show(self.app)
        context.update(
            app=self.app,
            shown_runs=shown_runs,
            # While a license run of this app is active, the figures, runs and licenses refresh together.
            live=any(run.is_active for run in shown_runs),
            assignments=selectors.assignment_list(self.app),
            form=form or AssignmentForm(),
            licenses=licenses[:50],
            license_counts={s: licenses.filter(state=s).count() for s in License.State.values},
            available=allocation.available_for(self.app),
            prompt_table=list(prompts.TABLE.values()),
            title=_("Assignments of %(app)s") % {"app": self.app},
        )
        return context

    def post(self, request, app_id):
        form = AssignmentForm(request.POST)
        if form.is_valid():
            try:
                assignment = services.assignment_create(app=self.app, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                figures = assignment.preflight
                if figures["oversubscribed"]:
                    messages.warning(
                        request,
                        _(
                            "Saved. This assignment needs %(needed)s licenses and %(available)s are "
                            "available: "
                            "the first members get licenses, the others fail with “No licenses available”."
                        )
                        % {"needed": figures["licenses_needed"], "available": figures["licenses_available"]},
                    )
                else:
                    messages.success(request, _("Assignment saved."))
                return HttpResponseRedirect(request.path)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class PreflightView(ConsoleAccessMixin, TemplateView):
    """htmx partial: "this needs N licenses, M are available" for the chosen group and license type (B3)."""

    template_name = "assignments/partials/preflight.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        app = get_object_or_404(App, pk=self.kwargs["app_id"])
        group = Group.objects.filter(pk=parse_id(self.request.GET.get("group")) or 0).first()
        license_type = self.request.GET.get("license_type", "device")
        context["figures"] = (
            allocation.preflight(app=app, group=group, license_type=license_type) if group else None
        )
        context["available_intent"] = self.request.GET.get("intent") == Assignment.Intent.AVAILABLE
        return context


class _PostAction(ConsoleAccessMixin, View):
    write = True

    def back(self, request, default="/"):
        return redirect_back(request, default)

    def run_service(self, request, func, success, **kwargs):
        try:
            result = func(actor=request.user, **kwargs)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return None
        except AppleError as exc:
            messages.error(request, str(exc))
            return None
        messages.success(request, success)
        return result


class AssignmentDeleteView(_PostAction):
    def post(self, request, pk):
        assignment = get_object_or_404(Assignment, pk=pk)
        url = reverse("assignments:app-assignments", args=[assignment.app_id])
        self.run_service(
            request,
            services.assignment_delete,
            _("Assignment removed; its licenses are being reclaimed."),
            assignment=assignment,
        )
        return HttpResponseRedirect(url)


class AssignmentAllocateView(_PostAction):
    def post(self, request, pk):
        assignment = get_object_or_404(Assignment, pk=pk)
        self.run_service(
            request, services.assignment_allocate, _("Allocation started."), assignment=assignment
        )
        return HttpResponseRedirect(reverse("assignments:app-assignments", args=[assignment.app_id]))


class LicenseRevokeView(_PostAction):
    def post(self, request, pk):
        lic = get_object_or_404(License.objects.select_related("app__vpp_token"), pk=pk)
        self.run_service(request, services.license_revoke, _("License revoke requested."), license=lic)
        return self.back(request)


class InstallView(_PostAction):
    def post(self, request, app_id):
        app = get_object_or_404(App.objects.select_related("vpp_token"), pk=app_id)
        user = DirectoryUser.objects.filter(pk=parse_id(request.POST.get("user")) or 0).first()
        device = Device.objects.filter(pk=parse_id(request.POST.get("device")) or 0).first()
        self.run_service(
            request, services.license_install, _("Install requested."), app=app, user=user, device=device
        )
        return self.back(request)


class DeviceRevokeView(_PostAction):
    def post(self, request, device_id):
        device = get_object_or_404(Device, pk=device_id)
        self.run_service(
            request, services.device_revoke_licenses, _("Revoking the device's licenses."), device=device
        )
        return self.back(request)


class UserRevokeView(_PostAction):
    def post(self, request, user_id):
        user = get_object_or_404(DirectoryUser, pk=user_id)
        self.run_service(
            request, services.user_revoke_licenses, _("Revoking the user's licenses."), user=user
        )
        return self.back(request)


class AppRevokeView(_PostAction):
    def post(self, request, app_id):
        app = get_object_or_404(App.objects.select_related("vpp_token"), pk=app_id)
        self.run_service(request, services.app_revoke_licenses, _("Revoking the app's licenses."), app=app)
        return HttpResponseRedirect(reverse("assignments:app-assignments", args=[app.pk]))


class TokenRevokeView(TokenConfirmView):
    """Revoke all licenses of a token (T14): a page of the token, served under `tokens:revoke-licenses`."""

    crumb = _("Revoke all licenses")

    def get_context_data(self, **kwargs):
        return super().get_context_data(title=_("Revoke all licenses"), action="revoke", **kwargs)

    def post(self, request, *args, **kwargs):
        token = self.get_token()
        try:
            run = services.revoke_token_licenses(token=token, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return HttpResponseRedirect(token_link(token))
        messages.success(
            request,
            gettext("Revoking all licenses of “%(name)s” (run #%(run)s).")
            % {"name": token.name, "run": run.pk},
        )
        return HttpResponseRedirect(token_link(token))
