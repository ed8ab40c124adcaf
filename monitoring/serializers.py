from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from monitoring.messages import message_of
from monitoring.models import Alert


class AlertSerializer(serializers.ModelSerializer):
    """An alert; `message` in the reader's language (Accept-Language or the console's language)."""

    message = serializers.SerializerMethodField()
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "kind",
            "object_type",
            "object_id",
            "object_name",
            "state",
            "opened_at",
            "resolved_at",
            "acknowledged_at",
            "acknowledged_by",
            "message",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_message(self, obj: Alert) -> str:
        return message_of(obj)
