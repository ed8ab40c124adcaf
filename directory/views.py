"""Console pages of the directory: users, devices, groups and their members, and CSV import."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.forms.models import model_to_dict
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import DetailView, FormView, TemplateView

from console.ids import parse_id
from console.views_base import Column, ConsoleAccessMixin, FilteredListView, add_service_errors
from directory import csv_import, selectors, services
from directory.filters import DeviceFilter, DirectoryUserFilter, GroupFilter
from directory.forms import AddMembersForm, DeviceForm, DirectoryUserForm, GroupForm, ImportForm
from directory.models import Device, DirectoryUser, Group

HOME = (gettext_lazy("Home"), reverse_lazy("home"))
USERS = (gettext_lazy("Users"), reverse_lazy("directory:users"))
DEVICES = (gettext_lazy("Devices"), reverse_lazy("directory:devices"))
GROUPS = (gettext_lazy("Groups"), reverse_lazy("directory:groups"))
IMPORT_SESSION_KEY = "directory_import"


def _yes_no(value: bool) -> str:
    return _("Yes") if value else _("No")


# --- generic pieces ------------------------------------------------------------------------------------
class ServiceFormView(ConsoleAccessMixin, FormView):
    """A create/edit page: the form checks formats, the service applies the change (or refuses it)."""

    write = True
    template_name = "directory/form.html"
    title: Any = ""
    success_message: Any = ""

    def perform(self, data: dict):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def form_valid(self, form):
        try:
            obj = self.perform(form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message % {"name": obj})
        return redirect(self.success_url_for(obj))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = self.title
        context["cancel_url"] = self.get_breadcrumbs()[-2][1]
        return context


class ConfirmView(ConsoleAccessMixin, TemplateView):
    """GET shows what will happen; POST does it."""

    write = True
    template_name = "directory/confirm.html"
    model: Any = None
    title: Any = ""
    question: Any = ""
    danger = True

    def get_object(self):
        return get_object_or_404(self.model, pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        self.object = getattr(self, "object", None) or self.get_object()
        context.update(object=self.object, title=self.title, question=self.question % {"name": self.object})
        context["danger"] = self.danger
        context["cancel_url"] = self.get_breadcrumbs()[-2][1]
        return context

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        try:
            url = self.perform(self.object)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            return redirect(self.object_url(self.object))
        return redirect(url)


# --- users ---------------------------------------------------------------------------------------------
def _user_url(user) -> str:
    return reverse("directory:user-detail", args=[user.pk])


class UserListView(FilteredListView):
    model = DirectoryUser
    filterset_class = DirectoryUserFilter
    title = gettext_lazy("Users")
    breadcrumbs = [HOME, (gettext_lazy("Users"), None)]
    csv_filename = "users.csv"
    actions_template = "directory/partials/user_list_actions.html"
    default_ordering = ("display_name", "id")
    columns = [
        Column(gettext_lazy("Display name"), "display_name", link=_user_url, order_by="display_name"),
        Column(gettext_lazy("User principal name"), "user_principal_name", order_by="user_principal_name"),
        Column(gettext_lazy("Email"), "email", csv_only=True),
        Column(gettext_lazy("Apple ID"), "managed_apple_id", order_by="managed_apple_id"),
        Column(gettext_lazy("Active"), lambda u: _yes_no(u.is_active), order_by="is_active"),
        Column(gettext_lazy("Devices"), "device_count", order_by="device_count"),
        Column(gettext_lazy("Groups"), "group_count", order_by="group_count"),
    ]

    def get_base_queryset(self):
        return selectors.user_list()


class UserDetailView(ConsoleAccessMixin, DetailView):
    template_name = "directory/user_detail.html"
    context_object_name = "directory_user"

    def get_queryset(self):
        return selectors.user_list()

    def get_breadcrumbs(self):
        return [HOME, USERS, (str(self.object), None)]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["memberships"] = selectors.user_memberships(self.object)
        context["devices"] = self.object.devices.order_by("name", "serial_number")
        return context


class UserCreateView(ServiceFormView):
    form_class = DirectoryUserForm
    title = gettext_lazy("New user")
    success_message = gettext_lazy("User %(name)s created.")
    breadcrumbs = [HOME, USERS, (gettext_lazy("New user"), None)]

    def perform(self, data):
        return services.user_create(**data, actor=self.request.user)

    def success_url_for(self, obj):
        return _user_url(obj)


class UserUpdateView(ServiceFormView):
    form_class = DirectoryUserForm
    title = gettext_lazy("Edit user")
    success_message = gettext_lazy("User %(name)s saved.")

    def dispatch(self, request, *args, **kwargs):
        self.object = get_object_or_404(DirectoryUser, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs(self):
        return [HOME, USERS, (str(self.object), _user_url(self.object)), (_("Edit"), None)]

    def get_initial(self):
        return model_to_dict(self.object, fields=DirectoryUserForm._meta.fields)

    def perform(self, data):
        return services.user_update(user=self.object, data=data, actor=self.request.user)

    def success_url_for(self, obj):
        return _user_url(obj)


class UserDeactivateView(ConfirmView):
    model = DirectoryUser
    title = gettext_lazy("Deactivate user")
    question = gettext_lazy(
        "Deactivate %(name)s? They keep their group memberships, but lose their user licenses, which "
        "return to the pool."
    )

    def get_breadcrumbs(self):
        obj = self.get_object()
        return [HOME, USERS, (str(obj), _user_url(obj)), (_("Deactivate"), None)]

    def object_url(self, obj):
        return _user_url(obj)

    def perform(self, obj):
        services.user_deactivate(user=obj, actor=self.request.user)
        messages.success(self.request, _("User %(name)s deactivated.") % {"name": obj})
        return _user_url(obj)


class UserReactivateView(UserDeactivateView):
    title = gettext_lazy("Reactivate user")
    question = gettext_lazy("Reactivate %(name)s? They become a target of their groups' assignments again.")
    danger = False

    def get_breadcrumbs(self):
        obj = self.get_object()
        return [HOME, USERS, (str(obj), _user_url(obj)), (_("Reactivate"), None)]

    def perform(self, obj):
        services.user_reactivate(user=obj, actor=self.request.user)
        messages.success(self.request, _("User %(name)s reactivated.") % {"name": obj})
        return _user_url(obj)


# --- devices -------------------------------------------------------------------------------------------
def _device_url(device) -> str:
    return reverse("directory:device-detail", args=[device.pk])


class DeviceListView(FilteredListView):
    model = Device
    filterset_class = DeviceFilter
    title = gettext_lazy("Devices")
    breadcrumbs = [HOME, (gettext_lazy("Devices"), None)]
    csv_filename = "devices.csv"
    actions_template = "directory/partials/device_list_actions.html"
    default_ordering = ("name", "serial_number")
    columns = [
        Column(gettext_lazy("Name"), "name", link=_device_url, order_by="name"),
        Column(gettext_lazy("Serial number"), "serial_number", order_by="serial_number"),
        Column(gettext_lazy("Model"), "model", order_by="model"),
        Column(gettext_lazy("Platform"), "platform", order_by="platform"),
        Column(gettext_lazy("OS version"), "os_version", order_by="os_version"),
        Column(gettext_lazy("Ownership"), "get_ownership_display", order_by="ownership"),
        Column(gettext_lazy("Supervised"), lambda d: _yes_no(d.supervised), order_by="supervised"),
        Column(gettext_lazy("Kiosk mode"), lambda d: _yes_no(d.kiosk_mode), csv_only=True),
        Column(gettext_lazy("DEP enrolled"), lambda d: _yes_no(d.dep_enrolled), order_by="dep_enrolled"),
        Column(
            gettext_lazy("Primary user"), "primary_user.display_name", order_by="primary_user__display_name"
        ),
        Column(gettext_lazy("App Store allowed"), lambda d: _yes_no(d.app_store_allowed), csv_only=True),
        Column(gettext_lazy("Active"), lambda d: _yes_no(d.is_active), order_by="is_active"),
    ]

    def get_base_queryset(self):
        return selectors.device_list()


class DeviceDetailView(ConsoleAccessMixin, DetailView):
    template_name = "directory/device_detail.html"
    context_object_name = "device"

    def get_queryset(self):
        return selectors.device_list()

    def get_breadcrumbs(self):
        return [HOME, DEVICES, (str(self.object), None)]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["memberships"] = selectors.device_memberships(self.object)
        return context


class DeviceCreateView(ServiceFormView):
    form_class = DeviceForm
    title = gettext_lazy("New device")
    success_message = gettext_lazy("Device %(name)s created.")
    breadcrumbs = [HOME, DEVICES, (gettext_lazy("New device"), None)]

    def perform(self, data):
        return services.device_create(**data, actor=self.request.user)

    def success_url_for(self, obj):
        return _device_url(obj)


class DeviceUpdateView(ServiceFormView):
    form_class = DeviceForm
    title = gettext_lazy("Edit device")
    success_message = gettext_lazy("Device %(name)s saved.")

    def dispatch(self, request, *args, **kwargs):
        self.object = get_object_or_404(Device, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs(self):
        return [HOME, DEVICES, (str(self.object), _device_url(self.object)), (_("Edit"), None)]

    def get_initial(self):
        return model_to_dict(self.object, fields=DeviceForm._meta.fields)

    def perform(self, data):
        return services.device_update(device=self.object, data=data, actor=self.request.user)

    def success_url_for(self, obj):
        return _device_url(obj)


class DeviceRetireView(ConfirmView):
    model = Device
    title = gettext_lazy("Retire device")
    question = gettext_lazy(
        "Retire %(name)s? It leaves management: its device licenses are reclaimed and return to the pool. "
        "This cannot be undone."
    )

    def get_breadcrumbs(self):
        obj = self.get_object()
        return [HOME, DEVICES, (str(obj), _device_url(obj)), (_("Retire"), None)]

    def object_url(self, obj):
        return _device_url(obj)

    def perform(self, obj):
        services.device_retire(device=obj, actor=self.request.user)
        messages.success(self.request, _("Device %(name)s retired.") % {"name": obj})
        return _device_url(obj)


# --- groups --------------------------------------------------------------------------------------------
def _group_url(group) -> str:
    return reverse("directory:group-detail", args=[group.pk])


class GroupListView(FilteredListView):
    model = Group
    filterset_class = GroupFilter
    title = gettext_lazy("Groups")
    breadcrumbs = [HOME, (gettext_lazy("Groups"), None)]
    csv_filename = "groups.csv"
    actions_template = "directory/partials/group_list_actions.html"
    default_ordering = ("name", "id")
    columns = [
        Column(gettext_lazy("Name"), "name", link=_group_url, order_by="name"),
        Column(gettext_lazy("Type"), "get_group_type_display", order_by="group_type"),
        Column(gettext_lazy("Members"), "member_count", order_by="member_count"),
        Column(gettext_lazy("Description"), "description"),
        Column(gettext_lazy("Created"), "created_at", order_by="created_at", csv_only=True),
    ]

    def get_base_queryset(self):
        return selectors.group_list()


class GroupDetailView(ConsoleAccessMixin, DetailView):
    """The group's properties and its members in join order (the order licenses are handed out, S6)."""

    template_name = "directory/group_detail.html"
    context_object_name = "group"
    members_per_page = 100

    def get_queryset(self):
        return selectors.group_list()

    def get_breadcrumbs(self):
        return [HOME, GROUPS, (str(self.object), None)]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # The identity provider owns its groups: no edit, delete or member changes here (the service refuses).
        context["can_change"] = context["can_change"] and not self.object.managed_by_identity_provider
        paginator = Paginator(selectors.group_members(self.object), self.members_per_page)
        page = paginator.get_page(self.request.GET.get("page"))
        context.update(members_page=page, first_position=page.start_index())
        if context["can_change"]:
            context["add_form"] = AddMembersForm(group=self.object)
        return context


