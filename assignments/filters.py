"""One FilterSet per model, shared by the console pages and the API (UI/API parity)."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from assignments.models import Assignment, License, LicenseRun
from console.ids import IdFilter
from console.pickers import PickerInput


class LicenseFilter(django_filters.FilterSet):
    """Monitor > Licenses and `licenses/`: by app, token, state, user, device."""

    app = IdFilter(field_name="app_id", label=_("App"), widget=PickerInput("app"))
    vpp_token = IdFilter(field_name="app__vpp_token_id", label=_("Token"), widget=PickerInput("token"))
    state = django_filters.ChoiceFilter(choices=License.State.choices, label=_("State"))
    license_type = django_filters.ChoiceFilter(
        choices=Assignment.LicenseType.choices, label=_("License type")
    )
    user = IdFilter(field_name="user_id", label=_("User"), widget=PickerInput("user"))
    device = IdFilter(field_name="device_id", label=_("Device"), widget=PickerInput("device"))
    serial_number = django_filters.CharFilter(
        field_name="device__serial_number", lookup_expr="iexact", label=_("Serial number")
    )
    # The dashboard's "failed licenses in the last 7 days" links here (the day, in the console's time zone).
    changed_since = django_filters.DateFilter(
        field_name="updated_at", lookup_expr="date__gte", label=_("Changed since")
    )
    # Reached from an app's Assignments pane ("licenses of this assignment"); not a field a person types.
    assignment = IdFilter(field_name="assignment_id", label=_("Assignment"), widget=forms.HiddenInput)

    class Meta:
        model = License
        fields = [
            "app",
            "vpp_token",
            "state",
            "license_type",
            "user",
            "device",
            "serial_number",
            "changed_since",
            "assignment",
        ]


class LicenseRunFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=LicenseRun.Kind.choices, label=_("Kind"))
    status = django_filters.ChoiceFilter(choices=LicenseRun.Status.choices, label=_("Status"))
    vpp_token = IdFilter(field_name="vpp_token_id", label=_("Token"), widget=PickerInput("token"))
    app = IdFilter(field_name="app_id", label=_("App"), widget=PickerInput("app"))

    class Meta:
        model = LicenseRun
        fields = ["kind", "status", "vpp_token", "app"]


class AssignmentFilter(django_filters.FilterSet):
    intent = django_filters.ChoiceFilter(choices=Assignment.Intent.choices, label=_("Intent"))
    license_type = django_filters.ChoiceFilter(
        choices=Assignment.LicenseType.choices, label=_("License type")
    )
    group = IdFilter(field_name="group_id", label=_("Group"), widget=PickerInput("group"))

    class Meta:
        model = Assignment
        fields = ["intent", "license_type", "group"]
