"""NanoMDMClient against the NanoMDM simulator over real HTTP: batching, per-id results (200/207/500), 401,
bounded retries. Contract: NanoMDM's operations guide."""

from __future__ import annotations

import pytest

from mdm import commands
from mdm.errors import MDMAuthError, MDMError, MDMUnavailable
from mdm.simulator.testing import running_mdm_simulator
from tests.mdm.conftest import enrol


def _inventory() -> commands.Command:
    return commands.managed_application_list(identifiers=["com.example.notes"])


def test_enqueue_batches_many_devices_into_few_requests_and_every_device_gets_the_command(
    mdm_sim, receiver, make_client
):
    udids = enrol(mdm_sim, 120)
    client = make_client(mdm_sim.url, max_ids_per_request=50)
    command = _inventory()

    result = client.enqueue(udids, command)

    assert result.http_status == 200 and result.ok
    assert result.requests == 3
    assert list(result.ids) == udids  # request order kept
    assert all(status.push_result for status in result.ids.values())
    log = mdm_sim.log()
    enqueues = [r for r in log["requests"] if r["kind"] == "enqueue"]
    assert [len(r["ids"]) for r in enqueues] == [50, 50, 20]
    # One command UUID per request (NanoMDM's SQL storage keeps a UUID once); the first is the command's.
    assert [r["command_uuid"] for r in enqueues] == result.command_uuids
    assert result.command_uuids[0] == command.command_uuid and len(set(result.command_uuids)) == 3
    assert {r["request_type"] for r in enqueues} == {"ManagedApplicationList"}
    assert len(log["commands"]) == 120
    # Each device answers under the UUID its IdStatus names, so results can be matched per device.
    assert mdm_sim.wait_idle(10)
    acks = receiver.wait_for(lambda: len(receiver.acks()) >= 120 and receiver.acks())
    assert {(a.udid, a.command_uuid) for a in acks} == {(u, s.command_uuid) for u, s in result.ids.items()}


def test_enqueue_splits_on_url_length_as_well_as_id_count(mdm_sim, make_client):
    udids = enrol(mdm_sim, 10)
    client = make_client(mdm_sim.url, max_ids_per_request=200, max_path_bytes=120)  # 3 UDIDs (37 bytes) each
    result = client.enqueue(udids, _inventory(), no_push=True)
    enqueues = [r for r in mdm_sim.log()["requests"] if r["kind"] == "enqueue"]
    assert result.requests == len(enqueues) == 4
    assert all(r["path_bytes"] <= 120 for r in enqueues)
    assert sorted(i for r in enqueues for i in r["ids"]) == sorted(udids)


def test_batched_enqueue_works_against_sql_storage_that_refuses_a_reused_command_uuid(receiver, make_client):
    with running_mdm_simulator(webhook_url=receiver.url, storage="mysql") as sim:
        udids = enrol(sim, 7)
        client = make_client(sim.url, max_ids_per_request=3)
        command = _inventory()
        result = client.enqueue(udids, command)
        assert result.http_status == 200 and result.requests == 3 and result.ok

        # Sending the same command (same UUID) again: NanoMDM's SQL storage refuses the whole request.
        again = client.enqueue(udids[:2], command)
        assert again.http_status == 500
        assert all("Duplicate entry" in (s.command_error or "") for s in again.ids.values())
        assert not any(s.queued for s in again.ids.values())


def test_207_partial_failure_is_recorded_per_device_not_raised(mdm_sim, make_client):
    udids = enrol(mdm_sim, 3)
    unknown = ["00000000-0000-0000-0000-00000000DEAD", "00000000-0000-0000-0000-00000000BEEF"]
    client = make_client(mdm_sim.url)

    result = client.enqueue([*udids, *unknown], _inventory())

    assert result.http_status == 207
    assert result.ok_ids == udids and result.failed_ids == unknown
    for udid in udids:
        assert result.ids[udid].push_result and result.ids[udid].error is None
    for udid in unknown:
        assert result.ids[udid].push_error == "push data missing for id"
        assert result.ids[udid].error == "push data missing for id"
    assert [r["http_status"] for r in mdm_sim.log()["requests"]] == [207]


