"""REST API resources of the apps app: `apps/` (read-only; docs/rules.md, Stable interfaces).

Nested routes `apps/{id}/assignments/` and `apps/{id}/licenses/` belong to the assignments app.
"""

from __future__ import annotations

from rest_framework import serializers, viewsets
from rest_framework.filters import OrderingFilter

from apps import selectors
from apps.filters import AppFilter
from apps.models import App
from console.api import FilterBackend


class AppSerializer(serializers.ModelSerializer):
    vpp_token_name = serializers.CharField(source="vpp_token.name", read_only=True)

    class Meta:
        model = App
        fields = [
            "id",
            "vpp_token",
            "adam_id",
            "pricing_param",
            "product_type",
            "name",
            "bundle_id",
            "version",
            "platforms",
            "store_url",
            "total_licenses",
            "used_licenses",
            "available_licenses",
            "supports_device_licensing",
            "supports_user_licensing",
            # extras
            "vpp_token_name",
            "retired_licenses",
            "is_unlimited",
            "is_custom_app",
            "revocable",
            "icon_url",
            "release_date",
            "publisher",
            "metadata_country",
            "updated_at",
        ]
        read_only_fields = fields


class AppOrderingFilter(OrderingFilter):
    """`?ordering=name` / `-name` sort case-insensitively, like the Apps page; other fields as usual."""

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if ordering and ordering[0] in ("name", "-name"):
            return selectors.order_by_name(queryset, descending=ordering[0].startswith("-"))
        return super().filter_queryset(request, queryset, view)


class AppViewSet(viewsets.ReadOnlyModelViewSet):
    """Apps and books per token with Apple's license counts; filter `vpp_token`, `search`, `product_type`."""

    serializer_class = AppSerializer
    filterset_class = AppFilter
    filter_backends = [FilterBackend, AppOrderingFilter]
    ordering_fields = ["name", "adam_id", "total_licenses", "used_licenses", "available_licenses"]
    ordering = ["name"]

    def get_queryset(self):
        return selectors.app_list()


def register(router) -> None:
    """Add this app's viewsets to the /api/v1/ router."""
    router.register("apps", AppViewSet, basename="app")
