"""Property tests for NanoMDM's webhook (D6, §4 bad input): whatever a holder of the HMAC key posts, the
console answers 200 or 400 and never fails; applying a recorded event never raises; an event refused at the
door, or recorded as malformed or ignored, changes nothing.

Events are drawn near NanoMDM's format (the real topics, the UDIDs and serial numbers of enrolled devices, the
UUIDs of commands the console sent, plist payloads with the keys devices send) with any value swapped in for
any field.
"""

from __future__ import annotations

import base64
import itertools
import json
import plistlib
import uuid

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deployment import services
from deployment.models import Command, DeviceAppState, WebhookEvent
from directory.models import Device
from tests import factories
from tests.deployment.conftest import HMAC_KEY, post_event

TOPICS = ["mdm.Authenticate", "mdm.TokenUpdate", "mdm.CheckOut", "mdm.Connect"]
STATUSES = ["Acknowledged", "Error", "CommandFormatError", "NotNow", "Idle"]

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_any = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def ptext(max_size: int = 30):
    """Text a plist can carry (no control characters)."""
    return st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=max_size)


plist_leaf = st.one_of(
    st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), ptext(), st.binary(max_size=8)
)
plist_any = st.recursive(
    plist_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(ptext(8), inner, max_size=3)),
    max_leaves=8,
)


def _or_any(good, other=json_any):
    """Mostly (nine in ten) the well-formed value, sometimes anything."""
    return st.sampled_from(range(10)).flatmap(lambda roll: other if roll == 9 else good)


@st.composite
def webhook_events(draw, *, udids, serials, command_uuids, bundle_ids):
    udid = draw(_or_any(st.sampled_from([*udids, "UDID-NEW-1"]), plist_any))
    serial = _or_any(st.sampled_from([*serials, "SN-NEW-1", "", "x" * 300]), plist_any)
    app_item = st.fixed_dictionaries(
        {"Identifier": _or_any(st.sampled_from([*bundle_ids, "com.example.other"]), plist_any)},
        optional={
            "Status": _or_any(
                st.sampled_from(["Managed", "Installing", "Failed", "UserRejected"]), plist_any
            ),
            "Version": _or_any(ptext(max_size=8), plist_any),
        },
    )
    error = st.fixed_dictionaries(
        {},
        optional={
            "ErrorCode": _or_any(st.integers(-5, 20000), plist_any),
            "ErrorDomain": _or_any(ptext(max_size=20), plist_any),
            "LocalizedDescription": _or_any(ptext(max_size=40), plist_any),
        },
    )
    topic = draw(_or_any(st.sampled_from(TOPICS), ptext(max_size=20)))
    if topic == "mdm.Connect":
        payload = draw(
            st.fixed_dictionaries(
                {"UDID": st.just(udid), "Status": _or_any(st.sampled_from(STATUSES), plist_any)},
                optional={
                    "CommandUUID": _or_any(st.sampled_from([*command_uuids, str(uuid.uuid4())]), plist_any),
                    "ErrorChain": _or_any(st.lists(error, max_size=2), plist_any),
                    "ManagedApplicationList": _or_any(
                        st.dictionaries(st.sampled_from(bundle_ids), app_item, max_size=2), plist_any
                    ),
                    "InstalledApplicationList": _or_any(st.lists(app_item, max_size=2), plist_any),
                },
            )
        )
        sub = {
            "ids": {"id": udid if isinstance(udid, str) else "x", "type": "Device"},
            "udid": udid,
            "status": payload.get("Status"),
            "raw_payload": base64.b64encode(plistlib.dumps(payload)).decode(),
        }
        if isinstance(payload.get("CommandUUID"), str):
            sub["command_uuid"] = payload["CommandUUID"]
        body = {
            "topic": topic,
            "event_id": str(uuid.uuid4()),
            "acknowledge_event": draw(_or_any(st.just(sub))),
        }
    else:
        payload = draw(
            st.fixed_dictionaries(
                {
                    "MessageType": _or_any(st.just(topic.removeprefix("mdm.")), plist_any),
                    "UDID": st.just(udid),
                },
                optional={
                    "SerialNumber": serial,
                    "DeviceName": _or_any(ptext(max_size=40), plist_any),
                    "OSVersion": _or_any(st.sampled_from(["18.1", "17.6.1", ""]), plist_any),
                    "Model": _or_any(st.just("iPad13,1"), plist_any),
                },
            )
        )
        raw = base64.b64encode(plistlib.dumps(payload)).decode()
        sub = {"ids": {"id": "x", "type": "Device"}, "udid": udid, "raw_payload": draw(_or_any(st.just(raw)))}
        body = {"topic": topic, "event_id": str(uuid.uuid4()), "checkin_event": draw(_or_any(st.just(sub)))}
    body["created_at"] = draw(_or_any(st.just("2026-12-01T10:00:00Z")))
    for key in list(body):
        if draw(st.sampled_from(range(20))) == 19:
            del body[key]
    return draw(_or_any(st.just(body)))


