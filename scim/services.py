"""SCIM clients: create one with its token, issue a new token, revoke, and authenticate a request's token.

Tokens are 256 random bits, shown once; only their SHA-256 hash is stored (a salt adds nothing to a random
secret of that size), so a stolen database does not give a working token.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as AuthGroup
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from console import audit, roles
from scim.models import ScimClient

TOKEN_PREFIX_LENGTH = 8
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue(client: ScimClient) -> str:
    token = secrets.token_urlsafe(32)
    client.token_hash = _hash(token)
    client.token_prefix = token[:TOKEN_PREFIX_LENGTH]
    client.token_issued_at = timezone.now()
    client.revoked_at = None
    return token


@transaction.atomic
def scim_client_create(*, name: str, actor) -> tuple[ScimClient, str]:
    """Register an identity provider; returns the client and its token (the only time it is readable).

    Raises ValidationError for a missing or duplicate name.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [_("The name is required.")]})
    if ScimClient.objects.filter(name__iexact=name).exists():
        raise ValidationError(
            {"name": [_("A SCIM client named “%(name)s” already exists.") % {"name": name}]}
        )
    # No password: the account cannot sign in. Its full name is the client's name for the directory's pages.
    account = get_user_model().objects.create_user(
        username=f"scim:{name}"[:150], password=None, first_name=name[:150]
    )
    account.groups.add(AuthGroup.objects.get_or_create(name=roles.IDENTITY_PROVIDERS)[0])
    client = ScimClient(name=name, account=account, created_by=actor if _is_user(actor) else None)
    token = _issue(client)
    client.save()
    audit.record(
        actor=actor,
        action="scim.client.create",
        obj=client,
        after={"name": name, "token": client.token_prefix},
    )
    return client, token


@transaction.atomic
def scim_client_new_token(*, client: ScimClient, actor) -> str:
    """Replace the client's token (the old one stops working at once); returns the new token."""
    client = ScimClient.objects.select_for_update().get(pk=client.pk)
    before = client.token_prefix if client.is_active else ""
    token = _issue(client)
    client.save()
    audit.record(
        actor=actor,
        action="scim.client.new_token",
        obj=client,
        before={"token": before},
        after={"token": client.token_prefix},
    )
    return token


@transaction.atomic
def scim_client_revoke(*, client: ScimClient, actor) -> ScimClient:
    """Revoke the client's token: its requests are refused (401) from now on. Revoking twice does nothing."""
    client = ScimClient.objects.select_for_update().get(pk=client.pk)
    if not client.is_active:
        return client
    client.token_hash = None
    client.revoked_at = timezone.now()
    client.save(update_fields=["token_hash", "revoked_at"])
    audit.record(
        actor=actor,
        action="scim.client.revoke",
        obj=client,
        before={"token": client.token_prefix},
        after={"revoked_at": client.revoked_at},
    )
    return client


def scim_client_authenticate(authorization: str) -> ScimClient | None:
    """The active client whose token is in an `Authorization: Bearer <token>` header, else None."""
    scheme, _sep, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    client = (
        ScimClient.objects.select_related("account")
        .filter(token_hash=_hash(token), account__is_active=True)
        .first()
    )
    if client is None:
        return None
    now = timezone.now()
    if client.last_used_at is None or now - client.last_used_at > LAST_USED_RESOLUTION:
        # At most one write a minute: a first provisioning sends thousands of requests.
        ScimClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
    return client


def _is_user(actor) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False)
