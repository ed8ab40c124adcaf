"""Request pipeline of the simulator: methods, content types, auth, rate limit, envelope."""

from __future__ import annotations

import re

import requests

from vpp.simulator import Simulator, mint_token
from vpp.simulator.testing import running_simulator

from .conftest import HQ

APPLE_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")


def test_service_config_needs_no_token_and_points_every_url_at_the_simulator(sim):
    response = requests.get(sim.base_url + "service/config", timeout=5)
    assert response.status_code == 200
    data = response.json()
    assert data["limits"]["maxAssets"] == 25
    assert data["limits"]["maxRequestPerSecond"] == 1000  # running_simulator's test setting
    assert set(data["notificationTypes"]) == {
        "ASSET_MANAGEMENT",
        "USER_MANAGEMENT",
        "USER_ASSOCIATED",
        "ASSET_COUNT",
    }
    assert {"errorNumber": 9622, "errorMessage": "Invalid authentication token"} not in data["errorCodes"]
    assert any(code["errorNumber"] == 9709 for code in data["errorCodes"])
    urls = data["urls"]
    assert urls["getAssets"] == sim.base_url + "assets"
    assert urls["eventStatus"] == sim.base_url + "status"
    assert urls["contentMetadataLookup"] == f"{sim.root_url}/WebObjects/MZStorePlatform.woa/wa/lookup"
    assert urls["invitationEmail"].startswith(sim.root_url) and "%25inviteCode%25" in urls["invitationEmail"]
    assert all(url.startswith(sim.root_url) for url in urls.values())


def test_service_config_limits_are_configurable(tmp_path):
    with running_simulator(key_file=tmp_path / "k", limits={"maxAssets": 3}) as sim:
        assert requests.get(sim.base_url + "service/config", timeout=5).json()["limits"]["maxAssets"] == 3


def test_wrong_method_is_9726_with_http_405(hq):
    response = hq.http.delete(hq.sim.base_url + "assets", timeout=5)
    assert response.status_code == 405
    assert response.json()["errorNumber"] == 9726
    assert hq.http.get(hq.sim.base_url + "assets/associate", timeout=5).json()["errorNumber"] == 9726


def test_post_without_json_content_type_is_9727_with_http_415(hq):
    response = hq.http.post(
        hq.sim.base_url + "client/config", data="{}", headers={"Content-Type": "text/plain"}, timeout=5
    )
    assert response.status_code == 415
    assert response.json()["errorNumber"] == 9727


