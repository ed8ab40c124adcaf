"""The NanoMDM simulator's devices, driven through the client and the webhook over real HTTP: enrolment,
installs with and without a license held at the Apple simulator (S2/S5), NotNow, ErrorChain, silent devices,
removal (S3), inventory and apps deleted by the user (M3), invitations (S4), CheckOut."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request

import pytest
import requests

from mdm import commands
from mdm.client import NanoMDMClient
from mdm.simulator.control import MDMSimulatorControl, MDMSimulatorControlError
from mdm.simulator.testing import running_mdm_simulator
from tests.mdm.conftest import API_KEY, HMAC_KEY, enrol
from vpp.client import VPPClient

PAGES = 361309726
PAGES_BUNDLE = "com.apple.Pages"
HQ = {"org_name": "Contoso Ltd", "location_name": "Contoso HQ"}


@pytest.fixture
def devices_sim(receiver, apple):
    with running_mdm_simulator(
        api_key=API_KEY, webhook_url=receiver.url, hmac_key=HMAC_KEY, apple_url=apple.root_url
    ) as simulator:
        yield simulator


@pytest.fixture
def client(devices_sim):
    with NanoMDMClient(devices_sim.url, API_KEY) as mdm_client:
        yield mdm_client


@pytest.fixture
def vpp(apple):
    with VPPClient(apple.mint_token(**HQ), base_url=apple.base_url, timeout=5.0) as vpp_client:
        yield vpp_client


def assign(apple, vpp, adam_id: int, *, serial_numbers=(), client_user_ids=()):
    """Assign a license at the Apple simulator and wait until Apple processed it."""
    vpp.associate_assets([str(adam_id)], serial_numbers=serial_numbers, client_user_ids=client_user_ids)
    assert apple.wait_idle(10)


def send(sim, client, udids, command):
    result = client.enqueue(udids, command)
    assert result.ok, result
    assert sim.wait_idle(10)
    return result


def last_ack(receiver, udid, command_uuid):
    acks = receiver.wait_for(lambda: receiver.acks(udid=udid, command_uuid=command_uuid))
    assert acks, f"no report for {command_uuid}"
    return acks[-1]


def managed_apps(sim, client, receiver, udid):
    command = commands.managed_application_list()
    send(sim, client, [udid], command)
    return last_ack(receiver, udid, command.command_uuid).managed_apps


# ---------------------------------------------------------------------------------------------- enrolment


def test_enrolment_posts_signed_authenticate_then_token_update_with_the_device_identity(mdm_sim, receiver):
    device = mdm_sim.enroll(
        "C02XK1ABCD12", device_name="Reception iPad", model="iPad13,16", os_version="17.4"
    )
    assert mdm_sim.wait_idle(5)
    events = receiver.wait_for(lambda: len(receiver.events()) >= 2 and receiver.events())
    assert [e.topic for e in events] == ["mdm.Authenticate", "mdm.TokenUpdate"]
    assert all(r.signature_ok for r in receiver.received)
    auth = events[0].checkin
    assert auth is not None
    assert (auth.serial_number, auth.device_name, auth.model, auth.os_version) == (
        "C02XK1ABCD12",
        "Reception iPad",
        "iPad13,16",
        "17.4",
    )
    assert auth.udid == auth.enrollment_id == device["udid"]
    token = events[1].checkin
    assert token is not None and token.token_update_tally == 1 and token.udid == device["udid"]
    # Re-enrolling the same serial number keeps the UDID and counts the TokenUpdate again.
    assert mdm_sim.enroll("C02XK1ABCD12")["udid"] == device["udid"]
    assert mdm_sim.wait_idle(5)
    assert receiver.events("mdm.TokenUpdate")[-1].checkin.token_update_tally == 2


def test_a_webhook_event_answered_late_or_with_5xx_is_delivered_again(mdm_sim, receiver):
    """A console under load (a 503, then an answer past the sender's timeout) still gets every event once;
    NanoMDM's own single attempt is `webhook_attempts=1`."""
    mdm_sim.update_settings(webhook_timeout=0.3)
    receiver.troubles = [503, 1.0]
    mdm_sim.enroll("C02RETRY0001")
    assert mdm_sim.wait_idle(10)
    events = receiver.wait_for(lambda: len(receiver.events()) >= 2 and receiver.events())
    assert [e.topic for e in events] == ["mdm.Authenticate", "mdm.TokenUpdate"]
    log = mdm_sim.webhooks()
    assert [(w["topic"], w["http_status"], w["attempts"]) for w in log] == [
        ("mdm.Authenticate", 200, 3),
        ("mdm.TokenUpdate", 200, 1),
    ]
    # A refusal that is not the console's load (a bad signature: 403) is not sent again.
    receiver.troubles = [403]
    mdm_sim.enroll("C02RETRY0002")
    assert mdm_sim.wait_idle(10)
    # NanoMDM's own behaviour: one attempt, the event is lost.
    mdm_sim.update_settings(webhook_attempts=1)
    receiver.troubles = [502]
    mdm_sim.enroll("C02RETRY0003")
    assert mdm_sim.wait_idle(10)
    refused = [(w["http_status"], w["attempts"], w["error"]) for w in mdm_sim.webhooks()[2:] if w["error"]]
    assert refused == [(403, 1, "HTTP 403"), (502, 1, "HTTP 502")]


def test_drop_webhook_fault_loses_only_the_matching_events(mdm_sim, receiver):
    mdm_sim.add_fault("drop_webhook", count=1, topic="mdm.TokenUpdate")
    mdm_sim.enroll("C02DROP00001")
    assert mdm_sim.wait_idle(10)
    assert [e.topic for e in receiver.wait_for(lambda: receiver.events())] == ["mdm.Authenticate"]
    assert [(w["topic"], w["error"]) for w in mdm_sim.webhooks()] == [
        ("mdm.Authenticate", None),
        ("mdm.TokenUpdate", "dropped (fault)"),
    ]


def test_events_have_nanomdm_json_shape_and_are_unsigned_without_a_key(receiver):
    with running_mdm_simulator(webhook_url=receiver.url, hmac_key=None) as sim:
        sim.enroll("SERIAL00001")
        assert sim.wait_idle(5)
    raw = receiver.received[0]
    assert raw.signature is None and not raw.signature_ok
    event = json.loads(raw.body)
    assert set(event) == {"topic", "event_id", "created_at", "checkin_event"}
    assert set(event["checkin_event"]) == {"ids", "udid", "raw_payload"}
    assert event["checkin_event"]["ids"]["type"] == "Device"
    assert base64.b64decode(event["checkin_event"]["raw_payload"]).startswith(b"<?xml")


def test_demo_fleet_has_stable_serials_and_mixed_models(mdm_sim):
    devices = mdm_sim.enroll_demo(3)
    assert [d["serial_number"] for d in devices] == ["NMDM00000001", "NMDM00000002", "NMDM00000003"]
    assert {d["model_name"] for d in devices} == {"iPad Air", "iPhone 14 Pro"}
    assert mdm_sim.enroll_demo(1)[0]["serial_number"] == "NMDM00000004"


# ---------------------------------------------------------------------------------------------- installs


def test_s2_install_with_a_device_license_is_acknowledged_then_managed(
    devices_sim, client, receiver, apple, vpp
):
    device = devices_sim.enroll("DEVLIC000001")
    assert devices_sim.wait_idle(5)
    assign(apple, vpp, PAGES, serial_numbers=["DEVLIC000001"])
    devices_sim.update_settings(install_delay=0.3)

    install = commands.install_application(itunes_store_id=PAGES, management_flags=1)
    send(devices_sim, client, [device["udid"]], install)

    ack = last_ack(receiver, device["udid"], install.command_uuid)
    assert (ack.status, ack.identifier, ack.install_state) == ("Acknowledged", PAGES_BUNDLE, "Installing")
    assert ack.request_type is None  # devices do not repeat the request type: match by command UUID
    app = managed_apps(devices_sim, client, receiver, device["udid"])[PAGES_BUNDLE]
    assert (app.status, app.management_flags) == ("Managed", 1)
    installed = commands.installed_application_list(managed_apps_only=True)
    send(devices_sim, client, [device["udid"]], installed)
    [listed] = last_ack(receiver, device["udid"], installed.command_uuid).installed_apps
    assert (listed.identifier, listed.name, listed.short_version) == (PAGES_BUNDLE, "Pages", "14.1")


def test_s5_install_without_a_license_fails_on_the_device_with_an_error_chain(devices_sim, client, receiver):
    device = devices_sim.enroll("NOLIC0000001")
    assert devices_sim.wait_idle(5)
    install = commands.install_application(itunes_store_id=PAGES)
    send(devices_sim, client, [device["udid"]], install)
    ack = last_ack(receiver, device["udid"], install.command_uuid)
    assert ack.status == "Error"
    [error] = ack.error_chain
    assert (error.code, error.domain) == (12064, "MCMDMErrorDomain")
    assert "no license" in error.description
    assert PAGES_BUNDLE not in managed_apps(devices_sim, client, receiver, device["udid"])
    assert devices_sim.device(device["udid"])["queued"] == 0  # an Error ends the command


def test_s2_user_licensed_install_needs_the_users_license_and_association(
    devices_sim, client, receiver, apple, vpp
):
    joined = devices_sim.enroll("USRLIC000001", client_user_id="hq-user-001")  # Associated in the demo
    waiting = devices_sim.enroll("USRLIC000002", client_user_id="hq-user-003")  # Registered: not joined
    other = devices_sim.enroll("USRLIC000003", client_user_id="hq-user-002")  # no license
    assert devices_sim.wait_idle(5)
    assign(apple, vpp, PAGES, client_user_ids=["hq-user-001", "hq-user-003"])

    install = commands.install_application(itunes_store_id=PAGES)
    result = send(devices_sim, client, [joined["udid"], waiting["udid"], other["udid"]], install)

    assert last_ack(receiver, joined["udid"], install.command_uuid).status == "Acknowledged"
    pending = last_ack(receiver, waiting["udid"], result.ids[waiting["udid"]].command_uuid)
    assert pending.status == "Error" and pending.error_chain[0].code == 12065
    refused = last_ack(receiver, other["udid"], result.ids[other["udid"]].command_uuid)
    assert refused.status == "Error" and refused.error_chain[0].code == 12064


def test_install_with_a_store_id_of_the_wrong_type_is_a_command_format_error(devices_sim, client, receiver):
    udid = enrol(devices_sim, 1)[0]
    bad = commands.Command("InstallApplication", "BAD-1", {"iTunesStoreID": str(PAGES)})
    send(devices_sim, client, [udid], bad)
    assert last_ack(receiver, udid, "BAD-1").status == "CommandFormatError"


# ---------------------------------------------------------------------------------------------- behaviours


def test_not_now_keeps_the_command_queued_until_a_later_check_in(devices_sim, client, receiver):
    udid = enrol(devices_sim, 1)[0]
    devices_sim.set_behaviour(udid, not_now=1)
    command = commands.managed_application_list()
    send(devices_sim, client, [udid], command)
    assert [a.status for a in receiver.acks(udid=udid)] == ["NotNow"]
    assert devices_sim.device(udid)["queued"] == 1

    client.push([udid])
    assert devices_sim.wait_idle(5)

    assert [a.status for a in receiver.acks(udid=udid)] == ["NotNow", "Acknowledged"]
    [logged] = devices_sim.log(udid=udid)["commands"]
    assert logged["results"] == ["NotNow", "Acknowledged"] and logged["status"] == "Acknowledged"


def test_configured_error_chain_is_reported_then_the_device_recovers(devices_sim, client, receiver):
    udid = enrol(devices_sim, 1)[0]
    devices_sim.set_behaviour(
        udid,
        fail={
            "request_type": "RemoveApplication",
            "code": 4001,
            "domain": "TestDomain",
            "description": "Busy",
            "count": 1,
        },
    )
    first = commands.remove_application(identifier="com.example.personal-budget")
    inventory = commands.managed_application_list()
    send(devices_sim, client, [udid], first)
    send(devices_sim, client, [udid], inventory)  # other request types are not affected
    error = last_ack(receiver, udid, first.command_uuid)
    assert error.status == "Error"
    assert [(e.code, e.domain, e.description) for e in error.error_chain] == [(4001, "TestDomain", "Busy")]
    assert last_ack(receiver, udid, inventory.command_uuid).status == "Acknowledged"


def test_a_silent_device_accepts_the_push_but_never_answers(devices_sim, client, receiver):
    udid = enrol(devices_sim, 1)[0]
    devices_sim.set_behaviour(udid, silent=True)
    result = client.enqueue([udid], commands.managed_application_list())
    assert result.ok and result.ids[udid].push_result  # APNs accepted the push
    assert devices_sim.wait_idle(5)
    assert receiver.acks(udid=udid) == [] and devices_sim.device(udid)["queued"] == 1
    assert [e.acknowledge.status for e in receiver.events("mdm.Connect")] == []  # not even Idle


def test_every_check_in_starts_with_idle(devices_sim, client, receiver):
    udid = enrol(devices_sim, 1)[0]
    send(devices_sim, client, [udid], commands.managed_application_list())
    statuses = [e.acknowledge.status for e in receiver.events("mdm.Connect") if e.acknowledge.udid == udid]
    assert statuses == ["Idle", "Acknowledged"]


# ------------------------------------------------------------------------------------- removal, inventory


def test_s3_remove_application_removes_a_managed_app_and_refuses_an_unmanaged_one(
    devices_sim, client, receiver, apple, vpp
):
    device = devices_sim.enroll("REMOVE000001")
    assert devices_sim.wait_idle(5)
    assign(apple, vpp, PAGES, serial_numbers=["REMOVE000001"])
    send(devices_sim, client, [device["udid"]], commands.install_application(itunes_store_id=PAGES))

    remove = commands.remove_application(identifier=PAGES_BUNDLE)
    send(devices_sim, client, [device["udid"]], remove)
    assert last_ack(receiver, device["udid"], remove.command_uuid).status == "Acknowledged"
    assert PAGES_BUNDLE not in managed_apps(devices_sim, client, receiver, device["udid"])

    again = commands.remove_application(identifier=PAGES_BUNDLE)
    send(devices_sim, client, [device["udid"]], again)
    refused = last_ack(receiver, device["udid"], again.command_uuid)
    assert refused.status == "Error" and refused.error_chain[0].description == "The app is not managed."


def test_m3_an_app_deleted_by_the_user_reports_managed_but_uninstalled_then_missing(
    devices_sim, client, receiver, apple, vpp
):
    device = devices_sim.enroll("DELETED00001")
    assert devices_sim.wait_idle(5)
    assign(apple, vpp, PAGES, serial_numbers=["DELETED00001"])
    send(devices_sim, client, [device["udid"]], commands.install_application(itunes_store_id=PAGES))

    devices_sim.delete_app(device["udid"], PAGES_BUNDLE)
    assert (
        managed_apps(devices_sim, client, receiver, device["udid"])[PAGES_BUNDLE].status
        == "ManagedButUninstalled"
    )
    listing = commands.installed_application_list()
    send(devices_sim, client, [device["udid"]], listing)
    names = [a.identifier for a in last_ack(receiver, device["udid"], listing.command_uuid).installed_apps]
    assert names == ["com.example.personal-budget"]  # only the user's own app is still installed

    devices_sim.delete_app(device["udid"], PAGES_BUNDLE, forget=True)
    assert PAGES_BUNDLE not in managed_apps(devices_sim, client, receiver, device["udid"])

    # Reinstalling (the Required intent on the next check) works: the license was kept at Apple.
    again = commands.install_application(itunes_store_id=PAGES)
    send(devices_sim, client, [device["udid"]], again)
    assert last_ack(receiver, device["udid"], again.command_uuid).status == "Acknowledged"


def test_inventory_lists_filter_by_identifier_and_managed_only(devices_sim, client, receiver):
    udid = enrol(devices_sim, 1)[0]
    everything = commands.installed_application_list()
    managed_only = commands.installed_application_list(managed_apps_only=True)
    wanted = commands.managed_application_list(identifiers=["com.example.unknown"])
    for command in (everything, managed_only, wanted):
        send(devices_sim, client, [udid], command)
    assert [a.identifier for a in last_ack(receiver, udid, everything.command_uuid).installed_apps] == [
        "com.example.personal-budget"
    ]
    assert last_ack(receiver, udid, managed_only.command_uuid).installed_apps == []
    assert last_ack(receiver, udid, wanted.command_uuid).managed_apps == {}


def test_s4_invite_to_program_is_acknowledged_and_recorded(devices_sim, client, receiver):
    udid = enrol(devices_sim, 1)[0]
    url = "https://vpp.example/associate?inviteCode=abc"
    invite = commands.invite_to_program(invitation_url=url)
    send(devices_sim, client, [udid], invite)
    ack = last_ack(receiver, udid, invite.command_uuid)
    assert ack.status == "Acknowledged" and ack.raw["InvitationResult"] == "Acknowledged"
    assert devices_sim.device(udid)["invitations"] == [url]


# ---------------------------------------------------------------------------------------------- checkout, log


def test_checkout_posts_the_event_drops_the_queue_and_ends_pushes(devices_sim, client, receiver, apple, vpp):
    device = devices_sim.enroll("CHECKOUT0001")
    assert devices_sim.wait_idle(5)
    assign(apple, vpp, PAGES, serial_numbers=["CHECKOUT0001"])
    send(
        devices_sim,
        client,
        [device["udid"]],
        commands.install_application(itunes_store_id=PAGES, management_flags=1),
    )
    client.enqueue([device["udid"]], commands.managed_application_list(), no_push=True)

    devices_sim.check_out(device["udid"])

    [event] = receiver.events("mdm.CheckOut")
    assert event.checkin.udid == device["udid"] and event.checkin.message_type == "CheckOut"
    state = devices_sim.device(device["udid"])
    assert not state["enrolled"] and state["queued"] == 0
    assert PAGES_BUNDLE not in {a["identifier"] for a in state["apps"]}  # flag 1: removed with the profile
    assert client.push([device["udid"]]).ids[device["udid"]].push_error == "Unregistered"


def test_command_log_counts_install_commands_and_enqueue_requests(devices_sim, client):
    udids = enrol(devices_sim, 5)
    client.enqueue(udids, commands.install_application(itunes_store_id=PAGES), no_push=True)
    client.enqueue(udids[:2], commands.managed_application_list(), no_push=True)
    log = devices_sim.log(request_type="InstallApplication")
    assert len(log["commands"]) == 5 and len(log["requests"]) == 1
    assert {c["udid"] for c in log["commands"]} == set(udids)
    assert len(devices_sim.log()["requests"]) == 2
    summary = MDMSimulatorControl(devices_sim.url).summary()
    assert summary["commands_by_type"] == {"InstallApplication": 5, "ManagedApplicationList": 2}
    assert summary["enqueue_requests_by_type"] == {"InstallApplication": 1, "ManagedApplicationList": 1}


# ---------------------------------------------------------------------------------------------- raw HTTP


def test_api_answers_401_with_no_body_and_a_basic_challenge(mdm_sim):
    response = requests.put(f"{mdm_sim.url}/v1/enqueue/ABC", data=b"x", auth=("nanomdm", "nope"), timeout=5)
    assert response.status_code == 401 and response.content == b""
    assert response.headers["WWW-Authenticate"] == 'Basic realm="nanomdm"'
    wrong_user = requests.get(f"{mdm_sim.url}/v1/push/ABC", auth=("admin", API_KEY), timeout=5)
    assert wrong_user.status_code == 401


def test_a_body_that_is_not_a_command_plist_is_a_500_with_a_command_error(mdm_sim):
    response = requests.put(
        f"{mdm_sim.url}/v1/enqueue/ABC", data=b"<plist>", auth=("nanomdm", API_KEY), timeout=5
    )
    assert response.status_code == 500
    assert response.json()["command_error"].startswith("decoding command:")


def test_control_api_over_http_drives_the_same_behaviours(mdm_sim):
    control = MDMSimulatorControl(mdm_sim.url)
    assert control.ping()
    device = control.enroll("CTRL00000001", client_user_id="u-1")
    assert control.wait_idle(5)
    assert control.device("CTRL00000001")["udid"] == device["udid"]  # by serial number too
    assert control.set_behaviour(device["udid"], not_now=-1)[0]["not_now"] == -1
    assert control.update_device(device["udid"], client_user_id="u-2")["client_user_id"] == "u-2"
    assert control.summary()["enrolled"] == 1
    with pytest.raises(MDMSimulatorControlError) as missing:
        control.device("nope")
    assert missing.value.status == 404
    control.reset()
    assert control.devices() == []


def test_command_line_starts_the_simulator_and_enrols_the_given_devices(receiver):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mdm.simulator",
            "--port",
            "0",
            "--api-key",
            "cli-key",
            "--webhook-url",
            receiver.url,
            "--enroll-serials",
            "DMPCL0000001,DMPCL0000002",
            "--demo-devices",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "NanoMDM simulator on http://127.0.0.1:" in line and "API on" in line
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(f"{url}/version", timeout=5) as response:
            assert json.loads(response.read()) == {"version": "simulator"}
        events = receiver.wait_for(
            lambda: len(receiver.events("mdm.TokenUpdate")) >= 3 and receiver.events(), 10
        )
        serials = {e.checkin.serial_number for e in events if e.topic == "mdm.Authenticate"}
        assert serials == {"DMPCL0000001", "DMPCL0000002", "NMDM00000001"}
        udids = [d["udid"] for d in MDMSimulatorControl(url).devices()]
        with NanoMDMClient(url, "cli-key") as cli_client:
            assert sorted(cli_client.push(udids).ok_ids) == sorted(udids)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