class GroupCreateView(ServiceFormView):
    form_class = GroupForm
    title = gettext_lazy("New group")
    success_message = gettext_lazy("Group %(name)s created.")
    breadcrumbs = [HOME, GROUPS, (gettext_lazy("New group"), None)]

    def perform(self, data):
        return services.group_create(**data, actor=self.request.user)

    def success_url_for(self, obj):
        return _group_url(obj)


class GroupUpdateView(ServiceFormView):
    form_class = GroupForm
    title = gettext_lazy("Edit group")
    success_message = gettext_lazy("Group %(name)s saved.")

    def dispatch(self, request, *args, **kwargs):
        self.object = get_object_or_404(Group, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_breadcrumbs(self):
        return [HOME, GROUPS, (str(self.object), _group_url(self.object)), (_("Edit"), None)]

    def get_initial(self):
        return model_to_dict(self.object, fields=GroupForm._meta.fields)

    def perform(self, data):
        return services.group_update(group=self.object, data=data, actor=self.request.user)

    def success_url_for(self, obj):
        return _group_url(obj)


class GroupDeleteView(ConfirmView):
    model = Group
    title = gettext_lazy("Delete group")
    question = gettext_lazy(
        "Delete the group %(name)s? Its members stay in the directory; only the group and its memberships "
        "go. A group that apps are assigned to cannot be deleted."
    )

    def get_breadcrumbs(self):
        obj = self.get_object()
        return [HOME, GROUPS, (str(obj), _group_url(obj)), (_("Delete"), None)]

    def object_url(self, obj):
        return _group_url(obj)

    def perform(self, obj):
        name = str(obj)
        services.group_delete(group=obj, actor=self.request.user)
        messages.success(self.request, _("Group %(name)s deleted.") % {"name": name})
        return reverse("directory:groups")


class GroupAddMembersView(ConsoleAccessMixin, FormView):
    """Add users or devices (one UPN or serial number per line), in the order given."""

    write = True
    form_class = AddMembersForm
    template_name = "directory/form.html"

    def dispatch(self, request, *args, **kwargs):
        self.group = get_object_or_404(Group, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "group": self.group}

    def get_breadcrumbs(self):
        return [HOME, GROUPS, (str(self.group), _group_url(self.group)), (_("Add members"), None)]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            title=_("Add members to %(group)s") % {"group": self.group}, cancel_url=_group_url(self.group)
        )
        return context

    def form_valid(self, form):
        members = form.cleaned_data["members"]
        is_users = self.group.group_type == Group.GroupType.USER
        try:
            added = services.group_add_members(
                group=self.group,
                users=members if is_users else (),
                devices=() if is_users else members,
                actor=self.request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, _("%(count)d member(s) added.") % {"count": len(added)})
        return redirect(_group_url(self.group))