def test_missing_or_malformed_authorization_header_is_9722_with_http_401(sim, hq):
    for headers in ({}, {"Authorization": hq.token}, {"Authorization": f"Token {hq.token}"}):
        response = requests.get(sim.base_url + "client/config", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["errorNumber"] == 9722


def test_garbage_token_answers_http_200_with_9622_like_apple(sim):
    response = requests.get(sim.base_url + "assets", headers={"Authorization": "Bearer bm9wZQ=="}, timeout=5)
    assert response.status_code == 200
    assert response.json() == {"errorNumber": 9622, "errorMessage": "Invalid authentication token"}


def test_unknown_token_status_can_be_switched_to_401(sim):
    sim.update_settings(unknown_token_http_status=401)
    response = requests.get(sim.base_url + "assets", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert response.status_code == 401
    assert response.json()["errorNumber"] == 9622


def test_token_signed_with_another_key_is_unknown(sim, tmp_path):
    foreign = mint_token(**HQ, key=b"another machine")
    response = requests.get(
        sim.base_url + "assets", headers={"Authorization": f"Bearer {foreign}"}, timeout=5
    )
    assert response.json()["errorNumber"] == 9622


def test_expired_token_is_9621_with_http_401(sim, hq):
    hq.sim.set_token_state(hq.uid, "expired")
    response = hq.get("assets")
    assert response.status_code == 401
    assert response.json()["errorNumber"] == 9621
    old = sim.mint_token(org_name="Old", location_name="Old", days=-1)
    response = requests.get(sim.base_url + "assets", headers={"Authorization": f"Bearer {old}"}, timeout=5)
    assert (response.status_code, response.json()["errorNumber"]) == (401, 9621)


def test_revoked_token_is_9625_and_valid_again_when_restored(hq):
    hq.sim.set_token_state(hq.uid, "revoked")
    response = hq.get("client/config")
    assert (response.status_code, response.json()["errorNumber"]) == (401, 9625)
    hq.sim.set_token_state(hq.uid, "valid")
    assert hq.get("client/config").status_code == 200


def test_success_envelope_has_uid_expiration_and_mdm_info_once_set(hq):
    data = hq.get("assets").json()
    assert data["uId"] == hq.uid and data["uId"].isdigit() and len(data["uId"]) >= 16
    assert APPLE_DATE.match(data["tokenExpirationDate"])
    assert "mdmInfo" not in data
    mdm = {"id": "console-1", "name": "VPP Console", "metadata": "console.example"}
    assert hq.post("client/config", {"mdmInfo": mdm}).status_code == 200
    for endpoint in ("assets", "users", "assignments", "client/config"):
        assert hq.get(endpoint).json()["mdmInfo"] == mdm


def test_invalid_json_body_is_9602(hq):
    response = hq.http.post(
        hq.sim.base_url + "users/create",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert (response.status_code, response.json()["errorNumber"]) == (400, 9602)


def test_token_minted_by_one_simulator_is_accepted_by_a_new_one_with_the_same_key_file(tmp_path):
    key_file = tmp_path / "shared.key"
    with running_simulator(key_file=key_file) as first:
        token = first.mint_token(org_name="Northwind", location_name="Warehouse", country="DE")
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    with running_simulator(fixture="empty", key_file=key_file) as second:
        response = requests.get(
            second.base_url + "client/config", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert response.status_code == 200
        data = response.json()
        assert data["locationName"] == "Warehouse"
        assert data["countryISO2ACode"] == "DE"


def test_module_mint_token_writes_apple_file_format_and_renews_the_same_location(tmp_path):
    import base64
    import json

    key_file = tmp_path / "k"
    content = mint_token(org_name="Acme", location_name="Main", key_file=key_file, days=30)
    decoded = json.loads(base64.b64decode(content))
    assert set(decoded) == {"token", "expDate", "orgName"}
    assert decoded["orgName"] == "Acme" and APPLE_DATE.match(decoded["expDate"])
    renewed = mint_token(org_name="Acme", location_name="Main", key_file=key_file)
    with running_simulator(key_file=key_file) as sim:
        assert sim.uid_of(content) == sim.uid_of(renewed)


def test_new_location_from_a_valid_token_starts_with_the_demo_catalogue(new_location):
    session = new_location(account_type="education", country="GB")
    config = session.get("client/config").json()
    assert config["locationName"] == "Fabrikam Main"
    assert config["defaultPlatform"] == "volumestore"
    assert config["websiteURL"] == "https://school.apple.com"
    assert config["countryISO2ACode"] == "GB"
    assert len(session.get("assets").json()["assets"]) >= 10


def test_rate_limit_per_token_is_9646_with_http_429_and_retry_after(tmp_path):
    with running_simulator(key_file=tmp_path / "k", max_request_per_second=3) as sim:
        token = sim.mint_token(**HQ)
        other = sim.mint_token(org_name="Other", location_name="Other")
        statuses = []
        for _ in range(5):
            response = requests.get(
                sim.base_url + "assets", headers={"Authorization": f"Bearer {token}"}, timeout=5
            )
            statuses.append(response.status_code)
        assert statuses[:3] == [200, 200, 200]
        assert 429 in statuses[3:]
        limited = requests.get(
            sim.base_url + "assets", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert limited.json()["errorNumber"] == 9646
        assert limited.headers["Retry-After"] == "1"
        # The limit is per token: another location is not throttled.
        assert (
            requests.get(
                sim.base_url + "assets", headers={"Authorization": f"Bearer {other}"}, timeout=5
            ).status_code
            == 200
        )


def test_simulator_can_be_started_and_stopped_as_a_context_manager(tmp_path):
    with Simulator(fixture="empty", key_file=str(tmp_path / "k")) as sim:
        assert requests.get(sim.base_url + "service/config", timeout=5).status_code == 200
