"""Writes are chunked by Apple's limits and return one event per request, with the chunk it covered."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vpp.errors import BadRequest
from vpp.types import AssetRef, MdmInfo, RequestUser

APP = "408709785"  # GarageBand in the simulator's demo catalogue, 20 licences
BOOK = "881256329"  # a book: never device-assignable


def serials(n, prefix="C02"):
    return [f"{prefix}{i:06d}" for i in range(n)]


def test_s2_250_serials_are_split_by_max_serial_numbers(sim, uid, client):
    sim.update_settings(limits={"maxSerialNumbers": 40})
    sim.add_asset(uid, "900000010", totalCount=300)
    wanted = serials(250)

    events = client.associate_assets([AssetRef("900000010")], serial_numbers=wanted)

    assert len(events) == 7  # 6 x 40 + 10
    assert [len(e.serial_numbers) for e in events] == [40] * 6 + [10]
    assert [s for e in events for s in e.serial_numbers] == wanted
    assert len({e.event_id for e in events}) == 7
    assert all(e.assets == (AssetRef("900000010", "STDQ"),) for e in events)
    assert all(e.uid == uid for e in events)
    assert sim.wait_idle()
    for event in events:
        status = client.event_status(event.event_id)
        assert status.is_complete
        assert status.num_completed == len(event.serial_numbers)
    assigned = {a.serial_number for a in client.iter_assignments(adam_id="900000010")}
    assert assigned == set(wanted)


def test_assets_and_both_target_kinds_are_chunked(sim, uid, client):
    sim.update_settings(limits={"maxAssets": 2, "maxSerialNumbers": 3, "maxClientUserIds": 2})
    for n in range(5):
        sim.add_asset(uid, f"90000002{n}", totalCount=50)
    client.create_users([RequestUser(f"user-{n}") for n in range(4)])
    assert sim.wait_idle()
    assets = [f"90000002{n}" for n in range(5)]

    events = client.associate_assets(
        assets, serial_numbers=serials(4), client_user_ids=[f"user-{n}" for n in range(4)]
    )

    # 3 asset chunks (2, 2, 1) x 2 target chunks (3 serials + 2 users, 1 serial + 2 users)
    assert len(events) == 6
    assert [len(e.assets) for e in events] == [2, 2, 2, 2, 1, 1]
    assert [(len(e.serial_numbers), len(e.client_user_ids)) for e in events[:2]] == [(3, 2), (1, 2)]
    assert sim.wait_idle()
    assert len(list(client.iter_assignments())) == 5 * (4 + 4)


def test_duplicates_are_dropped_and_nothing_to_do_makes_no_request(client):
    assert client.associate_assets([APP], serial_numbers=[]) == []
    assert client.revoke_assets() == []
    assert client.create_users([]) == []
    [event] = client.associate_assets([APP, AssetRef(APP)], serial_numbers=["S1", "S1", "S2"])
    assert event.assets == (AssetRef(APP),)
    assert event.serial_numbers == ("S1", "S2")


def test_s9_revoke_is_chunked_by_revoke_limits(sim, uid, client):
    sim.add_asset(uid, "900000030", totalCount=300)
    sim.update_settings(limits={"maxRevokeSerialNumbers": 100})
    client.associate_assets(["900000030"], serial_numbers=serials(250))
    assert sim.wait_idle()

    events = client.revoke_assets(serial_numbers=serials(250))

    assert [len(e.serial_numbers) for e in events] == [100, 100, 50]
    assert sim.wait_idle()
    assert all(client.event_status(e.event_id).is_complete for e in events)
    assert list(client.iter_assignments(adam_id="900000030")) == []


def test_s10_disassociate_releases_licences(sim, uid, client):
    client.associate_assets([APP], serial_numbers=["D1", "D2"])
    assert sim.wait_idle()
    [event] = client.disassociate_assets([APP], serial_numbers=["D1"])
    assert sim.wait_idle()
    assert client.event_status(event.event_id).event_type == "DISASSOCIATE"
    assert {a.serial_number for a in client.iter_assignments(adam_id=APP)} == {"D2"}


def test_users_are_chunked_by_max_users(sim, client):
    sim.update_settings(limits={"maxUsers": 10})
    users = [RequestUser(f"cu-{n}", f"cu{n}@example.com") for n in range(25)]

    events = client.create_users(users)

    assert [len(e.users) for e in events] == [10, 10, 5]
    assert [c for e in events for c in e.client_user_ids] == [u.client_user_id for u in users]
    assert sim.wait_idle()
    active = {u.client_user_id for u in client.iter_users(active_only=True)}
    assert active == {u.client_user_id for u in users}

    [update] = client.update_users([RequestUser("cu-1", managed_apple_id="cu1@managed.example.com")])
    [retire] = client.retire_users(["cu-2"])
    assert sim.wait_idle()
    assert client.event_status(update.event_id).is_complete
    assert client.event_status(retire.event_id).is_complete
    [cu1] = client.iter_users(client_user_id="cu-1")
    assert cu1.status == "Associated" and cu1.id_hash
    assert [u.status for u in client.iter_users(client_user_id="cu-2")] == ["Retired"]


def test_a_failing_chunk_reports_the_events_already_accepted(sim, uid, client):
    sim.update_settings(limits={"maxAssets": 1})
    with pytest.raises(BadRequest) as excinfo:
        client.associate_assets([APP, BOOK], serial_numbers=["X1"])
    assert excinfo.value.number == 9707  # a book is not device-assignable
    [accepted] = excinfo.value.events
    assert accepted.assets == (AssetRef(APP),)
    assert accepted.event_id


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.headers.get("Authorization"), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/notify/", handler.received
    server.shutdown()
    server.server_close()


def test_t4_claim_the_token_and_subscribe_without_keeping_the_secret(client, webhook):
    url, received = webhook
    mdm = MdmInfo(id="console-1", name="VPP Console", metadata="console.example.com")

    config = client.update_client_config(
        mdm_info=mdm,
        notification_url=url,
        notification_auth_token="webhook-secret-123",
        notification_types=["ASSET_MANAGEMENT", "USER_MANAGEMENT"],
    )

    assert config.mdm_info == mdm
    assert config.notification_url == url
    assert config.notification_types == ("ASSET_MANAGEMENT", "USER_MANAGEMENT")
    assert "webhook-secret-123" not in repr(config)
    assert received and received[0][0] == "Bearer webhook-secret-123"
    assert received[0][1]["notificationType"] == "TEST_NOTIFICATION"
    assert client.client_config().mdm_info == mdm


def test_t8_another_mdm_shows_in_every_read(sim, uid, client):
    sim.set_mdm_info(uid, id="other", name="Other MDM", metadata="other.example.com")
    assert client.client_config().mdm_info == MdmInfo("other", "Other MDM", "other.example.com")
    result = client.iter_assets()
    list(result)
    assert result.mdm_info is not None and result.mdm_info.name == "Other MDM"


def test_notification_url_without_secret_is_9710(client):
    with pytest.raises(BadRequest) as excinfo:
        client.update_client_config(notification_url="https://example.com/notify")
    assert excinfo.value.number == 9710
