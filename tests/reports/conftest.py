"""A small estate for the reports: two tokens, three apps, two groups, devices in several install states."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pytest
from django.utils import translation

from assignments.models import Assignment, License
from deployment.models import DeviceAppState
from directory.models import GroupMembership
from tests import factories


@dataclass
class Estate:
    alpha: object
    beta: object
    keynote: object
    pages: object
    guide: object
    sales: object
    staff: object
    ipad1: object
    ipad2: object
    ipad3: object
    ann: object
    device_assignment: object
    user_assignment: object
    license1: object


def build_estate(prefix: str = "", extra_devices: int = 0) -> Estate:
    """Keynote (Alpha, 9 of 10 used) assigned to Sales (devices) and Staff (users): iPad 1 installed, iPad 2
    failed for want of a license, iPhone 3 (Ann's) pending. Pages (Beta) on iPad 1; a book, unassigned.
    `extra_devices` more Sales devices with Keynote installed (for query counts)."""
    alpha = factories.VPPTokenFactory(name=f"{prefix}Alpha")
    beta = factories.VPPTokenFactory(name=f"{prefix}Beta")
    keynote = factories.AppFactory(
        vpp_token=alpha, name=f"{prefix}Keynote", platforms=["iOS", "macOS"],
        total_licenses=10, used_licenses=9, available_licenses=1,
    )  # fmt: skip
    pages = factories.AppFactory(
        vpp_token=beta, name=f"{prefix}Pages", total_licenses=4, used_licenses=1, available_licenses=3
    )
    guide = factories.AppFactory(
        vpp_token=alpha, name=f"{prefix}Guide", product_type="book", platforms=[],
        total_licenses=5, used_licenses=0, available_licenses=5,
    )  # fmt: skip
    ann = factories.DirectoryUserFactory(
        display_name=f"{prefix}Ann", user_principal_name=f"{prefix}ann@example.com"
    )
    sales = factories.GroupFactory(name=f"{prefix}Sales", group_type="device")
    staff = factories.GroupFactory(name=f"{prefix}Staff", group_type="user")
    ipad1 = factories.DeviceFactory(name=f"{prefix}iPad 1", platform="iPadOS")
    ipad2 = factories.DeviceFactory(name=f"{prefix}iPad 2", platform="iPadOS")
    ipad3 = factories.DeviceFactory(name=f"{prefix}iPhone 3", platform="iOS", primary_user=ann)
    GroupMembership.objects.create(group=sales, device=ipad1)
    GroupMembership.objects.create(group=sales, device=ipad2)
    GroupMembership.objects.create(group=staff, user=ann)
    device_assignment = Assignment.objects.create(
        app=keynote, group=sales, intent="required", license_type="device"
    )
    user_assignment = Assignment.objects.create(
        app=keynote, group=staff, intent="available", license_type="user"
    )
    license1 = License.objects.create(
        app=keynote, assignment=device_assignment, license_type="device", device=ipad1, state="assigned"
    )
    License.objects.create(
        app=keynote, assignment=device_assignment, license_type="device", device=ipad2, state="failed",
        error_number=9610, error="No licenses available",
    )  # fmt: skip
    DeviceAppState.objects.create(device=ipad1, app=keynote, state="installed")
    DeviceAppState.objects.create(
        device=ipad2, app=keynote, state="failed", error_domain="license", error="No licenses available"
    )
    DeviceAppState.objects.create(device=ipad3, app=keynote, state="pending_install")
    DeviceAppState.objects.create(device=ipad1, app=pages, state="installed")
    for i in range(extra_devices):
        device = factories.DeviceFactory(name=f"{prefix}extra {i}")
        GroupMembership.objects.create(group=sales, device=device)
        DeviceAppState.objects.create(device=device, app=keynote, state="installed")
        License.objects.create(
            app=keynote, assignment=device_assignment, license_type="device", device=device, state="assigned"
        )
    return Estate(
        alpha, beta, keynote, pages, guide, sales, staff, ipad1, ipad2, ipad3, ann, device_assignment,
        user_assignment, license1,
    )  # fmt: skip


@pytest.fixture
def estate(db) -> Estate:
    return build_estate()


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def table_rows(rows: list[list[str]]) -> list[dict[str, str]]:
    """CSV rows as dicts keyed by the header."""
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.fixture(autouse=True)
def _english_after_each_test():
    """A request in Chinese leaves its language active on the thread; the next test starts in English."""
    yield
    translation.activate("en")
