"""One FilterSet for Monitor › Alerts and `GET /api/v1/alerts/` (UI/API parity)."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from monitoring.models import Alert


class AlertFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=Alert.State.choices, label=_("State"))
    kind = django_filters.ChoiceFilter(choices=Alert.Kind.choices, label=_("Kind"))

    class Meta:
        model = Alert
        fields = ["state", "kind"]
