"""The emails the tokens app sends: token expiry alerts (B5)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tokens.models import VPPToken


def expiry_alert_message(*, token: VPPToken, days: int, recipients: list[str]) -> EmailMessage:
    """The alert for `token` reaching `days` before expiry (0: it has expired). Never includes secrets."""
    if days == 0:
        subject = _("VPP token “%(name)s” has expired") % {"name": token.name}
    else:
        subject = ngettext(
            "VPP token “%(name)s” expires in %(days)d day",
            "VPP token “%(name)s” expires in %(days)d days",
            days,
        ) % {"name": token.name, "days": days}
    link = ""
    if settings.PUBLIC_BASE_URL:
        link = settings.PUBLIC_BASE_URL.rstrip("/") + reverse("tokens:detail", kwargs={"pk": token.pk})
    body = render_to_string(
        "tokens/email/expiry_alert.txt", {"token": token, "days": days, "link": link, "subject": subject}
    )
    return EmailMessage(subject=f"[VPP Console] {subject}", body=body, to=recipients)
