"""Keyboard only: an administrator completes an app's "Add group" form (a group picker, two choices, a
setting) with Tab, typing, Space and Enter, and saves it; no mouse, no click."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has the focus (fails if it is never reached)."""
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    pytest.fail(f"{selector} is not reachable with Tab")


def test_the_assignment_form_is_completed_and_saved_with_the_keyboard_only(page, administrator):
    from assignments.models import Assignment

    app = factories.AppFactory(name="Keynote", total_licenses=10, available_licenses=10)
    group = factories.GroupFactory(name="Sales iPads", group_type="device")
    factories.GroupFactory(name="Sales Macs", group_type="device")
    group.memberships.create(device=factories.DeviceFactory())
    sign_in(page, administrator.username)
    page.goto(f"/assignments/apps/{app.pk}/")

    # The group picker: typed in full, the name becomes the choice once the API's search finds it.
    _tab_to(page, "input[data-picker-text=group]")
    page.keyboard.type("Sales iPads")
    expect(page.locator("input[name=group]")).to_have_value(str(group.pk))
    # The pre-flight follows the choice (htmx on change): one license needed.
    expect(page.locator("#preflight")).to_contain_text("1")

    page.keyboard.press("Tab")  # Assignment type: a select takes the first letters of an option
    expect(page.locator("select[name=intent]")).to_be_focused()
    page.keyboard.type("Req")
    page.keyboard.press("Tab")
    expect(page.locator("select[name=license_type]")).to_be_focused()
    page.keyboard.type("Dev")
    _tab_to(page, "input[name=prevent_backup]")
    page.keyboard.press("Space")
    expect(page.locator("input[name=prevent_backup]")).to_be_checked()
    _tab_to(page, "[data-testid=assignment-form] button[type=submit]")
    page.keyboard.press("Enter")

    expect(page.locator("[data-testid=assignments-table]")).to_contain_text("Sales iPads")
    assignment = Assignment.objects.get(app=app)
    assert (assignment.group_id, assignment.intent, assignment.license_type) == (
        group.pk,
        "required",
        "device",
    )
    assert assignment.prevent_backup and assignment.uninstall_on_device_removal
