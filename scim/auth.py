"""Authentication of /scim/v2/ (django-scim2's AUTH_CHECK_MIDDLEWARE) and where its resources live.

Kept apart from scim/views.py: django-scim2 imports this module while defining its own views.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import HttpResponse
from django_scim import constants
from django_scim.middleware import SCIMAuthCheckMiddleware

from scim.services import scim_client_authenticate


def _error(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    body: dict[str, Any] = {"schemas": [constants.SchemaURI.ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return HttpResponse(json.dumps(body), status=status, content_type=constants.SCIM_CONTENT_TYPE)


class BearerTokenAuth(SCIMAuthCheckMiddleware):
    """AUTH_CHECK_MIDDLEWARE: the request's user is the SCIM client's account, from its bearer token only.

    A signed-in console session counts for nothing here; a missing, wrong or revoked token gets 401.
    """

    def should_log_request(self, request):
        # django-scim2 renders every body for a debug log line; only do it when that line would be written.
        return logging.getLogger("django_scim.middleware").isEnabledFor(logging.DEBUG)

    def process_request(self, request):
        client = scim_client_authenticate(request.headers.get("Authorization", ""))
        if client is None:
            response = _error(401, "Authentication failed: send a valid SCIM bearer token.")
            response["WWW-Authenticate"] = 'Bearer realm="scim"'
            return response
        request.user = client.account
        request.scim_client = client
        return None


def base_location(request=None, *args, **kwargs) -> str:
    """BASE_LOCATION_GETTER: where the client reached us (PUBLIC_BASE_URL proxies set the forwarded host)."""
    return request.build_absolute_uri("/").rstrip("/") if request is not None else ""
