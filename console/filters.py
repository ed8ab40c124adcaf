import django_filters
from django.utils.translation import gettext_lazy as _

from console.models import AuditEntry


class AuditEntryFilter(django_filters.FilterSet):
    """One FilterSet for the audit log page and the audit API."""

    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="icontains", label=_("Actor"))
    action = django_filters.CharFilter(lookup_expr="icontains", label=_("Action"))
    object_type = django_filters.CharFilter(lookup_expr="icontains", label=_("Object type"))
    object_id = django_filters.CharFilter(label=_("Object id"))
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte", label=_("Since"))
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte", label=_("Until"))

    class Meta:
        model = AuditEntry
        fields = ["actor", "action", "object_type", "object_id", "since", "until"]
