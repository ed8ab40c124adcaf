"""Counts of license runs add up (B8): total = succeeded + failed + skipped (+ pending while it runs)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assignments import services
from assignments.models import LicenseRun
from assignments.services import execute
from tests import factories
from tests.assignments.conftest import add_members, settle

pytestmark = pytest.mark.django_db


def test_b8_allocation_counts_add_up_with_targets_already_licensed_counted_as_skipped(
    apple, location, make_app, administrator, admin_web
):
    app = make_app(total=2)
    group = factories.GroupFactory(group_type="device")
    add_members(group, devices=factories.DeviceFactory.create_batch(3))
    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    first = settle(apple, execute(LicenseRun.objects.get(assignment=assignment)))
    first.refresh_from_db()
    assert (first.total, first.succeeded, first.failed, first.skipped) == (3, 2, 1, 0)
    # Two more devices join; the next allocation finds two licensed, three without a license left.
    add_members(group, devices=factories.DeviceFactory.create_batch(2))
    second = settle(apple, execute(services.assignment_allocate(assignment=assignment, actor=administrator)))
    second.refresh_from_db()
    assert second.status == "completed"
    assert (second.total, second.succeeded, second.failed, second.skipped) == (5, 0, 3, 2)
    assert second.total == second.succeeded + second.failed + second.skipped and second.pending == 0
    page = admin_web.get(reverse("assignments:run-detail", args=[second.pk])).content.decode()
    assert "Total 5 · Succeeded 0 · Failed 3 · Skipped 2" in page
    assert "Pending" not in page and "Not finished" not in page


def test_b8_reconcile_check_counts_add_up_and_name_the_drift(
    apple, location, make_app, administrator, admin_web
):
    token, _uid = location
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="device")
    kept, lost = factories.DeviceFactory.create_batch(2)
    add_members(group, devices=[kept, lost])
    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    settle(apple, execute(LicenseRun.objects.get(assignment=assignment)))
    from tokens.apple import client_for
    from vpp.types import AssetRef

    client = client_for(token)
    client.disassociate_assets([AssetRef(app.adam_id)], serial_numbers=[lost.serial_number])
    client.associate_assets([AssetRef(app.adam_id)], serial_numbers=["STRANGER-1"])
    apple.wait_idle()

    check = execute(services.token_reconcile(token=token, actor=None))
    check.refresh_from_db()
    assert check.status == "completed" and check.trigger == "system"
    assert (check.total, check.succeeded, check.failed, check.skipped, check.pending) == (2, 0, 0, 2, 0)
    assert check.counts == {"untracked_count": 1, "missing_count": 1, "required_requested": 0}
    page = " ".join(
        admin_web.get(reverse("assignments:run-detail", args=[check.pk])).content.decode().split()
    )
    assert "Total 2 · Succeeded 0 · Failed 0 · Skipped 2" in page
    assert "Untracked at Apple 1 · Missing at Apple 1" in page and "Not finished" not in page
