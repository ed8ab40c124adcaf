"""Fixtures for the simulator tests: a running simulator, demo-location sessions, a webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from vpp.simulator import Simulator
from vpp.simulator.testing import running_simulator

HQ = {"org_name": "Contoso Ltd", "location_name": "Contoso HQ"}
SCHOOLS = {"org_name": "Contoso Ltd", "location_name": "Contoso Schools", "account_type": "education"}


@pytest.fixture
def sim(tmp_path) -> Iterator[Simulator]:
    with running_simulator(key_file=tmp_path / "simulator.key") as simulator:
        yield simulator


@dataclass
class AppleSession:
    """A requests session speaking to the simulator with one token."""

    sim: Simulator
    token: str
    uid: str
    http: requests.Session

    def get(self, endpoint: str, **params: Any) -> requests.Response:
        return self.http.get(self.sim.base_url + endpoint, params=params, timeout=10)

    def post(self, endpoint: str, body: Any) -> requests.Response:
        return self.http.post(self.sim.base_url + endpoint, json=body, timeout=10)

    def wait_event(self, event_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.get("status", eventId=event_id).json()
            if status["eventStatus"] != "PENDING" or time.monotonic() > deadline:
                return status
            time.sleep(0.02)

    def run(self, endpoint: str, body: Any) -> dict[str, Any]:
        response = self.post(endpoint, body)
        assert response.status_code == 200, response.text
        return self.wait_event(response.json()["eventId"])

    def asset(self, adam_id: str, pricing_param: str = "STDQ") -> dict[str, Any]:
        assets = self.get("assets", adamId=adam_id, pricingParam=pricing_param).json()["assets"]
        assert len(assets) == 1
        return assets[0]


def _session(sim: Simulator, **token_args: Any) -> AppleSession:
    token = sim.mint_token(**token_args)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    return AppleSession(sim=sim, token=token, uid=sim.uid_of(token), http=http)


@pytest.fixture
def hq(sim) -> AppleSession:
    """The demo business location (Contoso HQ, US)."""
    return _session(sim, **HQ)


@pytest.fixture
def schools(sim) -> AppleSession:
    """The demo education location."""
    return _session(sim, **SCHOOLS)


@pytest.fixture
def new_location(sim) -> Callable[..., AppleSession]:
    return lambda **kw: _session(sim, **{"org_name": "Fabrikam", "location_name": "Fabrikam Main", **kw})


@dataclass
class Receiver:
    """A local webhook: records every POST (headers + JSON); answers ``status`` (2xx by default)."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, notification_type: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                r["body"]
                for r in self.received
                if notification_type is None or r["body"].get("notificationType") == notification_type
            ]

    def wait_for(self, notification_type: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.bodies(notification_type)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        return self.bodies(notification_type)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            rec = state["receiver"]
            with rec.lock:
                rec.received.append(
                    {"authorization": self.headers.get("Authorization"), "body": json.loads(raw or b"{}")}
                )
            self.send_response(rec.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/apple/notify/")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


def subscribe(session: AppleSession, receiver: Receiver, types: list[str] | None = None) -> None:
    """Point the location's notifications at the receiver (sends a TEST_NOTIFICATION)."""
    response = session.post(
        "client/config",
        {
            "notificationUrl": receiver.url,
            "notificationAuthToken": "hook-secret",
            "notificationTypes": types
            or ["ASSET_MANAGEMENT", "USER_MANAGEMENT", "USER_ASSOCIATED", "ASSET_COUNT"],
        },
    )
    assert response.status_code == 200, response.text
