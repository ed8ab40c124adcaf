from rest_framework import serializers, viewsets

from console.filters import AuditEntryFilter
from console.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "actor_name",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
        ]


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log, read-only."""

    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilter
    ordering_fields = ["created_at", "action", "actor_name"]


def register(router) -> None:
    """Add this app's viewsets to the /api/v1/ router (config.urls composes the router)."""
    router.register("audit-log", AuditEntryViewSet, basename="audit-log")
