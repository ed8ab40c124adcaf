from datetime import UTC

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from console import run_kinds
from console.ids import IdFilter
from console.models import AuditEntry, Run
from console.pickers import PickerInput


class AnyYesNoSelect(forms.Select):
    """A yes/no filter select whose empty choice reads "Any"; it hands the raw value to the field, which
    refuses anything but true/false (Django's NullBooleanSelect reads garbage as "any")."""

    def __init__(self, attrs=None):
        super().__init__(attrs, choices=[("", _("Any")), ("true", _("Yes")), ("false", _("No"))])

    def format_value(self, value):
        if value is True or value is False:
            value = "true" if value else "false"
        return super().format_value(value)


class YesNoField(forms.NullBooleanField):
    """`true`, `false` or empty (any); any other value is an error, so `?custom=12` answers 400 (API) and
    shows the error on the page instead of listing every row."""

    widget = AnyYesNoSelect
    default_error_messages = {"invalid": _("Choose yes or no (true or false).")}

    def to_python(self, value):
        if value is None or value is True or value is False:
            return value
        text = str(value).strip().lower()
        if text == "":
            return None
        if text in ("true", "false"):
            return text == "true"
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")

    def validate(self, value):
        pass


class AnyBooleanFilter(django_filters.BooleanFilter):
    """A boolean filter that, left empty, means "any"; true/false filter, anything else is an error."""

    field_class = YesNoField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", AnyYesNoSelect)
        super().__init__(*args, **kwargs)


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time filter that queries in UTC: Python accepts offsets up to ±23:59, PostgreSQL
    only up to ±15:59 (a larger one answered 500)."""

    def filter(self, qs, value):
        return super().filter(qs, value.astimezone(UTC) if value else value)


class AuditEntryFilter(django_filters.FilterSet):
    """One FilterSet for the audit log page and the audit API."""

    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="icontains", label=_("Actor"))
    action = django_filters.CharFilter(lookup_expr="icontains", label=_("Action"))
    object_type = django_filters.CharFilter(lookup_expr="icontains", label=_("Object type"))
    object_id = django_filters.CharFilter(label=_("Object id"))
    since = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte", label=_("Since"))
    until = UtcDateTimeFilter(field_name="created_at", lookup_expr="lte", label=_("Until"))

    class Meta:
        model = AuditEntry
        fields = ["actor", "action", "object_type", "object_id", "since", "until"]


class RunFilter(django_filters.FilterSet):
    """Monitor › Runs: every kind of run (the sync-runs and license-runs lists are filtered views of it)."""

    kind = django_filters.ChoiceFilter(choices=run_kinds.choices, label=_("Kind"))
    status = django_filters.ChoiceFilter(choices=Run.Status.choices, label=_("Status"))
    trigger = django_filters.ChoiceFilter(choices=Run.Trigger.choices, label=_("Trigger"))
    vpp_token = IdFilter(field_name="vpp_token_id", label=_("Token"), widget=PickerInput("token"))

    class Meta:
        model = Run
        fields = ["kind", "status", "trigger", "vpp_token"]
