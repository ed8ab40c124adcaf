"""The home page (dashboard): connector health per token and of NanoMDM, tiles that link to the rows behind
each count, charts (server-drawn SVG with a data table each), and the latest sync runs."""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.views.generic import TemplateView

from apps.models import App
from console.models import Run
from console.views_base import ConsoleAccessMixin
from monitoring import selectors as monitoring
from tokens.models import SyncRun, VPPToken


class HomeView(ConsoleAccessMixin, TemplateView):
    template_name = "console/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        tokens = VPPToken.objects.aggregate(
            total=Count("id"), valid=Count("id", filter=Q(state=VPPToken.State.VALID))
        )
        apps = App.objects.aggregate(
            total=Count("id"),
            used=Sum("used_licenses", filter=Q(is_unlimited=False)),
            purchased=Sum("total_licenses", filter=Q(is_unlimited=False)),
        )
        install_rows, install_states = monitoring.install_states_by_app()
        context.update(
            tokens=tokens,
            apps=apps,
            tiles=monitoring.tiles(),
            health=monitoring.token_health_rows(),
            nanomdm=monitoring.nanomdm_status(),
            failed_by_app=monitoring.failed_installs_by_app(),
            usage_by_token=monitoring.usage_by_token(),
            top_apps=monitoring.top_apps_by_usage(),
            install_rows=install_rows,
            install_states=install_states,
            history=monitoring.usage_history()[-14:],
            recent_runs=SyncRun.objects.select_related("vpp_token")[:5],
            # One refresh of the whole summary while any run is active: tiles and runs never disagree.
            live=Run.objects.filter(status__in=Run.ACTIVE).exists(),
        )
        return context
