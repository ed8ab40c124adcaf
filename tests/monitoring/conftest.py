"""Fixtures for monitoring: a real HTTP receiver for the alert webhook, and sending pending notices."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import translation

from monitoring import services
from monitoring.models import AlertDelivery

WEBHOOK_SECRET = "test-alert-webhook-secret"


@dataclass
class Receiver:
    """A webhook receiver on a loopback port: answers the queued statuses in turn (then 204), verifies each
    body's signature the way the README tells integrators to, and records what it got."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def verify_signature(body: bytes, header: str, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header or "")


@pytest.fixture
def webhook_receiver(settings) -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                receiver.received.append(
                    {
                        "body": json.loads(body),
                        "verified": verify_signature(
                            body, self.headers.get("X-VPP-Console-Signature", ""), WEBHOOK_SECRET
                        ),
                        "event": self.headers.get("X-VPP-Console-Event"),
                        "answered": status,
                    }
                )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/vpp"
    settings.ALERT_WEBHOOK_URL = receiver.url
    settings.ALERT_WEBHOOK_SECRET = WEBHOOK_SECRET
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def deliver_pending() -> list[AlertDelivery]:
    """Send every pending notice once, as the `deliver_alert` task does."""
    pending = (
        AlertDelivery.objects.filter(status__in=[AlertDelivery.Status.PENDING, AlertDelivery.Status.RETRYING])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return [services.delivery_attempt(delivery_id=pk) for pk in list(pending)]


@pytest.fixture(autouse=True)
def _english():
    """Sentences are compared in English unless a test says otherwise (a request may leave another language
    active in the thread)."""
    with translation.override("en"):
        yield
