"""The SCIM 2.0 endpoints under /scim/v2/ (django-scim2's views with the directory's querysets).

What is changed from the library: lists count and slice in the database (a first provisioning has 50,000
users), a filter's matches are read as a queryset, objects the provider deleted are not found, `attributes`
and `excludedAttributes` shape every answer, and authentication is the SCIM client's bearer token only.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django_scim import constants, exceptions
from django_scim import views as scim_views
from django_scim.models import SCIMServiceProviderConfig
from django_scim.utils import get_base_scim_location_getter
from scim2_filter_parser.parser import SCIMParserError

from scim import schemas, selectors
from scim.auth import _error, base_location

MAX_RESULTS = 200
ALWAYS_RETURNED = {"id", "schemas", "meta"}


class ServiceProviderConfig(SCIMServiceProviderConfig):
    """What this provider supports: PATCH, filter (eq/co/sw… on userName, externalId, displayName, emails),
    no sort, no bulk, no ETags (django-scim2 has none), no password change."""

    def to_dict(self):
        return {
            "schemas": [constants.SchemaURI.SERVICE_PROVIDER_CONFIG],
            "documentationUri": urljoin(base_location(self.request) + "/", "scim/v2/docs"),
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "Bearer token",
                    "description": "A token per SCIM client, created in Tenant administration or with "
                    "manage.py create_scim_token.",
                    "primary": True,
                }
            ],
            "meta": self.meta,
        }


def _attribute_names(request, body: dict | None = None) -> tuple[set[str], set[str]]:
    def names(value: Any) -> set[str]:
        if isinstance(value, str):
            value = value.split(",")
        return {v.strip().lower() for v in value or [] if isinstance(v, str) and v.strip()}

    body = body or {}
    return (
        names(body.get("attributes") or request.GET.get("attributes")),
        names(body.get("excludedAttributes") or request.GET.get("excludedAttributes")),
    )


def _shape(resource: dict[str, Any], included: set[str], excluded: set[str]) -> dict[str, Any]:
    """`attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5), on top-level attribute names and URNs."""

    def key_of(name: str) -> str:
        return name.lower()

    def wanted(name: str) -> bool:
        lowered = key_of(name)
        if name in ALWAYS_RETURNED:
            return True
        if included:
            return any(
                i == lowered or i.startswith(lowered + ".") or i.startswith(lowered + ":") for i in included
            )
        return lowered not in excluded

    return {k: v for k, v in resource.items() if wanted(k)}


class _ResourceView:
    """The directory's querysets, database paging and response shaping for Users and Groups."""

    def base_queryset(self) -> QuerySet:  # pragma: no cover - defined by each view
        raise NotImplementedError

    def get_object(self):
        try:
            return self.base_queryset().get(pk=int(self.kwargs[self.lookup_url_kwarg]))
        except (ValueError, TypeError, ObjectDoesNotExist):
            raise exceptions.NotFoundError(self.kwargs.get(self.lookup_url_kwarg)) from None

    def _page(self, request):
        start, count = super()._page(request)
        return start, max(0, min(count if count is not None else MAX_RESULTS, MAX_RESULTS))

    def get_many(self, request):
        query = request.GET.get("filter")
        if query:
            return self._search(request, query, *self._page(request))
        return self._build_response(request, self.base_queryset(), *self._page(request))

    def _search(self, request, query, start, count):
        try:
            matches = [obj.pk for obj in self.__class__.parser_getter().search(query, request)]
        except (ValueError, SCIMParserError) as error:
            raise exceptions.BadRequestError(f"Invalid filter: {error}", scim_type="invalidFilter") from error
        return self._build_response(request, self.base_queryset().filter(pk__in=matches), start, count)

    def _build_response(self, request, qs, start, count):
        total = qs.count()
        page = list(qs.order_by("pk")[start - 1 : start - 1 + count]) if count else []
        included, excluded = _attribute_names(request, getattr(request, "scim_body", None))
        resources = [
            _shape(self.scim_adapter(o, request=request).to_dict(), included, excluded) for o in page
        ]
        doc = {
            "schemas": [constants.SchemaURI.LIST_RESPONSE],
            "totalResults": total,
            "itemsPerPage": len(resources),
            "startIndex": start,
            "Resources": resources,
        }
        return HttpResponse(json.dumps(doc), content_type=constants.SCIM_CONTENT_TYPE)

    # Bearer tokens only, no session: CSRF does not apply (django-scim2 exempts its dispatch the same way).
    @method_decorator(csrf_exempt)
    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        if request.method != "GET" or not kwargs.get(self.lookup_url_kwarg) or response.status_code != 200:
            return response
        included, excluded = _attribute_names(request)
        if included or excluded:
            resource = _shape(json.loads(response.content), included, excluded)
            response.content = json.dumps(resource).encode()
        return response


class UsersView(_ResourceView, scim_views.UsersView):
    def base_queryset(self) -> QuerySet:
        return selectors.users()


class GroupsView(_ResourceView, scim_views.GroupsView):
    def base_queryset(self) -> QuerySet:
        return selectors.groups()


class _SearchView(_ResourceView, scim_views.SearchView):
    """POST /Users/.search and /Groups/.search: a SearchRequest body (filter optional)."""

    def post(self, request, *args, **kwargs):
        body = self.load_body(request.body)
        if body.get("schemas") != [constants.SchemaURI.SERACH_REQUEST]:
            raise exceptions.BadRequestError("The body must be a SearchRequest.", scim_type="invalidSyntax")
        request.scim_body = body
        start = int(body.get("startIndex") or 1)
        count = min(int(body.get("count") or MAX_RESULTS), MAX_RESULTS)
        if start < 1:
            raise exceptions.BadRequestError("startIndex must be 1 or more.")
        query = body.get("filter")
        if query:
            response = self._search(request, query, start, count)
        else:
            response = self._build_response(request, self.base_queryset(), start, count)
        path = reverse(self.scim_adapter.url_name)
        response["Location"] = urljoin(get_base_scim_location_getter()(request=request), path) + "/.search"
        return response


class UserSearchView(_SearchView):
    scim_adapter_getter = scim_views.UserSearchView.scim_adapter_getter
    parser_getter = scim_views.UserSearchView.parser_getter

    def base_queryset(self) -> QuerySet:
        return selectors.users()


class GroupSearchView(_SearchView):
    scim_adapter_getter = scim_views.GroupSearchView.scim_adapter_getter
    parser_getter = scim_views.GroupSearchView.parser_getter

    def base_queryset(self) -> QuerySet:
        return selectors.groups()


class NotImplementedView(scim_views.SCIMView):
    """Bulk, /Me and searching all resource types at once: 501 with a SCIM error body (RFC 7644 §3.12)."""

    def status_501(self, request, *args, **kwargs):
        return _error(501, "Not supported by this service provider.")


class UnknownView(scim_views.SCIMView):
    """Any other path under /scim/v2/: a SCIM 404 (after authentication, like every endpoint)."""

    def get(self, request, *args, **kwargs):
        return _error(404, "No such endpoint.")

    post = put = patch = delete = get


class SchemasView(scim_views.SchemasView):
    """The schemas of schemas.py, each with its meta.location."""

    def get(self, request, uuid=None, *args, **kwargs):
        base = get_base_scim_location_getter()(request)

        def with_meta(schema: dict[str, Any]) -> dict[str, Any]:
            path = reverse("scim:schemas", kwargs={"uuid": schema["id"]})
            return {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
                **schema,
                "meta": {"resourceType": "Schema", "location": urljoin(base, path)},
            }

        by_id = {s["id"]: s for s in schemas.ALL}
        if uuid:
            if uuid not in by_id:
                return _error(404, f"Unknown schema {uuid}.")
            doc: dict[str, Any] = with_meta(by_id[uuid])
        else:
            resources = [with_meta(s) for s in sorted(by_id.values(), key=lambda s: s["id"])]
            doc = {
                "schemas": [constants.SchemaURI.LIST_RESPONSE],
                "totalResults": len(resources),
                "itemsPerPage": len(resources),
                "startIndex": 1,
                "Resources": resources,
            }
        return HttpResponse(json.dumps(doc), content_type=constants.SCIM_CONTENT_TYPE)


class ResourceTypesView(scim_views.ResourceTypesView):
    def get(self, request, uuid=None, *args, **kwargs):
        by_id = self.type_dict_by_type_id(request)
        if uuid:
            if uuid not in by_id:
                return _error(404, f"Unknown resource type {uuid}.")
            doc: dict[str, Any] = by_id[uuid]
        else:
            resources = sorted(by_id.values(), key=lambda d: d["id"])
            doc = {
                "schemas": [constants.SchemaURI.LIST_RESPONSE],
                "totalResults": len(resources),
                "itemsPerPage": len(resources),
                "startIndex": 1,
                "Resources": resources,
            }
        return HttpResponse(json.dumps(doc), content_type=constants.SCIM_CONTENT_TYPE)