class GroupRemoveMembersView(ConsoleAccessMixin, TemplateView):
    """POST the membership ids to remove (the checkboxes of the group page)."""

    write = True
    http_method_names = ["post"]

    def post(self, request, pk):
        group = get_object_or_404(Group, pk=pk)
        chosen = group.memberships.filter(
            pk__in=[i for v in request.POST.getlist("membership") if (i := parse_id(v))]
        )
        users = [m.user for m in chosen.select_related("user") if m.user_id]
        devices = [m.device for m in chosen.select_related("device") if m.device_id]
        if not users and not devices:
            messages.error(request, _("Choose the members to remove."))
            return redirect(_group_url(group))
        count = services.group_remove_members(group=group, users=users, devices=devices, actor=request.user)
        messages.success(request, _("%(count)d member(s) removed.") % {"count": count})
        return redirect(_group_url(group))


# --- CSV import ----------------------------------------------------------------------------------------
PREVIEW_ROWS = 500
# Preview values that hold a directory object's id: shown by name, never as the id.
_REFERENCES = {"primary_user": "user", "user": "user", "device": "device", "group": "group"}


def _preview_rows(rows) -> list[tuple[Any, list[tuple[str, str]]]]:
    """Each preview row with the values a person reads: names for references, yes/no, empty cells left out."""
    wanted: dict[str, set[int]] = {"user": set(), "device": set(), "group": set()}
    for row in rows:
        for key, value in row.values.items():
            if key in _REFERENCES and isinstance(value, int):
                wanted[_REFERENCES[key]].add(value)
    names: dict[str, dict[int, str]] = {
        "user": dict(
            DirectoryUser.objects.filter(pk__in=wanted["user"]).values_list("pk", "user_principal_name")
        ),
        "device": dict(Device.objects.filter(pk__in=wanted["device"]).values_list("pk", "serial_number")),
        "group": dict(Group.objects.filter(pk__in=wanted["group"]).values_list("pk", "name")),
    }
    shown_rows = []
    for row in rows:
        shown = []
        for key, value in row.values.items():
            if value is None or value == "":
                continue
            if key in _REFERENCES and isinstance(value, int):
                text = names[_REFERENCES[key]].get(value, "")
            elif isinstance(value, bool):
                text = _("Yes") if value else _("No")
            else:
                text = str(value)
            if text:
                shown.append((key, text))
        shown_rows.append((row, shown))
    return shown_rows


