"""One FilterSet per model, shared by the console pages and the API."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from console.filters import AnyBooleanFilter
from console.ids import IdFilter, IdFormField
from console.pickers import PickerInput
from directory.models import Device, DirectoryUser, Group


class GroupIdField(IdFormField):
    """A group id that must exist; the error names the id (the API answers 400)."""

    def clean(self, value):
        value = super().clean(value)
        if value is not None and not Group.objects.filter(pk=value).exists():
            raise forms.ValidationError(_("Unknown group id: %(id)s.") % {"id": value}, code="unknown_group")
        return value


class GroupIdFilter(IdFilter):
    field_class = GroupIdField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", PickerInput("group"))
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        return qs.filter(memberships__group_id=value)


class DirectoryUserFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label=_("Search"))
    is_active = AnyBooleanFilter(label=_("Active"))
    has_apple_id = AnyBooleanFilter(method="filter_has_apple_id", label=_("Has Apple ID"))
    group = GroupIdFilter(label=_("Group"))

    class Meta:
        model = DirectoryUser
        fields = ["search", "is_active", "has_apple_id", "group"]

    def filter_search(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            Q(display_name__icontains=value)
            | Q(user_principal_name__icontains=value)
            | Q(email__icontains=value)
            | Q(managed_apple_id__icontains=value)
        )

    def filter_has_apple_id(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.exclude(managed_apple_id="") if value else queryset.filter(managed_apple_id="")


class DeviceFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label=_("Search"))
    platform = django_filters.ChoiceFilter(choices=Device.Platform.choices, label=_("Platform"))
    ownership = django_filters.ChoiceFilter(choices=Device.Ownership.choices, label=_("Ownership"))
    supervised = AnyBooleanFilter(label=_("Supervised"))
    kiosk_mode = AnyBooleanFilter(label=_("Kiosk mode"))
    dep_enrolled = AnyBooleanFilter(label=_("DEP enrolled"))
    app_store_allowed = AnyBooleanFilter(label=_("App Store allowed"))
    is_active = AnyBooleanFilter(label=_("Active"))
    mdm_enrolled = AnyBooleanFilter(label=_("Enrolled in MDM"))
    primary_user = IdFilter(field_name="primary_user_id", label=_("Primary user"), widget=PickerInput("user"))
    has_primary_user = AnyBooleanFilter(
        field_name="primary_user", lookup_expr="isnull", exclude=True, label=_("Has primary user")
    )
    group = GroupIdFilter(label=_("Group"))

    class Meta:
        model = Device
        fields = [
            "search",
            "platform",
            "ownership",
            "supervised",
            "kiosk_mode",
            "dep_enrolled",
            "app_store_allowed",
            "is_active",
            "mdm_enrolled",
            "primary_user",
            "has_primary_user",
            "group",
        ]

    def filter_search(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            Q(serial_number__icontains=value)
            | Q(name__icontains=value)
            | Q(udid__icontains=value)
            | Q(model__icontains=value)
            | Q(primary_user__display_name__icontains=value)
            | Q(primary_user__user_principal_name__icontains=value)
        )


class GroupFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label=_("Search"))
    group_type = django_filters.ChoiceFilter(choices=Group.GroupType.choices, label=_("Type"))

    class Meta:
        model = Group
        fields = ["search", "group_type"]

    def filter_search(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))