def _state() -> tuple:
    """Everything a webhook event may change."""
    return (
        sorted(
            Device.objects.values_list("pk", "serial_number", "udid", "mdm_enrolled", "name", "os_version")
        ),
        sorted(DeviceAppState.objects.values_list("device_id", "app_id", "state", "error")),
        sorted(Command.objects.values_list("pk", "status", "error")),
    )


@pytest.fixture
def enrolled(db, settings):
    """Two enrolled devices, one with an install sent (a command the console waits for)."""
    settings.NANOMDM_URL = "http://127.0.0.1:9"
    settings.NANOMDM_API_KEY = "test-api-key"
    settings.NANOMDM_WEBHOOK_HMAC_KEY = HMAC_KEY
    app = factories.AppFactory(bundle_id="com.example.notes")
    devices = [
        factories.DeviceFactory(udid=f"UDID-{n}", serial_number=f"SN-{n}", mdm_enrolled=True) for n in (1, 2)
    ]
    command = Command.objects.create(
        device=devices[0],
        app=app,
        purpose=Command.Purpose.INSTALL,
        request_type="InstallApplication",
        command_uuid=str(uuid.uuid4()),
        status=Command.Status.QUEUED,
    )
    DeviceAppState.objects.create(device=devices[0], app=app, state="pending_install")
    return devices, command, app


def test_d6_any_webhook_event_is_answered_applied_or_refused_and_a_refusal_changes_nothing(client, enrolled):
    devices, command, app = enrolled
    events = webhook_events(
        udids=[d.udid for d in devices],
        serials=[d.serial_number for d in devices],
        command_uuids=[command.command_uuid],
        bundle_ids=[app.bundle_id],
    )
    sent = itertools.count()

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=events)
    def check(body):
        number = next(sent)
        if isinstance(body, dict) and number % 5 == 0:
            body = {**body, "event_id": None}  # keyed by the body's hash instead
        # Plist data drawn into a JSON field is sent as NanoMDM writes it: a short text.
        raw = json.dumps(body, default=lambda value: f"<{len(value)} bytes>").encode()
        before, recorded = _state(), WebhookEvent.objects.count()
        response = post_event(client, raw)
        assert response.status_code in (200, 400), response.content
        if response.status_code == 400:
            assert (_state(), WebhookEvent.objects.count()) == (before, recorded)
            event("refused at the door")
            return
        row = WebhookEvent.objects.order_by("-pk").first()
        if response.json()["status"] == "duplicate":
            assert _state() == before
            event("duplicate")
            return
        outcome = services.apply_webhook_event(event_id=row.pk)
        row.refresh_from_db()
        assert row.processed_at is not None and row.outcome == outcome[:200]
        event(outcome.split(" ")[0][:20])
        if outcome.startswith(("malformed", "ignored")):
            assert _state() == before

    check()
