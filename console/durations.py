"""Durations as people read them: "1 min 4 s", "2 h 5 min", "under 1 s" (in the active language)."""

from __future__ import annotations

from datetime import timedelta

from django.utils.translation import gettext as _


def duration_text(value: timedelta | None) -> str:
    """The two largest units of `value` (days, hours, minutes, seconds); "" for None."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    if value.total_seconds() < 1:
        return _("under 1 s")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return (
            _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
            if hours
            else _("%(days)d d") % {"days": days}
        )
    if hours:
        if minutes:
            return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
        return _("%(hours)d h") % {"hours": hours}
    if minutes:
        if secs:
            return _("%(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": secs}
        return _("%(minutes)d min") % {"minutes": minutes}
    return _("%(seconds)d s") % {"seconds": secs}
