"""`Authorization: Token <key>` for the REST API, with keys hashed at rest (django-rest-knox)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from console.api_keys import api_key_mark_used


class ApiKeyAuthentication(TokenAuthentication):
    """knox's check of the key's digest, plus: keys never expire unless given an expiry, and each use is
    noted on the key (its owner sees "last used")."""

    def authenticate_credentials(self, token: bytes):
        # A key is printable ASCII. Anything else is a wrong key, and must not reach the query: PostgreSQL
        # refuses text with a NUL byte, which would answer 500 instead of 401.
        if not token.isascii() or not token.decode("ascii").isprintable():
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        # knox also sweeps the user's other expired keys on every request; keys here have no expiry, so
        # only this key's own expiry matters (one query fewer per request).
        return auth_token.expiry is not None and auth_token.expiry < timezone.now()

    def validate_user(self, auth_token):
        user, key = super().validate_user(auth_token)
        api_key_mark_used(key)
        return user, key


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of ApiKeyAuthentication."""

    target_class = ApiKeyAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "An API key, sent as `Authorization: Token <key>`. Create one on the console's API keys page "
                "or with `manage.py drf_create_token <username>`."
            ),
        }