class ImportView(ConsoleAccessMixin, FormView):
    """Upload → preview → confirm. The pending file waits in the session; confirming validates it again."""

    write = True
    form_class = ImportForm
    template_name = "directory/import.html"
    breadcrumbs = [HOME, USERS, (gettext_lazy("Import"), None)]

    def get_initial(self):
        kind = self.request.GET.get("kind")
        return {"kind": kind} if kind in csv_import.KINDS else {}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(title=_("Import from CSV"), columns=csv_import.COLUMNS, kinds=csv_import.KINDS)
        return context

    def post(self, request, *args, **kwargs):
        if "confirm" in request.POST:
            return self.confirm()
        if "cancel" in request.POST:
            request.session.pop(IMPORT_SESSION_KEY, None)
            return redirect("directory:import")
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        kind = form.cleaned_data["kind"]
        raw = form.cleaned_data["file"].read()
        result = csv_import.preview(kind, raw)
        context = self.get_context_data(
            form=form,
            preview=result,
            preview_rows=_preview_rows(result.rows[:PREVIEW_ROWS]),
            counts=result.counts(),
            kind_label=csv_import.KINDS[kind],
        )
        if result.is_valid:
            self.request.session[IMPORT_SESSION_KEY] = {"kind": kind, "content": raw.decode("utf-8-sig")}
        else:
            self.request.session.pop(IMPORT_SESSION_KEY, None)
        return self.render_to_response(context)

    def confirm(self):
        pending = self.request.session.get(IMPORT_SESSION_KEY)
        if not pending:
            messages.error(self.request, _("There is no file waiting to be imported; upload it again."))
            return redirect("directory:import")
        try:
            result = csv_import.import_apply(
                kind=pending["kind"], content=pending["content"], actor=self.request.user
            )
        except ValidationError as exc:
            self.request.session.pop(IMPORT_SESSION_KEY, None)
            messages.error(self.request, _("Nothing was imported: the directory changed since the preview."))
            for message in exc.messages[:20]:
                messages.error(self.request, message)
            return redirect("directory:import")
        self.request.session.pop(IMPORT_SESSION_KEY, None)
        counts = result.counts()
        messages.success(
            self.request,
            _("Imported: %(create)d created, %(update)d updated, %(add)d added, %(unchanged)d unchanged.")
            % counts,
        )
        target = {csv_import.USERS: "directory:users", csv_import.DEVICES: "directory:devices"}
        return redirect(target.get(pending["kind"], "directory:groups"))
