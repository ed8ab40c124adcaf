"""One FilterSet per report, shared by its page and its API endpoint (UI/API parity)."""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from apps import selectors as app_selectors
from apps.filters import PLATFORMS
from apps.models import App
from assignments.models import Assignment
from console.filters import AnyBooleanFilter
from console.ids import IdFilter
from console.pickers import PickerInput
from deployment.models import DeviceAppState, InstallState
from directory.models import Device
from reports import selectors


class AppLicenseFilter(django_filters.FilterSet):
    """M1: by token, product type, platform, usage at or above a percentage, assigned or not."""

    vpp_token = IdFilter(field_name="vpp_token_id", label=_("Token"), widget=PickerInput("token"))
    product_type = django_filters.ChoiceFilter(choices=App.ProductType.choices, label=_("Type"))
    platform = django_filters.ChoiceFilter(choices=PLATFORMS, method="filter_platform", label=_("Platform"))
    usage_at_least = django_filters.NumberFilter(
        method="filter_usage_at_least",
        label=_("Usage at or above (%)"),
        min_value=0,
        max_value=100,
        widget=forms.NumberInput(attrs={"min": 0, "max": 100, "step": 1}),
    )
    assigned = AnyBooleanFilter(method="filter_assigned", label=_("Assigned"))

    class Meta:
        model = App
        fields = ["vpp_token", "product_type", "platform", "usage_at_least", "assigned"]

    def filter_usage_at_least(self, queryset, name, value):
        # The same rule as the dashboard's tile and the licenses-low alert (apps.selectors).
        return queryset if value is None else app_selectors.with_usage_at_least(float(value), queryset)

    def filter_platform(self, queryset, name, value):
        # `platforms` is a JSON list; matching the quoted name works on SQLite and PostgreSQL alike.
        return queryset.filter(platforms__icontains=f'"{value}"') if value else queryset

    def filter_assigned(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(assignment_count__gt=0) if value else queryset.filter(assignment_count=0)


class InstallStatusFilter(django_filters.FilterSet):
    """M2: by app, token, group, platform, install state, device and user (pickers, never typed ids)."""

    app = IdFilter(field_name="app_id", label=_("App"), widget=PickerInput("app"))
    vpp_token = IdFilter(field_name="app__vpp_token_id", label=_("Token"), widget=PickerInput("token"))
    group = IdFilter(method="filter_group", label=_("Group"), widget=PickerInput("group"))
    platform = django_filters.ChoiceFilter(
        field_name="device__platform", choices=Device.Platform.choices, label=_("Platform")
    )
    install_state = django_filters.ChoiceFilter(
        field_name="state", choices=InstallState.choices, label=_("Install state")
    )
    device = IdFilter(field_name="device_id", label=_("Device"), widget=PickerInput("device"))
    user = IdFilter(field_name="device__primary_user_id", label=_("User"), widget=PickerInput("user"))

    class Meta:
        model = DeviceAppState
        fields = ["app", "vpp_token", "group", "platform", "install_state", "device", "user"]

    def filter_group(self, queryset, name, value):
        return queryset.filter(selectors.in_group(value)) if value else queryset


class AssignmentReportFilter(django_filters.FilterSet):
    """The global list of assignments: by app, token, group, intent and license type."""

    app = IdFilter(field_name="app_id", label=_("App"), widget=PickerInput("app"))
    vpp_token = IdFilter(field_name="app__vpp_token_id", label=_("Token"), widget=PickerInput("token"))
    group = IdFilter(field_name="group_id", label=_("Group"), widget=PickerInput("group"))
    intent = django_filters.ChoiceFilter(choices=Assignment.Intent.choices, label=_("Intent"))
    license_type = django_filters.ChoiceFilter(
        choices=Assignment.LicenseType.choices, label=_("License type")
    )

    class Meta:
        model = Assignment
        fields = ["app", "vpp_token", "group", "intent", "license_type"]
