"""Template tags for the user and device pages (owned by the directory app) to show licenses and prompts."""

from django import template

from assignments import prompts, selectors
from assignments.models import VPPUser

register = template.Library()


@register.simple_tag
def holder_licenses(user=None, device=None):
    """{"licenses", "installable", "prompts", "vpp_users"} for a user's or a device's page."""
    licenses = list(selectors.holder_licenses(user=user, device=device)[:200])
    installable = list(selectors.available_assignments_for(user=user, device=device))
    holding = {lic.app_id for lic in licenses if lic.state in ("pending", "assigned", "revoking")}
    data = {
        "licenses": licenses,
        "installable": [a for a in installable if a.app_id not in holding],
        "vpp_users": list(VPPUser.objects.filter(user=user).select_related("vpp_token")) if user else [],
    }
    if device is not None:
        data["prompts"] = {
            "device": prompts.prompts_for(device, "device"),
            "user": prompts.prompts_for(device, "user"),
        }
        data["prompt_table"] = list(prompts.TABLE.values())
    return data
