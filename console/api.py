"""Shared pieces of the REST API: pagination and error translation (DRF's settings name them, so this module
imports no view). Each app's `register(router)` is called by config.urls; the audit log's is in api_views."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from console.pagination import EstimatedCountPaginator
from vpp.errors import AppleError


class Pagination(PageNumberPagination):
    """`{count, next, previous, results}` pages; `?page_size=` from 1 to 500 (anything else answers 400, so a
    script never silently gets fewer rows per page than it asked for); an empty value means the default. Past
    `LIST_EXACT_COUNT_LIMIT` rows `count` is PostgreSQL's estimate and the answer says
    `X-Count-Estimated: true` (console.pagination); `next` is exact either way."""

    page_size_query_param = "page_size"
    max_page_size = 500
    django_paginator_class = EstimatedCountPaginator

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        if self.page.paginator.count_is_estimated:
            response["X-Count-Estimated"] = "true"
        return response

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {
                    self.page_size_query_param: [
                        _("Enter a whole number from 1 to %(max)d.") % {"max": self.max_page_size}
                    ]
                }
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, refusing a query parameter given more than once (every parameter of this API
    takes one value, and silently using the last one would hide a mistake) or holding a NUL character (no
    column holds one; PostgreSQL refuses it in a query)."""

    def filter_queryset(self, request, queryset, view):
        errors: dict[str, list[str]] = {}
        for name, values in request.query_params.lists():
            if len(values) > 1:
                errors[name] = [_("Give this parameter once.")]
            elif any("\x00" in value for value in values):
                errors[name] = [_("Null characters are not allowed.")]
        if errors:
            raise exceptions.ValidationError(errors)
        return super().filter_queryset(request, queryset, view)


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
