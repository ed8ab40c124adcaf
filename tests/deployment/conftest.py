"""Fixtures for deployment: the webhook key, signed webhook posts, and NanoMDM events."""

from __future__ import annotations

import pytest

from mdm.simulator.events import acknowledge_event, checkin_event, encode_event
from mdm.webhook import sign

HMAC_KEY = "test-webhook-hmac-key"
WEBHOOK = "/webhooks/nanomdm/"


@pytest.fixture
def mdm_settings(settings):
    """Deployment on, against a NanoMDM that is not running (tests that send commands start the stand-in)."""
    settings.NANOMDM_URL = "http://127.0.0.1:9"
    settings.NANOMDM_API_KEY = "test-api-key"
    settings.NANOMDM_WEBHOOK_HMAC_KEY = HMAC_KEY
    return settings


def post_event(client, event: dict | bytes, *, key: str | None = HMAC_KEY, signature: str | None = None):
    body = event if isinstance(event, bytes) else encode_event(event)
    headers = {}
    if signature is not None:
        headers["HTTP_X_HMAC_SIGNATURE"] = signature
    elif key is not None:
        headers["HTTP_X_HMAC_SIGNATURE"] = sign(body, key)
    return client.post(WEBHOOK, data=body, content_type="application/json", **headers)


def authenticate(udid: str, serial: str, name: str = "Test iPad", **extra) -> dict:
    payload = {
        "MessageType": "Authenticate",
        "UDID": udid,
        "SerialNumber": serial,
        "DeviceName": name,
        "Model": "iPad13,1",
        "ModelName": "iPad",
        "ProductName": "iPad13,1",
        "OSVersion": "18.1",
        "BuildVersion": "22B83",
        "Topic": "com.apple.mgmt.External.test",
        **extra,
    }
    return checkin_event("mdm.Authenticate", payload, udid=udid)


def checkout(udid: str) -> dict:
    return checkin_event(
        "mdm.CheckOut",
        {"MessageType": "CheckOut", "UDID": udid, "Topic": "com.apple.mgmt.External.test"},
        udid=udid,
    )


def ack(udid: str, command_uuid: str, status: str = "Acknowledged", **answer) -> dict:
    return acknowledge_event(
        {"UDID": udid, "Status": status, "CommandUUID": command_uuid, **answer}, udid=udid
    )
