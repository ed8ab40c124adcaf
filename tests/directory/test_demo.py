"""The demo directory loaded by `make run`."""

from __future__ import annotations

import pytest

from directory import selectors
from directory.demo import load_directory_demo
from directory.models import Device, DirectoryUser, Group

pytestmark = pytest.mark.django_db


def test_demo_directory_is_complete_and_idempotent():
    first = load_directory_demo()
    assert first == {"users": 40, "devices": 60, "groups": 5}
    assert load_directory_demo() == {"users": 0, "devices": 0, "groups": 0}
    assert DirectoryUser.objects.count() == 40
    assert DirectoryUser.objects.filter(managed_apple_id="").exists()
    assert Device.objects.count() == 60
    assert Device.objects.filter(kiosk_mode=True).count() == 2
    assert Device.objects.filter(app_store_allowed=False).count() == 1
    assert Device.objects.filter(ownership="personal", supervised=False).exists()
    assert Device.objects.filter(dep_enrolled=True, primary_user__isnull=True).exists()
    assert Device.objects.filter(dep_enrolled=True, primary_user__isnull=False).exists()
    groups = {g.name: g for g in selectors.group_list()}
    assert set(groups) == {"All teachers", "Sales", "Front desk iPads", "Classroom iPads", "Executives"}
    assert groups["Classroom iPads"].group_type == Group.GroupType.DEVICE
    assert groups["Classroom iPads"].member_count == 30
    assert groups["Executives"].group_type == Group.GroupType.USER


def test_api_schema_describes_the_directory(admin_api):
    response = admin_api.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    want = {"/api/v1/users/", "/api/v1/devices/", "/api/v1/groups/{id}/members/", "/api/v1/directory-import/"}
    assert want <= set(paths)
