"""Persisting the simulator's state across restarts (``persist_file`` / ``run_apple_simulator --persist``)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import stat
import threading
import time

import pytest
import requests
from django.core.management import call_command

from vpp.simulator.persistence import FORMAT, FORMAT_VERSION
from vpp.simulator.testing import running_simulator

from .conftest import HQ, SCHOOLS, AppleSession, _session, subscribe

GARAGEBAND = "408709785"
MDM_INFO = {"id": "console-1", "name": "VPP Console", "metadata": "tenant=demo"}


@pytest.fixture
def paths(tmp_path):
    return {"key_file": tmp_path / "simulator.key", "persist_file": tmp_path / "state" / "simulator.json"}


def _restarted_session(session: AppleSession, sim) -> AppleSession:
    """The same token, talking to another simulator."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {session.token}"
    return AppleSession(sim=sim, token=session.token, uid=session.uid, http=http)


def test_state_survives_a_restart(paths, receiver):
    with running_simulator(**paths) as first:
        assert not first.restored
        hq = _session(first, **HQ)
        schools = _session(first, **SCHOOLS)
        subscribe(hq, receiver)
        response = hq.post("client/config", {"mdmInfo": MDM_INFO})
        assert response.status_code == 200, response.text
        before_version = hq.get("assignments").json()["versionId"]
        status = hq.run(
            "assets/associate",
            {"assets": [{"adamId": GARAGEBAND, "pricingParam": "STDQ"}], "serialNumbers": ["PERSIST-1"]},
        )
        assert status["eventStatus"] == "COMPLETE"
        event_id = hq.post(
            "users/create", {"users": [{"clientUserId": "persist-u1", "email": "p@example.com"}]}
        )
        event_id = event_id.json()["eventId"]
        assert hq.wait_event(event_id)["eventStatus"] == "COMPLETE"
        first.set_token_state(schools.uid, "revoked")
        config = hq.get("client/config").json()
        assignments = hq.get("assignments", adamId=GARAGEBAND).json()
        asset = hq.asset(GARAGEBAND)
        users = hq.get("users").json()["users"]
        snapshot = first.location(hq.uid)
    file = paths["persist_file"]
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert not [p for p in file.parent.iterdir() if p.name.endswith(".tmp")]
    saved = json.loads(file.read_text())
    assert (saved["format"], saved["version"]) == (FORMAT, FORMAT_VERSION)

    with running_simulator(**paths) as second:
        assert second.restored
        hq2 = _restarted_session(hq, second)
        again = hq2.get("client/config").json()
        assert again["mdmInfo"] == MDM_INFO
        assert again["notificationUrl"] == receiver.url
        assert again["notificationAuthToken"] == "hook-secret"
        assert again == config
        assert hq2.get("assignments", adamId=GARAGEBAND).json() == assignments
        assert {"adamId": GARAGEBAND, "pricingParam": "STDQ", "serialNumber": "PERSIST-1"} in assignments[
            "assignments"
        ]
        assert hq2.asset(GARAGEBAND) == asset
        assert hq2.get("users").json()["users"] == users
        assert second.location(hq.uid) == snapshot
        # Version logs survive: a delta walk from before the association still works.
        delta = hq2.get("assignments", sinceVersionId=before_version).json()["assignments"]
        assert {"adamId": GARAGEBAND, "pricingParam": "STDQ", "serialNumber": "PERSIST-1"} in delta
        assert hq2.get("status", eventId=event_id).json()["eventStatus"] == "COMPLETE"
        assert _restarted_session(schools, second).get("client/config").json()["errorNumber"] == 9625


def test_pending_events_run_after_a_restart(paths):
    with running_simulator(event_delay=30, **paths) as first:
        hq = _session(first, **HQ)
        response = hq.post(
            "assets/associate",
            {"assets": [{"adamId": GARAGEBAND, "pricingParam": "STDQ"}], "serialNumbers": ["LATE-1"]},
        )
        event_id = response.json()["eventId"]
        assert hq.get("status", eventId=event_id).json()["eventStatus"] == "PENDING"
    with running_simulator(**paths) as second:
        status = _restarted_session(hq, second).wait_event(event_id)
        assert status["eventStatus"] == "COMPLETE"
        serials = {a.get("serialNumber") for a in second.location(hq.uid)["assignments"]}
        assert "LATE-1" in serials


def test_saves_periodically_while_running(paths):
    with running_simulator(persist_interval=0.05, **paths) as sim:
        hq = _session(sim, **HQ)
        hq.post("client/config", {"mdmInfo": MDM_INFO})
        deadline = time.monotonic() + 5
        file = paths["persist_file"]
        while time.monotonic() < deadline:
            if file.exists() and MDM_INFO["metadata"] in file.read_text():
                break
            time.sleep(0.02)
        else:
            pytest.fail("state was not saved while running")
        mtime = file.stat().st_mtime_ns
        time.sleep(0.2)  # nothing changed: no rewrite
        assert file.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"format": FORMAT, "version": FORMAT_VERSION + 1}),
        json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "catalog": []}),
    ],
    ids=["garbage", "newer-version", "incomplete"],
)
def test_a_corrupt_file_is_moved_aside(paths, content, caplog):
    file = paths["persist_file"]
    file.parent.mkdir()
    file.write_text(content)
    with caplog.at_level(logging.WARNING, logger="vpp.simulator"), running_simulator(**paths) as sim:
        assert not sim.restored
        hq = _session(sim, **HQ)
        assert hq.asset(GARAGEBAND)["adamId"] == GARAGEBAND  # the demo fixture
    assert "unusable" in caplog.text
    assert (file.parent / "simulator.json.corrupt").read_text() == content
    assert json.loads(file.read_text())["format"] == FORMAT  # a fresh file once stopped


def test_command_saves_on_sigterm(paths):
    out = io.StringIO()
    failures: list[BaseException] = []

    def drive() -> None:
        deadline = time.monotonic() + 10
        while not (match := re.search(r"control: (\S+)/_simulator/", out.getvalue())):
            if time.monotonic() > deadline:  # the command failed; its exception fails the test
                return
            time.sleep(0.02)
        try:
            response = requests.post(
                f"{match.group(1)}/_simulator/tokens",
                json={"org_name": "Persisted Org", "location_name": "Persisted Location"},
                timeout=5,
            )
            assert response.status_code == 200
        except BaseException as exc:
            failures.append(exc)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    call_command(
        "run_apple_simulator",
        "--port=0",
        "--fixture=empty",
        "--quiet",
        f"--key-file={paths['key_file']}",
        f"--persist={paths['persist_file']}",
        stdout=out,
    )
    thread.join(5)
    assert not failures, failures
    assert "stopped" in out.getvalue()
    saved = json.loads(paths["persist_file"].read_text())
    assert [loc["locationName"] for loc in saved["locations"]] == ["Persisted Location"]
