"""FilterSets of the install status panes, shared by the pages and the API (M2)."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from deployment.models import SEVERITY, DeviceAppState, InstallState


class DeviceStateFilter(django_filters.FilterSet):
    install_state = django_filters.ChoiceFilter(
        field_name="state", choices=InstallState.choices, label=_("Install state")
    )
    search = django_filters.CharFilter(method="filter_search", label=_("Search"))
    # The dashboard's "failed installs in the last 7 days" links here (the day, in the console's time zone).
    changed_since = django_filters.DateFilter(
        field_name="updated_at", lookup_expr="date__gte", label=_("Changed since")
    )

    class Meta:
        model = DeviceAppState
        fields = ["install_state", "search", "changed_since"]

    def filter_search(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            Q(device__name__icontains=value)
            | Q(device__serial_number__icontains=value)
            | Q(device__udid__icontains=value)
            | Q(device__primary_user__user_principal_name__icontains=value)
            | Q(device__primary_user__display_name__icontains=value)
        )


class UserStateFilter(django_filters.FilterSet):
    install_state = django_filters.ChoiceFilter(
        method="filter_state", choices=InstallState.choices, label=_("Install state")
    )
    search = django_filters.CharFilter(method="filter_search", label=_("Search"))

    class Meta:
        model = DeviceAppState
        fields = ["install_state", "search"]

    def filter_state(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(worst=SEVERITY.index(InstallState(value)))

    def filter_search(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            Q(device__primary_user__user_principal_name__icontains=value)
            | Q(device__primary_user__display_name__icontains=value)
        )
