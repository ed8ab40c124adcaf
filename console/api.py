"""Shared pieces of the REST API: pagination and error translation (DRF's settings name them, so this module
imports no view). Each app's `register(router)` is called by config.urls; the audit log's is in api_views."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from vpp.errors import AppleError


class Pagination(PageNumberPagination):
    """`{count, next, previous, results}` pages; `?page_size=` up to 500."""

    page_size_query_param = "page_size"
    max_page_size = 500


def exception_handler(exc, context):
    """Services raise Django's ValidationError for bad input and vpp.errors.AppleError for Apple faults."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            data = {
                field: [str(m) for e in errors for m in e.messages]
                for field, errors in exc.error_dict.items()
            }
            if "__all__" in data:
                data["detail"] = " ".join(data.pop("__all__"))
        else:
            data = {"detail": " ".join(exc.messages)}
        return Response(data, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, AppleError):
        return Response(
            {"detail": str(exc), "apple_error_number": exc.number},
            status=status.HTTP_502_BAD_GATEWAY,
        )
    if isinstance(exc, exceptions.AuthenticationFailed):
        throttled = _count_auth_failure(context.get("request"), context.get("view"))
        if throttled is not None:
            exc = throttled
    return drf_exception_handler(exc, context)


def _count_auth_failure(request, view) -> exceptions.Throttled | None:
    """Record one failed credential for the client's address; Throttled once the address is over its rate."""
    from console.throttling import AuthFailureThrottle

    if request is None:
        return None
    throttle = AuthFailureThrottle()
    if throttle.allow_request(request, view):
        return None
    wait = throttle.wait()
    return exceptions.Throttled(
        wait=wait, detail=_("Too many requests with wrong credentials; wait and try again.")
    )
