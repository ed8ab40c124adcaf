"""API keys: create (the key is returned once), revoke, and note when a key was last used.

A key is stored as a digest only (django-rest-knox, model `console.ApiKey`); nobody, administrators included,
can read a key back. Users manage their own keys; administrators can revoke anyone's.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from console import audit, roles
from console.models import ApiKey

# A busy script would otherwise write the row on every request.
LAST_USED_PRECISION = timedelta(minutes=1)


def api_key_create(*, user, name: str, actor) -> tuple[ApiKey, str]:
    """Create an API key for `user` that never expires; returns the row and the key, which cannot be read
    again. Raises ValidationError when the name is empty or too long."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the key a name, e.g. the script or tool that uses it.")})
    max_length = ApiKey._meta.get_field("name").max_length or 100
    if len(name) > max_length:
        raise ValidationError(
            {"name": _("The name is too long (at most %(count)d characters).") % {"count": max_length}}
        )
    with transaction.atomic():
        key, plain = ApiKey.objects.create(user=user, expiry=None, name=name)
        audit.record(
            actor=actor,
            action="api_key.create",
            obj=key,
            after={"user": user.get_username(), "name": key.name, "prefix": key.prefix},
        )
    return key, plain


def api_key_revoke(*, key: ApiKey, actor) -> None:
    """Revoke `key`: it answers 401 from now on. Its owner or an administrator may; anyone else gets
    PermissionDenied."""
    if actor is not None and key.user_id != actor.pk and not roles.is_administrator(actor):
        raise PermissionDenied
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="api_key.revoke",
            obj=key,
            before={
                "user": key.user.get_username(),
                "name": key.name,
                "prefix": key.prefix,
                "created": key.created,
                "last_used_at": key.last_used_at,
            },
        )
        key.delete()


def api_key_revoke_all(*, user, actor) -> int:
    """Revoke every key of `user`; returns how many there were."""
    keys = list(ApiKey.objects.filter(user=user).select_related("user"))
    for key in keys:
        api_key_revoke(key=key, actor=actor)
    return len(keys)


def api_key_mark_used(key: ApiKey) -> None:
    """Note that `key` authenticated a request now (to the minute: not an audited change)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def keys_of(user) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).select_related("user")


def all_keys() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("user").order_by("user__username", "-created", "-id")
