"""The home page: tokens, apps and licenses at a glance, and the latest sync runs."""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.views.generic import TemplateView

from apps.models import App
from assignments.models import License
from console.models import Run
from console.views_base import ConsoleAccessMixin
from tokens.models import SyncRun, VPPToken


class HomeView(ConsoleAccessMixin, TemplateView):
    template_name = "console/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        tokens = VPPToken.objects.aggregate(
            total=Count("id"),
            valid=Count("id", filter=Q(state=VPPToken.State.VALID)),
            expiring=Count(
                "id",
                filter=Q(
                    state=VPPToken.State.VALID, expires_at__lte=timezone.now() + timezone.timedelta(days=30)
                ),
            ),
        )
        apps = App.objects.aggregate(
            total=Count("id"),
            books=Count("id", filter=Q(product_type=App.ProductType.BOOK)),
            used=Sum("used_licenses", filter=Q(is_unlimited=False)),
            purchased=Sum("total_licenses", filter=Q(is_unlimited=False)),
        )
        context.update(
            tokens=tokens,
            apps=apps,
            failed_licenses=License.objects.filter(state=License.State.FAILED).count(),
            recent_runs=SyncRun.objects.select_related("vpp_token")[:5],
            # One refresh of the whole summary while any run is active: tiles and runs never disagree.
            live=Run.objects.filter(status__in=Run.ACTIVE).exists(),
        )
        return context
