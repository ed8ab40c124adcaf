"""Fixtures for deployment: the webhook key, signed webhook posts, and NanoMDM events."""

from __future__ import annotations

import pytest

from mdm.simulator.events import acknowledge_event, checkin_event, encode_event
from mdm.webhook import sign
from tests.assignments.conftest import location, make_app  # noqa: F401  (fixtures shared with assignments)

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


def wait_for(condition, timeout: float = 120.0, interval: float = 0.2, message: str = ""):
    """Poll `condition` until it returns something truthy; fail with `message` (and the last value) after."""
    import time

    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting: {message} (last: {value!r})\n{diagnose()}")


@pytest.fixture
def nanomdm(apple, live_server, settings):
    """The NanoMDM stand-in on a free port, posting signed webhooks to the live console, its devices asking
    the Apple simulator for licenses; the console pointed at it. Yields the control client."""
    from mdm.simulator.control import MDMSimulatorControl
    from mdm.simulator.testing import running_mdm_simulator

    apple_root = apple.base_url.split("/mdm/")[0]
    with running_mdm_simulator(
        webhook_url=f"{live_server.url}{WEBHOOK}", hmac_key=HMAC_KEY, apple_url=apple_root
    ) as simulator:
        settings.NANOMDM_URL = simulator.url
        settings.NANOMDM_API_KEY = "test-api-key"
        settings.NANOMDM_WEBHOOK_HMAC_KEY = HMAC_KEY
        settings.MDM_INVENTORY_BACKOFF = [1, 1, 2, 2, 3]
        control = MDMSimulatorControl(simulator.url)
        control.simulator = simulator
        yield control


def diagnose(app=None) -> str:
    """What the console knows (for failure messages)."""
    from assignments.models import License, LicenseRun
    from deployment.models import Command, DeviceAppState, WebhookEvent

    lines = []
    if app is not None:
        lines.append(
            f"states {list(DeviceAppState.objects.filter(app=app).values_list('state', 'error'))[:10]}"
        )
        lines.append(f"licenses {list(License.objects.filter(app=app).values_list('state', 'error'))[:10]}")
        lines.append(
            "commands "
            + str(list(Command.objects.filter(app=app).values_list("purpose", "status", "error"))[:10])
        )
    lines.append(f"runs {list(LicenseRun.objects.values_list('kind', 'status', 'progress', 'error'))[:5]}")
    outcomes: dict = {}
    for topic, outcome in WebhookEvent.objects.values_list("topic", "outcome"):
        key = (topic, outcome.split(" ")[0])
        outcomes[key] = outcomes.get(key, 0) + 1
    lines.append(f"events {outcomes}")
    return "\n".join(lines)
