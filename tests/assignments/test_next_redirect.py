"""The `next` of the license actions returns to a console page, never to another site (open redirect)."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.mark.django_db
@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "http://evil.example/directory/",
        "\\\\evil.example",
    ],
)
def test_next_to_another_site_goes_to_the_console_instead(admin_web, next_url):
    device = factories.DeviceFactory()
    response = admin_web.post(f"/assignments/devices/{device.pk}/revoke-licenses/", {"next": next_url})
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_next_inside_the_console_is_honoured(admin_web):
    device = factories.DeviceFactory()
    back = f"/directory/devices/{device.pk}/"
    response = admin_web.post(f"/assignments/devices/{device.pk}/revoke-licenses/", {"next": back})
    assert response.status_code == 302
    assert response["Location"] == back
    user = factories.DirectoryUserFactory()
    back = f"/directory/users/{user.pk}/?tab=licenses"
    response = admin_web.post(f"/assignments/users/{user.pk}/revoke-licenses/", {"next": back})
    assert response["Location"] == back
