"""The "Add group" form of an app's Assignments pane (S1). Validation of combinations lives in the service."""

from django import forms
from django.utils.translation import gettext_lazy as _

from assignments.models import Assignment
from console.pickers import PickerInput
from directory.models import Group


class AssignmentForm(forms.Form):
    group = forms.ModelChoiceField(
        queryset=Group.objects.order_by("name"), label=_("Group"), widget=PickerInput("group")
    )
    intent = forms.ChoiceField(choices=Assignment.Intent.choices, label=_("Assignment type"))
    license_type = forms.ChoiceField(choices=Assignment.LicenseType.choices, label=_("License type"))
    uninstall_on_device_removal = forms.BooleanField(
        required=False, initial=True, label=_("Uninstall on device removal")
    )
    removable_by_user = forms.BooleanField(required=False, initial=True, label=_("Removable by user"))
    prevent_backup = forms.BooleanField(required=False, label=_("Prevent iCloud app backup"))
    prevent_automatic_updates = forms.BooleanField(required=False, label=_("Prevent automatic app updates"))
