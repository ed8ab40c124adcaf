"""A token, apps with real counts at the simulator, groups with members in a known join order."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from tests import factories


@pytest.fixture
def location(apple, db):
    """(token row, simulator uid) for a fresh location at the simulator."""
    content = apple.mint_token(org_name="Contoso", location_name="Assignments HQ")
    uid = apple.uid_of(content)
    token = factories.VPPTokenFactory(token_content=content, location_uid=uid, name="HQ token")
    return token, uid


@pytest.fixture
def make_app(apple, location):
    """An App row whose adam id and counts match an asset at the simulator."""
    token, uid = location
    counter = iter(range(1, 1000))

    def make(total: int = 10, *, device_assignable: bool = True, product_type: str = "App", **fields):
        adam_id = str(900000000 + next(counter))
        apple.add_asset(
            uid,
            adam_id,
            totalCount=total,
            deviceAssignable=device_assignable,
            productType=product_type,
            revocable=True,
        )
        return factories.AppFactory(
            vpp_token=token,
            adam_id=adam_id,
            total_licenses=total,
            available_licenses=total,
            used_licenses=0,
            supports_device_licensing=device_assignable,
            product_type="book" if product_type == "Book" else "app",
            **fields,
        )

    return make


def add_members(group, *, users=(), devices=(), order=None):
    """Members join in the given order, one second apart (the S6 order is joined_at, then id).

    `order` (a list of indexes) gives each member's join position when it should differ from creation order.
    """
    from directory.models import GroupMembership

    start = timezone.now() - datetime.timedelta(days=1)
    rows = [GroupMembership(group=group, user=u) for u in users] + [
        GroupMembership(group=group, device=d) for d in devices
    ]
    GroupMembership.objects.bulk_create(rows)
    rows = list(GroupMembership.objects.filter(group=group).order_by("id"))
    positions = order or list(range(len(rows)))
    for row, position in zip(rows, positions, strict=True):
        row.joined_at = start + datetime.timedelta(seconds=position)
    GroupMembership.objects.bulk_update(rows, ["joined_at"])
    return rows


def settle(apple, run_or_none=None, rounds: int = 4):
    """Let the simulator finish its events and poll them, as the 30-second task would."""
    from assignments.events import poll_run

    for _ in range(rounds):
        apple.wait_idle()
        if run_or_none is not None:
            run_or_none.refresh_from_db()
            if poll_run(run_or_none):
                return run_or_none
    return run_or_none
