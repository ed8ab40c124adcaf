"""Console forms. They check field formats only; uniqueness and the other rules are in the services."""

from __future__ import annotations

from django import forms
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from console.pickers import PickerInput
from directory import csv_import
from directory.models import Device, DirectoryUser, Group


class _ServiceValidatedModelForm(forms.ModelForm):
    """A ModelForm leaving uniqueness to the service, so the messages are the same everywhere."""

    def validate_unique(self):
        pass

    def validate_constraints(self):
        pass


class DirectoryUserForm(_ServiceValidatedModelForm):
    class Meta:
        model = DirectoryUser
        fields = ["user_principal_name", "display_name", "email", "managed_apple_id"]


class DeviceForm(_ServiceValidatedModelForm):
    class Meta:
        model = Device
        fields = [
            "serial_number", "name", "model", "platform", "os_version", "ownership", "supervised",
            "kiosk_mode", "dep_enrolled", "primary_user", "app_store_allowed",
        ]  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["primary_user"].queryset = DirectoryUser.objects.filter(is_active=True)
        self.fields["primary_user"].widget = PickerInput("user")


class GroupForm(_ServiceValidatedModelForm):
    class Meta:
        model = Group
        fields = ["name", "group_type", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class AddMembersForm(forms.Form):
    members = forms.CharField(
        label=_("Members"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "One per line: user principal names for a user group, serial numbers for a device group."
        ),
    )

    def __init__(self, *args, group: Group, **kwargs):
        super().__init__(*args, **kwargs)
        self.group = group

    def clean_members(self):
        keys = [line.strip() for line in self.cleaned_data["members"].splitlines() if line.strip()]
        if self.group.group_type == Group.GroupType.USER:
            matches = DirectoryUser.objects.annotate(upn=Lower("user_principal_name")).filter(
                upn__in=[k.lower() for k in keys]
            )
            found = {u.user_principal_name.lower(): u for u in matches}
            missing = [k for k in keys if k.lower() not in found]
            if missing:
                raise forms.ValidationError(
                    _("No user with the UPN: %(keys)s.") % {"keys": ", ".join(missing)}
                )
            return [found[k.lower()] for k in keys]
        found = {
            d.serial_number.upper(): d
            for d in Device.objects.filter(serial_number__in=[k.upper() for k in keys])
        }
        missing = [k for k in keys if k.upper() not in found]
        if missing:
            raise forms.ValidationError(
                _("No device with the serial number: %(keys)s.") % {"keys": ", ".join(missing)}
            )
        return [found[k.upper()] for k in keys]


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=list(csv_import.KINDS.items()))
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("UTF-8, comma-separated, with a header row; at most 5 MB and 50,000 rows."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > csv_import.MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(max)d MB.") % {"max": csv_import.MAX_BYTES // 1024 // 1024}
            )
        return upload
