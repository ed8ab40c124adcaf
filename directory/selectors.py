"""Reads of the directory: list querysets for pages and API, group members in join order, lookups by id."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from console.ids import parse_id
from directory.models import Device, DirectoryUser, Group, GroupMembership


def user_list() -> QuerySet[DirectoryUser]:
    """Users with their device and group counts (no per-row queries)."""
    return DirectoryUser.objects.annotate(
        device_count=Count("devices", distinct=True), group_count=Count("memberships", distinct=True)
    )


def device_list() -> QuerySet[Device]:
    return Device.objects.select_related("primary_user")


def group_list() -> QuerySet[Group]:
    return Group.objects.annotate(member_count=Count("memberships"))


def group_members(group: Group) -> QuerySet[GroupMembership]:
    """Memberships of `group` in join order (`joined_at`, then id): the order licenses are handed out (S6)."""
    return (
        GroupMembership.objects.filter(group=group)
        .select_related("user", "device", "device__primary_user")
        .order_by("joined_at", "id")
    )


def group_active_member_ids(group: Group) -> tuple[list[int], list[int]]:
    """(user ids, device ids) of the active members of `group` in join order: the targets of its assignments.

    Deactivated users and retired devices stay members (for history and reactivation) but are no targets.
    """
    rows = (
        group_members(group)
        .filter(Q(user__is_active=True) | Q(device__is_active=True))
        .values_list("user_id", "device_id")
    )
    user_ids = [u for u, _d in rows if u is not None]
    device_ids = [d for _u, d in rows if d is not None]
    return user_ids, device_ids


def user_memberships(user: DirectoryUser) -> QuerySet[GroupMembership]:
    return GroupMembership.objects.filter(user=user).select_related("group").order_by("group__name")


def device_memberships(device: Device) -> QuerySet[GroupMembership]:
    return GroupMembership.objects.filter(device=device).select_related("group").order_by("group__name")


def _by_ids(model, ids: Iterable, label: str) -> list:
    """Objects for `ids` in the order given; ValidationError naming every id that is not a known object."""
    wanted: list[int] = []
    bad: list[str] = []
    for raw in ids:
        number = parse_id(raw)
        if number is None:
            bad.append(str(raw))
        else:
            wanted.append(number)
    found = model.objects.in_bulk(wanted) if wanted else {}
    missing = bad + [str(i) for i in wanted if i not in found]
    if missing:
        raise ValidationError(
            _("Unknown %(what)s id(s): %(ids)s.") % {"what": label, "ids": ", ".join(missing)}
        )
    return [found[i] for i in wanted]


def users_by_ids(ids: Iterable) -> list[DirectoryUser]:
    return _by_ids(DirectoryUser, ids, _("user"))


def devices_by_ids(ids: Iterable) -> list[Device]:
    return _by_ids(Device, ids, _("device"))


def groups_by_ids(ids: Iterable) -> list[Group]:
    """Groups for `ids`; ValidationError naming each unknown group id (API requests answer 400)."""
    return _by_ids(Group, ids, _("group"))
