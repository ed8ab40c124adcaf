"""Template tags of deployment: the apps reaching a device, for the device page (D5)."""

from __future__ import annotations

from django import template

from deployment import selectors, services

register = template.Library()


@register.simple_tag
def device_app_rows(*, device) -> dict:
    """Every app reaching `device` with its license state, install state and last error in words."""
    rows = selectors.device_apps(device)
    for row in rows:
        row["error"] = selectors.error_text(row["state"]) if row["state"] else ""
    return {"rows": rows, "mdm_configured": services.mdm_configured()}


@register.simple_tag
def user_row_state(row) -> str:
    """The worst install state of a row of the User install status pane."""
    return selectors.row_state(row)
