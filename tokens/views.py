"""Console pages: Tenant administration > Connectors and tokens > Apple VPP tokens; Monitor > Sync runs."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import DetailView, FormView, TemplateView

from console import views as console_views
from console.durations import duration_text
from console.views_base import Column, ConsoleAccessMixin, FilteredListView, add_service_errors
from tokens import kept_file, selectors, services
from tokens.countries import country_name
from tokens.filters import SyncRunFilter, VPPTokenFilter
from tokens.forms import TokenCreateForm, TokenEditForm
from tokens.models import SyncRun, VPPToken
from tokens.sync import request_sync
from vpp.tokenfile import MAX_TOKEN_FILE_BYTES

LIST_CRUMBS = [
    (_("Home"), reverse_lazy("home")),
    (_("Tenant administration"), None),
    (_("Connectors and tokens"), None),
    (_("Apple VPP tokens"), reverse_lazy("tokens:list")),
]
RUN_CRUMBS = [
    (_("Home"), reverse_lazy("home")),
    (_("Monitor"), None),
    (_("Sync runs"), reverse_lazy("tokens:sync-runs")),
]


def token_link(token: VPPToken) -> str:
    return reverse("tokens:detail", kwargs={"pk": token.pk})


def _expiry(token: VPPToken) -> str:
    days = token.days_left
    if token.expires_at and days < 0:
        return gettext("%(date)s (expired)") % {"date": token.expires_at.date().isoformat()}
    date = token.expires_at.date().isoformat()
    return gettext("%(date)s (%(days)d days left)") % {"date": date, "days": days}


class TokenListView(FilteredListView):
    model = VPPToken
    filterset_class = VPPTokenFilter
    title = _("Apple VPP tokens")
    breadcrumbs = [*LIST_CRUMBS[:-1], (_("Apple VPP tokens"), None)]
    csv_filename = "vpp-tokens.csv"
    actions_template = "tokens/partials/list_actions.html"
    default_ordering = ("name", "pk")
    columns = [
        Column(_("Name"), "name", link=token_link, order_by="name"),
        Column(_("Organization"), "organization_name", order_by="organization_name"),
        Column(_("Location"), "location_name", order_by="location_name"),
        Column(_("Apple ID"), "apple_id", order_by="apple_id"),
        Column(_("Account type"), "get_account_type_display", order_by="account_type"),
        Column(
            _("Country/region"),
            lambda token: country_name(token.country_or_region),
            order_by="country_or_region",
        ),
        Column(_("State"), "state", template="tokens/cells/state.html", order_by="state"),
        Column(_("Expires"), _expiry, order_by="expires_at", csv_value="expires_at"),
        Column(_("Last updated"), "token_uploaded_at", order_by="token_uploaded_at"),
        Column(_("Last sync"), "last_sync_at", order_by="last_sync_at"),
        Column(_("Last sync result"), "last_sync_status", template="tokens/cells/sync_status.html"),
        Column(_("Apps"), "app_count", order_by="app_count"),
    ]

    def get_base_queryset(self):
        return selectors.token_list()

    def is_live(self, objects) -> bool:
        return any(token.last_sync_status == VPPToken.SyncStatus.IN_PROGRESS for token in objects)


def _just_finished(runs: list[SyncRun]) -> SyncRun | None:
    latest = runs[0] if runs else None
    if latest is None or latest.finished_at is None:
        return None
    return latest if timezone.now() - latest.finished_at < JUST_FINISHED else None


JUST_FINISHED = timezone.timedelta(minutes=1)


class TokenDetailView(ConsoleAccessMixin, DetailView):
    template_name = "tokens/detail.html"
    context_object_name = "token"

    def get_queryset(self):
        return selectors.token_list()

    def get_breadcrumbs(self):
        return [*LIST_CRUMBS, (self.object.name, None)]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        token = self.object
        runs = list(selectors.sync_run_list().filter(vpp_token=token)[:10])
        active_run = next((r for r in runs if r.status in SyncRun.ACTIVE), None)
        context.update(
            title=token.name,
            country_name=country_name(token.country_or_region),
            apple_mismatches=apple_mismatch_texts(token),
            runs=runs,
            active_run=active_run,
            # While a sync runs the whole summary refreshes (progress, properties, history together);
            # the last refresh shows the finished run beside the figures it produced.
            shown_run=active_run or _just_finished(runs),
            live=active_run is not None,
            days_left=token.days_left,
            expiring=token.days_left < 30,
        )
        return context


def warn_if_country_differs(request, token: VPPToken) -> None:
    for text in apple_mismatch_texts(token):
        messages.warning(request, text)


def apple_mismatch_texts(token: VPPToken) -> list[str]:
    """Warnings for what was chosen for the token but differs from what Apple reports for its location."""
    texts = []
    if token.country_differs_from_apple:
        texts.append(
            gettext(
                "Apple reports %(apple)s as this location's country/region, but %(chosen)s was chosen: "
                "app details and store links come from the %(chosen)s store. Edit the token if that is not "
                "intended."
            )
            % {
                "apple": country_name(token.apple_country_or_region),
                "chosen": country_name(token.country_or_region),
            }
        )
    if token.account_type_differs_from_apple:
        texts.append(
            gettext(
                "Apple reports this location's account type as %(apple)s, but %(chosen)s was chosen. Delete "
                "the token and add it again with the right account type if that is not intended."
            )
            % {
                "apple": VPPToken.AccountType(token.apple_account_type).label,
                "chosen": token.get_account_type_display(),
            }
        )
    return texts


class _TokenFormView(ConsoleAccessMixin, FormView):
    write = True
    template_name = "tokens/form.html"

    kept: kept_file.KeptFile | None = None

    def get(self, request, *args, **kwargs):
        kept_file.forget(request.session)
        return super().get(request, *args, **kwargs)

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        if self.request.method == "POST" and not self.request.FILES.get("token_file"):
            # The file kept after the last errors stands in for a file chosen again (tokens.kept_file).
            self.kept = kept_file.find(self.request.session, self.request.POST.get("kept_file", ""))
            if self.kept is not None:
                form.fields["token_file"].required = False
        return form

    def token_file_bytes(self, form) -> bytes | None:
        """The chosen token file, else the one kept after the last errors, else None."""
        upload = form.cleaned_data.get("token_file")
        if upload:
            return services.read_token_upload(upload)
        if self.kept is not None:
            return kept_file.content(self.request.session, self.kept)
        return None

    def form_invalid_with(self, form, error: ValidationError):
        add_service_errors(form, error)
        return self.form_invalid(form)

    def form_invalid(self, form):
        upload = self.request.FILES.get("token_file")
        if "token_file" in form.errors:  # the file itself is wrong: nothing worth keeping
            kept_file.forget(self.request.session)
            self.kept = None
        elif upload and upload.size <= MAX_TOKEN_FILE_BYTES:
            upload.seek(0)
            self.kept = kept_file.keep(self.request.session, data=upload.read(), name=upload.name or "")
        return super().form_invalid(form)

    def form_succeeded(self) -> None:
        kept_file.forget(self.request.session)

    def get_context_data(self, **kwargs):
        return super().get_context_data(kept_file=self.kept, **kwargs)


class TokenCreateView(_TokenFormView):
    form_class = TokenCreateForm
    breadcrumbs = [*LIST_CRUMBS, (_("Create"), None)]

    def get_context_data(self, **kwargs):
        return super().get_context_data(title=_("Create VPP token"), create=True, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            token = services.token_create(
                file=self.token_file_bytes(form) or b"",
                name=data["name"],
                apple_id=data["apple_id"],
                country_or_region=data["country_or_region"],
                account_type=data["account_type"],
                automatic_app_updates=data["automatic_app_updates"],
                acknowledge_single_mdm=data["acknowledge_single_mdm"],
                take_control_from_external_mdm=data["take_control_from_external_mdm"],
                actor=self.request.user,
            )
        except ValidationError as error:
            return self.form_invalid_with(form, error)
        self.form_succeeded()
        messages.success(
            self.request,
            gettext("The VPP token “%(name)s” was created; its first sync has started.")
            % {"name": token.name},
        )
        warn_if_country_differs(self.request, token)
        return HttpResponseRedirect(token_link(token))


class _TokenObjectMixin:
    def get_token(self) -> VPPToken:
        if not hasattr(self, "_token"):
            self._token = get_object_or_404(VPPToken, pk=self.kwargs["pk"])
        return self._token


class TokenEditView(_TokenObjectMixin, _TokenFormView):
    form_class = TokenEditForm

    def get_breadcrumbs(self):
        token = self.get_token()
        return [*LIST_CRUMBS, (token.name, token_link(token)), (_("Edit / Renew"), None)]

    def get_initial(self):
        token = self.get_token()
        return {
            "name": token.name,
            "apple_id": token.apple_id,
            "country_or_region": token.country_or_region,
            "automatic_app_updates": "true" if token.automatic_app_updates else "false",
        }

    def get_context_data(self, **kwargs):
        return super().get_context_data(title=_("Edit / Renew VPP token"), token=self.get_token(), **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        token = self.get_token()
        try:
            renewal = self.token_file_bytes(form)
            if renewal is not None:
                token = services.token_renew(token=token, file=renewal, actor=self.request.user)
            services.token_update(
                token=token,
                actor=self.request.user,
                name=data["name"],
                apple_id=data["apple_id"],
                country_or_region=data["country_or_region"],
                automatic_app_updates=data["automatic_app_updates"],
            )
        except ValidationError as error:
            return self.form_invalid_with(form, error)
        self.form_succeeded()
        messages.success(self.request, gettext("The VPP token was saved."))
        token.refresh_from_db()
        warn_if_country_differs(self.request, token)
        return HttpResponseRedirect(token_link(token))


class TokenConfirmView(_TokenObjectMixin, ConsoleAccessMixin, TemplateView):
    """A confirmation page (GET) and the action (POST); administrators only."""

    write = True
    template_name = "tokens/confirm.html"
    crumb = ""

    def get_breadcrumbs(self):
        token = self.get_token()
        return [*LIST_CRUMBS, (token.name, token_link(token)), (self.crumb, None)]

    def get_context_data(self, **kwargs):
        return super().get_context_data(token=self.get_token(), **kwargs)


class TokenDeleteView(TokenConfirmView):
    crumb = _("Delete")

    def get_context_data(self, **kwargs):
        return super().get_context_data(title=_("Delete VPP token"), action="delete", **kwargs)

    def post(self, request, *args, **kwargs):
        token = self.get_token()
        name = token.name
        services.token_delete(token=token, actor=request.user)
        messages.success(request, gettext("The VPP token “%(name)s” was deleted.") % {"name": name})
        return HttpResponseRedirect(reverse("tokens:list"))


class TokenSyncView(_TokenObjectMixin, ConsoleAccessMixin, View):
    """Sync now (T6): POST only; an already running sync is shown instead of starting a second one."""

    write = True
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        token = self.get_token()
        _run, created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, actor=request.user)
        if created:
            messages.success(request, gettext("Sync of “%(name)s” requested.") % {"name": token.name})
        else:
            messages.info(request, gettext("A sync of “%(name)s” is already running.") % {"name": token.name})
        return HttpResponseRedirect(token_link(token))


class TokenTakeControlView(_TokenObjectMixin, ConsoleAccessMixin, View):
    """Take a token back from another MDM (T4): POST with the confirmation ticked."""

    write = True
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        token = self.get_token()
        if request.POST.get("confirm") != "1":
            messages.error(request, gettext("Tick the confirmation to take control of the token."))
            return HttpResponseRedirect(token_link(token))
        try:
            services.token_take_control(token=token, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                gettext("“%(name)s” is managed by this console again; a sync was requested.")
                % {"name": token.name},
            )
        return HttpResponseRedirect(token_link(token))


class TokenSyncAllView(ConsoleAccessMixin, View):
    write = True
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        runs = services.token_sync_all(actor=request.user)
        messages.success(request, gettext("Sync requested for %(count)d token(s).") % {"count": len(runs)})
        return HttpResponseRedirect(reverse("tokens:sync-runs"))


# --- sync runs --------------------------------------------------------------------------------------------


def _run_link(run: SyncRun) -> str:
    return reverse("tokens:sync-run", kwargs={"pk": run.pk})


class SyncRunListView(FilteredListView):
    model = SyncRun
    filterset_class = SyncRunFilter
    title = _("Sync runs")
    breadcrumbs = [*RUN_CRUMBS[:-1], (_("Sync runs"), None)]
    csv_filename = "sync-runs.csv"
    default_ordering = ("-created_at", "-pk")
    columns = [
        Column(_("Run"), "pk", link=_run_link, order_by="id"),
        Column(
            _("Token"),
            "vpp_token.name",
            link=lambda run: token_link(run.vpp_token),
            order_by="vpp_token__name",
        ),
        Column(_("Trigger"), "get_trigger_display", order_by="trigger"),
        Column(_("Status"), "status", template="tokens/cells/run_status.html", order_by="status"),
        Column(_("Progress"), "progress"),
        Column(_("Requested"), "created_at", order_by="created_at"),
        Column(_("Started"), "started_at", order_by="started_at"),
        Column(_("Finished"), "finished_at", order_by="finished_at"),
        Column(_("Duration"), lambda run: duration_text(run.duration)),
        Column(_("Assets"), "assets_count"),
        Column(_("Apps created"), "apps_created"),
        Column(_("Apps updated"), "apps_updated"),
        Column(_("Apps removed"), "apps_removed"),
        Column(_("Assignments"), "assignments_count"),
        Column(_("Users"), "users_count"),
        Column(_("Apple error number"), "error_number"),
        Column(_("Error"), "error"),
    ]

    def get_base_queryset(self):
        return selectors.sync_run_list()


class SyncRunDetailView(console_views.RunDetailView):
    """A sync run: the run page of console.views, for sync runs only."""

    def get_queryset(self):
        return selectors.sync_run_list()

    def get_breadcrumbs(self):
        return [*RUN_CRUMBS, (gettext("Run #%(id)s") % {"id": self.object.pk}, None)]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = gettext("Sync run #%(id)s") % {"id": self.object.pk}
        return context


class RunProgressView(console_views.RunProgressView):
    """The live progress of one sync run (the partial every run page uses)."""

    def get_queryset(self):
        return selectors.sync_run_list()
