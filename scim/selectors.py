"""What the identity provider sees: users and user groups it has not deleted, with their memberships."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from directory.models import DirectoryUser, Group, GroupMembership


def users() -> QuerySet[DirectoryUser]:
    """Users not deleted by the provider, with their groups (for the read-only `groups` attribute)."""
    return DirectoryUser.objects.filter(deprovisioned_at__isnull=True).prefetch_related(
        Prefetch(
            "memberships",
            queryset=GroupMembership.objects.select_related("group").order_by("joined_at", "id"),
        )
    )


def groups() -> QuerySet[Group]:
    """User groups not deleted by the provider, with their members in join order (S6)."""
    return Group.objects.filter(
        group_type=Group.GroupType.USER, deprovisioned_at__isnull=True
    ).prefetch_related(
        Prefetch(
            "memberships",
            queryset=GroupMembership.objects.filter(user__isnull=False).order_by("joined_at", "id"),
        )
    )


def resources(resource_type: str) -> QuerySet:
    """`users()` for "User", `groups()` for "Group"."""
    return users() if resource_type == "User" else groups()
