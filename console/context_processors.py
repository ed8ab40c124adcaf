"""The console shell: left navigation (Intune-style) and role flags (alert banners: monitoring)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from console import roles

# (label, url name, children).
# Pages under another app's URLs that belong to a section (an app's Assignments pane is part of Apps).
SECTION_PREFIXES = {"apps:list": ("/assignments/apps/",)}
NAVIGATION = [
    (_("Home"), "home", []),
    (_("Apps"), "apps:list", [(_("All apps"), "apps:list"), (_("Books"), "apps:books")]),
    (_("Users"), "directory:users", []),
    (_("Devices"), "directory:devices", []),
    (_("Groups"), "directory:groups", []),
    (
        _("Monitor"),
        "assignments:licenses",
        [
            (_("Licenses"), "assignments:licenses"),
            (_("Alerts"), "monitoring:alerts"),
            (_("App licenses"), "reports:app-licenses"),
            (_("Install status"), "reports:install-status"),
            (_("Assignments"), "reports:assignments"),
            (_("Runs"), "runs"),
            (_("Sync runs"), "tokens:sync-runs"),
            (_("License runs"), "assignments:runs"),
            (_("Reconciliation"), "assignments:reconciliation"),
        ],
    ),
    (
        _("Tenant administration"),
        "tokens:list",
        [
            (_("Connectors and tokens › Apple VPP tokens"), "tokens:list"),
            (_("Connectors and tokens › Identity providers (SCIM)"), "scim-clients:list"),
            (_("Sign-in lock-outs"), "sign-in-lockouts"),
        ],
    ),
    (_("Audit log"), "audit-log", []),
]


def _url(name: str) -> str:
    return reverse(name)


def console(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    path = request.path
    navigation = []
    for label, name, children in NAVIGATION:
        url = _url(name)
        items = [(child_label, _url(child)) for child_label, child in children]
        prefixes = (url, *SECTION_PREFIXES.get(name, ()), *(u for _l, u in items))
        active = path == url if url == "/" else path.startswith(prefixes)
        navigation.append({"label": label, "url": url, "children": items, "active": active})
    context = {
        "navigation": navigation,
        "is_administrator": roles.is_administrator(user),
        "is_help_desk": roles.is_help_desk(user),
    }
    return context
