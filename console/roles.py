"""The two roles: Administrators change everything; Help desk read everything and export, change nothing.

A third, for accounts that are not people: each identity provider (a SCIM client) acts through an account in
"Identity providers". It cannot sign in and has no console role; the directory lets it, and only it, change
the users and groups it provisioned.
"""

from __future__ import annotations

ADMINISTRATORS = "Administrators"
HELP_DESK = "Help desk"
IDENTITY_PROVIDERS = "Identity providers"


def _group_names(user) -> frozenset[str]:
    cached = getattr(user, "_console_groups", None)
    if cached is None:
        cached = (
            frozenset(user.groups.values_list("name", flat=True)) if user.is_authenticated else frozenset()
        )
        user._console_groups = cached
    return cached


def is_administrator(user) -> bool:
    """Superusers count as administrators."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or ADMINISTRATORS in _group_names(user)


def is_help_desk(user) -> bool:
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return HELP_DESK in _group_names(user)


def can_view(user) -> bool:
    return is_administrator(user) or is_help_desk(user)


def can_change(user) -> bool:
    return is_administrator(user)


def is_identity_provider(user) -> bool:
    """The account of a SCIM client (an identity provider such as Entra ID or Okta)."""
    if not user or not user.is_authenticated or not user.is_active:
        return False
    return IDENTITY_PROVIDERS in _group_names(user)