def test_500_with_json_when_every_device_failed_is_a_result_per_device(mdm_sim, make_client):
    enrol(mdm_sim, 1)
    unknown = ["UNKNOWN-1", "UNKNOWN-2"]
    result = make_client(mdm_sim.url).enqueue(unknown, _inventory())
    assert result.http_status == 500
    assert {u: s.push_error for u, s in result.ids.items()} == dict.fromkeys(
        unknown, "push data missing for id"
    )


def test_a_500_whose_json_names_no_error_marks_every_device_failed(mdm_sim, make_client, sleeps):
    udids = enrol(mdm_sim, 2)
    mdm_sim.add_fault("unexplained_500")
    result = make_client(mdm_sim.url).enqueue(udids, _inventory())
    assert result.http_status == 500 and sleeps.delays == []  # a JSON answer: a result, not retried
    assert all("500" in (s.command_error or "") and not s.ok for s in result.ids.values())


def test_a_checked_out_device_reports_its_push_failure(mdm_sim, make_client):
    udid = enrol(mdm_sim, 1)[0]
    mdm_sim.check_out(udid)
    result = make_client(mdm_sim.url).enqueue([udid], _inventory())
    assert result.http_status == 500 and result.ids[udid].push_error == "Unregistered"


def test_enqueue_without_push_then_one_push_makes_the_devices_fetch_their_commands(
    mdm_sim, receiver, make_client
):
    udids = enrol(mdm_sim, 4)
    client = make_client(mdm_sim.url)
    first = client.enqueue(udids, _inventory(), no_push=True)
    second = client.enqueue(udids, commands.installed_application_list(), no_push=True)
    assert first.no_push and first.http_status == 200
    assert all(s.ok and s.push_result is None for s in first.ids.values())
    assert mdm_sim.wait_idle(5)
    assert receiver.acks() == []  # nobody was told to check in
    assert all(mdm_sim.device(u)["queued"] == 2 for u in udids)

    pushed = client.push(udids)

    assert pushed.http_status == 200 and all(s.push_result for s in pushed.ids.values())
    assert mdm_sim.wait_idle(10)
    for udid in udids:
        acks = receiver.acks(udid=udid)
        # The queue is ordered: the first command is answered first.
        assert [a.command_uuid for a in acks] == [first.ids[udid].command_uuid, second.ids[udid].command_uuid]
    kinds = [r["kind"] for r in mdm_sim.log()["requests"]]
    assert kinds == ["enqueue", "enqueue", "push"]


def test_push_reports_unknown_ids_per_id(mdm_sim, make_client):
    udid = enrol(mdm_sim, 1)[0]
    pushed = make_client(mdm_sim.url).push([udid, "NOPE"])
    assert pushed.http_status == 207
    assert pushed.ok_ids == [udid] and pushed.failed_ids == ["NOPE"]


def test_401_wrong_api_key_raises_auth_error_and_queues_nothing(mdm_sim, make_client):
    udid = enrol(mdm_sim, 1)[0]
    client = make_client(mdm_sim.url, api_key="wrong-key")
    with pytest.raises(MDMAuthError) as caught:
        client.enqueue([udid], _inventory())
    assert caught.value.status == 401
    assert "wrong-key" not in str(caught.value) and "wrong-key" not in repr(client)
    with pytest.raises(MDMAuthError):
        client.push([udid])
    assert mdm_sim.log()["requests"] == [] and mdm_sim.device(udid)["queued"] == 0


def test_5xx_without_json_is_retried_with_backoff_then_succeeds(mdm_sim, make_client, sleeps):
    udid = enrol(mdm_sim, 1)[0]
    mdm_sim.add_fault("unavailable", count=1)
    mdm_sim.add_fault("internal_error", count=1)
    result = make_client(mdm_sim.url).enqueue([udid], _inventory())
    assert result.ok and result.requests == 1
    assert sleeps.delays == [0.5, 1.0]
    assert [r["kind"] for r in mdm_sim.log()["requests"]] == ["fault", "fault", "enqueue"]
    assert len(mdm_sim.log()["commands"]) == 1  # queued once, not once per attempt


