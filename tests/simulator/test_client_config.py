"""client/config: location info, mdmInfo, webhook validation and TEST_NOTIFICATION."""

from __future__ import annotations

import pytest

from vpp.simulator.testing import running_simulator

from .conftest import subscribe

MDM = {"id": "4f0c3f0e-console", "name": "VPP Console", "metadata": "console.example.com"}


def test_client_config_describes_business_and_education_locations(hq, schools):
    business = hq.get("client/config").json()
    assert business["locationName"] == "Contoso HQ"
    assert business["countryISO2ACode"] == "US"
    assert business["defaultPlatform"] == "enterprisestore"
    assert business["websiteURL"] == "https://business.apple.com"
    assert business["uId"] == hq.uid
    education = schools.get("client/config").json()
    assert education["defaultPlatform"] == "volumestore"
    assert education["websiteURL"] == "https://school.apple.com"
    assert education["uId"] != business["uId"]


@pytest.mark.parametrize(
    ("mdm_info", "number"),
    [
        ({"id": "x", "name": "y"}, 9723),
        ({"id": "", "name": "y", "metadata": "z"}, 9723),
        ("not an object", 9723),
        ({"id": "x" * 101, "name": "y", "metadata": "z"}, 9724),
        ({"id": "x", "name": "y" * 101, "metadata": "z"}, 9725),
        ({"id": "x", "name": "y", "metadata": "z" * 256}, 9713),
    ],
)
def test_mdm_info_is_validated(hq, mdm_info, number):
    response = hq.post("client/config", {"mdmInfo": mdm_info})
    assert (response.status_code, response.json()["errorNumber"]) == (400, number)


def test_mdm_info_is_stored_and_another_mdm_can_overwrite_it(hq):
    assert hq.post("client/config", {"mdmInfo": MDM}).json()["mdmInfo"] == MDM
    hq.sim.set_mdm_info(hq.uid, id="other", name="Other MDM", metadata="other.example")
    assert hq.get("client/config").json()["mdmInfo"]["name"] == "Other MDM"
    assert hq.get("assets").json()["mdmInfo"]["id"] == "other"


def test_notification_url_and_token_must_come_together_9710(hq):
    for body in ({"notificationUrl": "https://x.example/hook"}, {"notificationAuthToken": "secret"}):
        response = hq.post("client/config", body)
        assert (response.status_code, response.json()["errorNumber"]) == (400, 9710)


def test_notification_url_or_token_too_long_9711(hq):
    response = hq.post(
        "client/config", {"notificationUrl": "https://x.example/" + "a" * 600, "notificationAuthToken": "s"}
    )
    assert response.json()["errorNumber"] == 9711


def test_notification_url_must_be_https_9712(tmp_path):
    with running_simulator(key_file=tmp_path / "k", allow_insecure_notification_urls=False) as sim:
        import requests

        token = sim.mint_token(org_name="A", location_name="B")
        response = requests.post(
            sim.base_url + "client/config",
            json={"notificationUrl": "http://127.0.0.1:9/hook", "notificationAuthToken": "s"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert (response.status_code, response.json()["errorNumber"]) == (400, 9712)


def test_notification_url_must_be_an_absolute_url_even_when_http_is_allowed(hq):
    response = hq.post(
        "client/config", {"notificationUrl": "ftp://x.example/hook", "notificationAuthToken": "s"}
    )
    assert response.json()["errorNumber"] == 9712


def test_unknown_notification_type_is_9602(hq):
    assert hq.post("client/config", {"notificationTypes": ["NOPE"]}).json()["errorNumber"] == 9602


def test_setting_a_webhook_sends_a_test_notification_with_the_bearer_secret(hq, receiver):
    subscribe(hq, receiver, ["ASSET_MANAGEMENT"])
    [received] = receiver.received
    assert received["authorization"] == "Bearer hook-secret"
    body = received["body"]
    assert body["notificationType"] == "TEST_NOTIFICATION"
    assert body["notification"] == {}
    assert body["uId"] == hq.uid and body["notificationId"]
    config = hq.get("client/config").json()
    assert config["notificationUrl"] == receiver.url
    assert config["notificationAuthToken"] == "hook-secret"
    assert config["subscribedNotificationTypes"] == ["ASSET_MANAGEMENT"]


def test_unreachable_webhook_is_9728_and_nothing_is_stored(hq, receiver):
    receiver.status = 500
    response = hq.post(
        "client/config",
        {"notificationUrl": receiver.url, "notificationAuthToken": "s", "notificationTypes": ["ASSET_COUNT"]},
    )
    assert (response.status_code, response.json()["errorNumber"]) == (400, 9728)
    config = hq.get("client/config").json()
    assert "notificationUrl" not in config and config["subscribedNotificationTypes"] == []
    closed = hq.post(
        "client/config", {"notificationUrl": "http://127.0.0.1:9/closed", "notificationAuthToken": "s"}
    )
    assert closed.json()["errorNumber"] == 9728


def test_omitted_keys_stay_unchanged_and_empty_types_unsubscribe(hq, receiver):
    subscribe(hq, receiver, ["ASSET_MANAGEMENT", "ASSET_COUNT"])
    hq.post("client/config", {"mdmInfo": MDM})
    config = hq.get("client/config").json()
    assert config["notificationUrl"] == receiver.url
    assert config["subscribedNotificationTypes"] == ["ASSET_MANAGEMENT", "ASSET_COUNT"]
    hq.post("client/config", {"notificationTypes": []})
    config = hq.get("client/config").json()
    assert config["subscribedNotificationTypes"] == []
    assert config["mdmInfo"] == MDM
