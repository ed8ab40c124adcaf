"""The one access check shared by the console pages and the API.

Every resource in the console belongs to the organisation running it, so the check is per role: someone
with no role sees nothing (404, as if it did not exist); help desk sees everything but changes nothing (403
on writes).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from console import roles


def check_access(user, *, write: bool = False, obj=None) -> None:
    """Raise Http404 when `user` may not see the resource, PermissionDenied when they may not change it."""
    if not roles.can_view(user):
        raise Http404
    if write and not roles.can_change(user):
        raise PermissionDenied
