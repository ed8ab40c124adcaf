"""Fixtures for the NanoMDM tests: the NanoMDM simulator over real HTTP, a webhook receiver that checks
signatures and parses events with ``mdm.webhook``, the Apple simulator for license checks, and a client that
records its back-off sleeps instead of sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mdm.client import NanoMDMClient
from mdm.simulator import NanoMDMSimulator
from mdm.simulator.testing import running_mdm_simulator
from mdm.webhook import HMAC_HEADER, WebhookEvent, parse_event, verify_signature
from vpp.simulator import Simulator
from vpp.simulator.testing import running_simulator

API_KEY = "test-api-key"
HMAC_KEY = "test-hmac-key"


@dataclass
class Received:
    body: bytes
    signature: str | None
    event: WebhookEvent
    signature_ok: bool


@dataclass
class WebhookReceiver:
    """The console's side of the webhook, reduced to: verify, parse, keep."""

    url: str
    key: str = HMAC_KEY
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The next deliveries are answered so, before any is kept: an HTTP status, or a number of seconds to stall
    # (as a console under load, past the sender's timeout) and then answer 200 without keeping the event.
    troubles: list[int | float] = field(default_factory=list)

    def events(self, topic: str | None = None) -> list[WebhookEvent]:
        with self.lock:
            return [r.event for r in self.received if topic is None or r.event.topic == topic]

    def acks(self, *, udid: str | None = None, command_uuid: str | None = None) -> list[Any]:
        return [
            e.acknowledge
            for e in self.events("mdm.Connect")
            if e.acknowledge is not None
            and (udid is None or e.acknowledge.udid == udid)
            and (command_uuid is None or e.acknowledge.command_uuid == command_uuid)
            and e.acknowledge.status != "Idle"
        ]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.02)
        return predicate()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    holder: dict[str, WebhookReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec = holder["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            signature = self.headers.get(HMAC_HEADER)
            with rec.lock:
                trouble = rec.troubles.pop(0) if rec.troubles else None
            if trouble is not None:
                if isinstance(trouble, float):
                    time.sleep(trouble)
                self.send_response(trouble if isinstance(trouble, int) else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with rec.lock:
                rec.received.append(
                    Received(body, signature, parse_event(body), verify_signature(body, signature, rec.key))
                )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["receiver"] = WebhookReceiver(url=f"http://127.0.0.1:{server.server_address[1]}/webhooks/nanomdm/")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield holder["receiver"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def apple() -> Iterator[Simulator]:
    with running_simulator() as simulator:
        yield simulator


@pytest.fixture
def mdm_sim(receiver: WebhookReceiver) -> Iterator[NanoMDMSimulator]:
    with running_mdm_simulator(api_key=API_KEY, webhook_url=receiver.url, hmac_key=HMAC_KEY) as simulator:
        yield simulator


class SleepRecorder:
    """Stands in for time.sleep in the retry loop: records each delay, returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(sleeps: SleepRecorder) -> Iterator[Callable[..., NanoMDMClient]]:
    clients: list[NanoMDMClient] = []

    def make(url: str, api_key: str = API_KEY, **kwargs: Any) -> NanoMDMClient:
        kwargs.setdefault("sleep", sleeps)
        kwargs.setdefault("timeout", 5.0)
        client = NanoMDMClient(url, api_key, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def enrol(sim: NanoMDMSimulator, count: int, **fields: Any) -> list[str]:
    """Enrol ``count`` demo devices and wait until their TokenUpdate was posted; their UDIDs."""
    devices = sim.enroll_demo(count, **fields)
    assert sim.wait_idle(10)
    return [d["udid"] for d in devices]
