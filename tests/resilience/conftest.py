"""Fixtures for the resilience suites: short Apple timeouts and back-offs, and the assignments fixtures."""

from __future__ import annotations

import pytest

from assignments import services
from assignments.models import LicenseRun
from tests import factories
from tests.assignments import conftest as assignment_fixtures
from tests.assignments.conftest import add_members
from tests.deployment import conftest as deployment_fixtures

# The assignments suite's fixtures: a fresh location at the simulator, apps with real counts there.
location = assignment_fixtures.location
make_app = assignment_fixtures.make_app
# The NanoMDM stand-in posting signed webhooks to the live console.
nanomdm = deployment_fixtures.nanomdm


@pytest.fixture
def fast_faults(settings, monkeypatch):
    """The client's real retry loop and timeouts, scaled down so a fault that outlasts them costs little."""
    monkeypatch.setattr("vpp.client.BACKOFF_BASE", 0.001)
    settings.VPP_REQUEST_TIMEOUT = 0.3
    settings.VPP_INTERACTIVE_TIMEOUT = 0.3


@pytest.fixture
def allocation(apple, location, make_app, administrator):
    """A Required, device-licensed assignment of an app with 5 licenses to a group of 3 devices."""
    token, uid = location
    app = make_app(total=5)
    group = factories.GroupFactory(group_type="device")
    devices = factories.DeviceFactory.create_batch(3)
    add_members(group, devices=devices)
    assignment = services.assignment_create(
        app=app, group=group, intent="required", license_type="device", actor=administrator
    )
    run = LicenseRun.objects.get(assignment=assignment, kind="allocate")
    return token, uid, app, assignment, run, devices
