"""System checks of the alert settings."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def alert_webhook_secret(app_configs, **kwargs) -> list[Error]:
    """In production, an alert webhook is signed: its receiver must be able to tell a forged notice."""
    if settings.ALERT_WEBHOOK_URL and not settings.ALERT_WEBHOOK_SECRET:
        return [
            Error(
                "ALERT_WEBHOOK_URL is set but ALERT_WEBHOOK_SECRET is not: alert notices would be unsigned.",
                hint="Set ALERT_WEBHOOK_SECRET to a long random string shared with the receiver.",
                id="monitoring.E001",
            )
        ]
    if settings.ALERT_WEBHOOK_URL and not settings.ALERT_WEBHOOK_URL.startswith("https://"):
        return [
            Error(
                "ALERT_WEBHOOK_URL must be an https:// URL in production.",
                id="monitoring.E002",
            )
        ]
    return []
