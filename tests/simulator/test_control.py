"""Control API (``SimulatorControl``), state files and the management commands."""

from __future__ import annotations

import json

import pytest
import requests
from django.core.management import call_command

from vpp.simulator.control import SimulatorControl, SimulatorControlError
from vpp.simulator.testing import running_simulator

GARAGEBAND = "408709785"


def test_simulator_control_drives_a_running_simulator_over_http(sim, receiver):
    control = SimulatorControl(sim.root_url)
    assert control.ping()
    assert control.base_url == sim.base_url
    names = {loc["locationName"] for loc in control.locations()}
    assert names == {"Contoso HQ", "Contoso Schools"}
    token = control.mint_token(org_name="Contoso Ltd", location_name="Contoso HQ")
    uid = sim.uid_of(token)
    state = control.location(uid)
    assert state["locationName"] == "Contoso HQ"
    assert {"assets", "assignments", "users", "clientConfig", "versionIds"} <= set(state)
    garageband = next(a for a in state["assets"] if a["adamId"] == GARAGEBAND)
    assert control.change_count(uid, GARAGEBAND, 5)["totalCount"] == garageband["totalCount"] + 5
    control.add_asset(uid, "999000333", totalCount=3, catalog={"name": "Added"})
    assert any(a["adamId"] == "999000333" for a in control.location(uid)["assets"])
    control.set_country(uid, "FR")
    control.set_mdm_info(uid, id="other", name="Other", metadata="m")
    assert control.location(uid)["mdmInfo"]["id"] == "other"
    control.accept_invitation(uid, "hq-user-003")
    control.set_app_version(GARAGEBAND, "10.0")
    assert next(c for c in control.catalog() if c["adamId"] == GARAGEBAND)["version"] == "10.0"
    control.set_token_state(uid, "revoked")
    assert (
        requests.get(sim.base_url + "assets", headers={"Authorization": f"Bearer {token}"}, timeout=5).json()[
            "errorNumber"
        ]
        == 9625
    )
    control.update_settings(page_size=5)
    assert control.settings()["page_size"] == 5
    control.set_notification_mode("drop")
    assert control.settings()["notification_mode"] == "drop"
    control.add_fault("slow", delay=0.0, count=2)
    assert len(control.faults()) == 1
    control.clear_faults()
    assert control.wait_idle()
    control.reset()
    assert control.location(uid)["countryISO2ACode"] == "US"
    big = control.generate_location(org_name="Gen", location_name="Gen", assets=5, assignments=50)
    assert control.location(sim.uid_of(big))["assignmentCount"] == 50
    with pytest.raises(SimulatorControlError) as error:
        control.location("0")
    assert error.value.status == 404


def test_bad_control_requests_are_400(sim):
    control = SimulatorControl(sim.root_url + "/mdm/v2/")
    with pytest.raises(SimulatorControlError):
        control.update_settings(no_such_setting=1)
    with pytest.raises(SimulatorControlError):
        control.set_token_state(control.locations()[0]["uId"], "sleepy")


def test_state_file_is_loaded_by_a_new_simulator(tmp_path):
    key = tmp_path / "k"
    out = tmp_path / "big.json"
    call_command(
        "generate_simulator_location",
        "--assets",
        "20",
        "--assignments",
        "3000",
        "--users",
        "5",
        "--org",
        "Load",
        "--location",
        "Test",
        "--key-file",
        str(key),
        "-o",
        str(out),
    )
    data = json.loads(out.read_text())
    assert (
        sum(len(a["serialNumbers"]) + len(a["clientUserIds"]) for a in data["locations"][0]["assets"]) == 3000
    )
    token = (tmp_path / "big.vpptoken").read_text()
    with running_simulator(fixture="empty", key_file=key) as sim:
        sim.load_state_file(out)
        response = requests.get(
            sim.base_url + "assignments", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert response.json()["totalPages"] == 30


def test_make_simulator_token_writes_a_token_file(tmp_path):
    key = tmp_path / "k"
    out = tmp_path / "t.vpptoken"
    call_command(
        "make_simulator_token",
        "--org",
        "Acme",
        "--location",
        "East",
        "--account-type",
        "education",
        "--country",
        "GB",
        "--key-file",
        str(key),
        "-o",
        str(out),
    )
    with running_simulator(fixture="empty", key_file=key) as sim:
        response = requests.get(
            sim.base_url + "client/config", headers={"Authorization": f"Bearer {out.read_text()}"}, timeout=5
        )
        data = response.json()
        assert (data["locationName"], data["countryISO2ACode"], data["defaultPlatform"]) == (
            "East",
            "GB",
            "volumestore",
        )


def test_licenses_read_endpoint_answers_whether_a_device_or_user_holds_an_app(sim, hq):
    """The NanoMDM simulator's devices ask this before a PurchaseMethod 1 install (issue 9)."""
    control = SimulatorControl(sim.root_url)
    assert control.licenses(GARAGEBAND, serial_number="LIC-SERIAL-1")["licenses"] == []
    hq.run("assets/associate", {"assets": [{"adamId": GARAGEBAND}], "serialNumbers": ["LIC-SERIAL-1"]})
    hq.run("assets/associate", {"assets": [{"adamId": GARAGEBAND}], "clientUserIds": ["hq-user-003"]})

    device = control.licenses(GARAGEBAND, serial_number="LIC-SERIAL-1")
    assert device["bundleId"] == "com.apple.mobilegarageband" and device["name"] == "GarageBand"
    assert device["licenses"] == [
        {"adamId": GARAGEBAND, "pricingParam": "STDQ", "serialNumber": "LIC-SERIAL-1", "uId": hq.uid}
    ]
    user = control.licenses(GARAGEBAND, client_user_id="hq-user-003")["licenses"]
    assert [(u["clientUserId"], u["userStatus"]) for u in user] == [("hq-user-003", "Registered")]
    assert control.licenses(GARAGEBAND, serial_number="OTHER")["licenses"] == []
    with pytest.raises(SimulatorControlError) as missing:
        control._request("GET", "/licenses")
    assert missing.value.status == 400
