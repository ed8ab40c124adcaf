"""Alert sentences in the reader's language, rendered from an alert's kind and parameters (never stored)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from monitoring.models import Alert

Kind = Alert.Kind


def _token_unusable(name: str, params: dict[str, Any]) -> str:
    state = params.get("state")
    if state == "revoked":
        return _("The VPP token “%(name)s” was revoked at Apple.") % {"name": name}
    if state == "assigned_to_external_mdm":
        return _("The VPP token “%(name)s” is now used by another MDM server.") % {"name": name}
    if state == "invalid":
        return _("The VPP token “%(name)s” is not valid.") % {"name": name}
    return _("The VPP token “%(name)s” has expired.") % {"name": name}


def alert_message(*, kind: str, object_name: str, params: dict[str, Any]) -> str:
    """The sentence describing an alert, in the active language."""
    name = object_name
    if kind == Kind.TOKEN_EXPIRING:
        days = int(params.get("days", 0))
        return ngettext(
            "The VPP token “%(name)s” expires within %(days)d day (on %(date)s).",
            "The VPP token “%(name)s” expires within %(days)d days (on %(date)s).",
            days,
        ) % {"name": name, "days": days, "date": params.get("expires_on", "")}
    if kind == Kind.TOKEN_UNUSABLE:
        return _token_unusable(name, params)
    if kind == Kind.SYNC_FAILED:
        text = _("Syncing the VPP token “%(name)s” failed after its retries.") % {"name": name}
        if params.get("error_number"):
            text += " " + _("Apple error %(number)s.") % {"number": params["error_number"]}
        return text
    if kind == Kind.LICENSES_LOW:
        return _("“%(name)s” uses %(used)d of %(total)d licenses (%(percent)d %%).") % {
            "name": name,
            "used": params.get("used", 0),
            "total": params.get("total", 0),
            "percent": params.get("percent", 0),
        }
    if kind == Kind.LICENSES_EXHAUSTED:
        return _("“%(name)s” has no licenses left (%(used)d of %(total)d used).") % {
            "name": name,
            "used": params.get("used", 0),
            "total": params.get("total", 0),
        }
    if kind == Kind.INSTALL_FAILURES:
        count = int(params.get("count", 0))
        return ngettext(
            "“%(name)s” failed to install on %(count)d device.",
            "“%(name)s” failed to install on %(count)d devices.",
            count,
        ) % {"name": name, "count": count}
    if kind == Kind.MDM_UNREACHABLE:
        return _("The MDM server (NanoMDM) cannot be reached.")
    return str(Alert.Kind(kind).label) if kind in Alert.Kind.values else _("Alert")


def message_of(alert: Alert) -> str:
    return alert_message(kind=alert.kind, object_name=alert.object_name, params=alert.params)


def subject_of(text: str, event: str) -> str:
    """The subject of a notice (opened, escalated, resolved) whose message is `text`."""
    if event == "resolved":
        return _("Resolved: %(message)s") % {"message": text}
    return text


# Alerts shown as errors (red); the others are warnings (amber).
ERROR_KINDS = {Kind.TOKEN_UNUSABLE, Kind.SYNC_FAILED, Kind.LICENSES_EXHAUSTED, Kind.MDM_UNREACHABLE}


def level_of(alert: Alert) -> str:
    """ "error" or "warning" for the banner."""
    if alert.kind in ERROR_KINDS:
        return "error"
    if alert.kind == Kind.TOKEN_EXPIRING and (alert.level or 30) <= 7:
        return "error"
    return "warning"