def test_retries_are_bounded_then_unavailable_is_raised(mdm_sim, make_client, sleeps):
    udid = enrol(mdm_sim, 1)[0]
    mdm_sim.add_fault("unavailable", count=50)
    with pytest.raises(MDMUnavailable) as caught:
        make_client(mdm_sim.url, max_retries=2).enqueue([udid], _inventory())
    assert caught.value.status == 503 and caught.value.partial is None
    assert caught.value.unsent_ids == (udid,)
    assert len(sleeps.delays) == 2
    assert [r["kind"] for r in mdm_sim.log()["requests"]] == ["fault"] * 3


def test_connection_refused_is_retried_a_bounded_number_of_times(make_client, sleeps):
    with running_mdm_simulator() as sim:
        url = sim.url  # the port is closed once the simulator stops
    with pytest.raises(MDMUnavailable) as caught:
        make_client(url, max_retries=3).push(["A"])
    assert caught.value.status is None and "connect" in caught.value.message
    assert sleeps.delays == [0.5, 1.0, 2.0]


def test_a_read_timeout_on_enqueue_is_not_retried_because_the_command_may_be_queued(
    mdm_sim, make_client, sleeps
):
    udid = enrol(mdm_sim, 1)[0]
    mdm_sim.add_fault("slow", count=1, delay=1.0)
    with pytest.raises(MDMUnavailable, match="timeout"):
        make_client(mdm_sim.url, timeout=0.3).enqueue([udid], _inventory())
    assert sleeps.delays == []
    # A push is harmless to repeat: the same timeout is retried.
    mdm_sim.add_fault("slow", count=1, delay=1.0)
    pushed = make_client(mdm_sim.url, timeout=0.3).push([udid])
    assert pushed.ok_ids == [udid] and sleeps.delays == [0.5]


def test_a_later_batch_failing_keeps_the_results_of_the_batches_already_sent(mdm_sim, make_client):
    udids = enrol(mdm_sim, 5)
    mdm_sim.add_fault("unavailable", count=50, skip=1)
    with pytest.raises(MDMUnavailable) as caught:
        make_client(mdm_sim.url, max_ids_per_request=2, max_retries=1).enqueue(udids, _inventory())
    partial = caught.value.partial
    assert partial is not None and partial.requests == 1
    assert list(partial.ids) == udids[:2] and partial.ok
    assert caught.value.unsent_ids == tuple(udids[2:])


def test_the_command_plist_reaches_the_device_with_its_types(mdm_sim, make_client):
    udid = enrol(mdm_sim, 1)[0]
    command = commands.install_application(itunes_store_id=361309726, management_flags=1, removable=False)
    make_client(mdm_sim.url).enqueue([udid], command, no_push=True)
    [logged] = mdm_sim.log(udid=udid)["commands"]
    assert logged["command"] == {
        "RequestType": "InstallApplication",
        "iTunesStoreID": 361309726,
        "ManagementFlags": 1,
        "Options": {"PurchaseMethod": 1},
        "Attributes": {"Removable": False},
    }
    assert logged["command_uuid"] == command.command_uuid


def test_ids_that_cannot_be_addressed_are_refused_before_any_request(mdm_sim, make_client):
    client = make_client(mdm_sim.url)
    for bad in (["a,b"], [""], ["x/y"], "ABC"):
        with pytest.raises(ValueError):
            client.enqueue(bad, _inventory())
    empty = client.enqueue([], _inventory())
    assert empty.ids == {} and empty.requests == 0 and empty.http_status == 200
    assert mdm_sim.log()["requests"] == []


def test_api_off_or_unexpected_answers_raise_mdm_error(receiver, make_client):
    with running_mdm_simulator(api_key=None) as sim:
        with pytest.raises(MDMError) as caught:
            make_client(sim.url).push(["A"])
        assert caught.value.status == 404 and not isinstance(caught.value, MDMUnavailable)


def test_client_works_as_a_context_manager_and_refuses_a_non_http_url(mdm_sim):
    from mdm.client import NanoMDMClient

    with NanoMDMClient(mdm_sim.url, "test-api-key") as client:
        assert client.push(["X"]).failed_ids == ["X"]
    with pytest.raises(ValueError):
        NanoMDMClient("ftp://example", "k")
