"""One FilterSet per model, shared by the console pages and the API lists (UI/API parity)."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from console.filters import UtcDateTimeFilter
from console.ids import IdFilter
from console.pickers import PickerInput
from tokens.models import SyncRun, VPPToken


class VPPTokenFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label=_("Search"))
    state = django_filters.ChoiceFilter(choices=VPPToken.State.choices, label=_("State"))
    account_type = django_filters.ChoiceFilter(choices=VPPToken.AccountType.choices, label=_("Account type"))
    country_or_region = django_filters.CharFilter(lookup_expr="iexact", label=_("Country/region"))
    last_sync_status = django_filters.ChoiceFilter(
        choices=VPPToken.SyncStatus.choices, label=_("Last sync status")
    )
    expires_before = UtcDateTimeFilter(field_name="expires_at", lookup_expr="lte", label=_("Expires before"))

    class Meta:
        model = VPPToken
        fields = [
            "search",
            "state",
            "account_type",
            "country_or_region",
            "last_sync_status",
            "expires_before",
        ]

    def filter_search(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(organization_name__icontains=value)
            | Q(location_name__icontains=value)
            | Q(apple_id__icontains=value)
        )


class SyncRunFilter(django_filters.FilterSet):
    vpp_token = IdFilter(field_name="vpp_token_id", label=_("Token"), widget=PickerInput("token"))
    status = django_filters.ChoiceFilter(choices=SyncRun.Status.choices, label=_("Status"))
    trigger = django_filters.ChoiceFilter(choices=SyncRun.Trigger.choices, label=_("Trigger"))

    class Meta:
        model = SyncRun
        fields = ["vpp_token", "status", "trigger"]
