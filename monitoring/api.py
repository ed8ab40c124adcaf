"""REST API of monitoring.

- `alerts/` (filters: `state` open/resolved, `kind`) — read by administrators and help desk
- `POST alerts/{id}/acknowledge/` — administrators only
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from monitoring import selectors, services
from monitoring.filters import AlertFilter
from monitoring.serializers import AlertSerializer


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Open and past alerts."""  # B5

    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    ordering_fields = ["opened_at", "resolved_at"]
    write_actions = ("acknowledge",)

    def get_queryset(self):
        return selectors.alert_list()

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = services.alert_acknowledge(alert=self.get_object(), actor=request.user)
        return Response(AlertSerializer(alert).data)


def register(router) -> None:
    """Add this app's viewsets to the /api/v1/ router."""
    router.register("alerts", AlertViewSet, basename="alert")
