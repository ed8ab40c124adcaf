"""System checks of the deployment settings."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def nanomdm_webhook_key(app_configs, **kwargs) -> list[Error]:
    """D6: in production, a console that deploys through NanoMDM must authenticate its webhook."""
    if settings.NANOMDM_URL and not settings.NANOMDM_WEBHOOK_HMAC_KEY:
        return [
            Error(
                "NANOMDM_URL is set but NANOMDM_WEBHOOK_HMAC_KEY is not: the NanoMDM webhook cannot be "
                "authenticated.",
                hint="Start NanoMDM with -webhook-hmac-key and set the same key in NANOMDM_WEBHOOK_HMAC_KEY.",
                id="deployment.E001",
            )
        ]
    return []
