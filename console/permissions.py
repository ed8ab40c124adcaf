"""DRF permission built on console.access.check_access, so the API answers like the pages."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, permissions

from console.access import check_access


class ConsolePermission(permissions.BasePermission):
    """Authenticated; a role to read (else 404); administrator for anything but GET/HEAD/OPTIONS."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated
        write = request.method not in permissions.SAFE_METHODS or getattr(view, "action", None) in getattr(
            view, "write_actions", ()
        )
        try:
            check_access(request.user, write=write)
        except Http404:
            raise exceptions.NotFound from None
        except PermissionDenied:
            raise exceptions.PermissionDenied from None
        return True
