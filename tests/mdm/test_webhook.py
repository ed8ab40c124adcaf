"""NanoMDM's webhook: signatures (forged, missing, wrong key), parsing (valid, malformed, unknown topics)."""

import base64
import contextlib
import hashlib
import hmac
import json
import plistlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm import webhook
from mdm.simulator.events import acknowledge_event, checkin_event, encode_event
from mdm.webhook import MAX_EVENT_BYTES, MalformedEvent, jsonable, parse_event, sign, verify_signature

KEY = "webhook-secret"
UDID = "66ADE930-5FDF-5EC4-8429-15640684C489"
AUTHENTICATE = {
    "MessageType": "Authenticate",
    "UDID": UDID,
    "SerialNumber": "C02MT66KFLHH",
    "DeviceName": "Front desk iPad",
    "Model": "iPad13,1",
    "ModelName": "iPad Air",
    "ProductName": "iPad13,1",
    "OSVersion": "17.5",
    "BuildVersion": "21F79",
    "Topic": "com.apple.mgmt.External.e0bd1eac",
    "Challenge": b"secret-challenge",
}


def _body(event: dict) -> bytes:
    return encode_event(event)


# ---------------------------------------------------------------------------------------------- signature


def test_webhook_signature_is_base64_hmac_sha256_of_the_raw_body():
    body = _body(checkin_event("mdm.Authenticate", AUTHENTICATE, udid=UDID))
    expected = base64.b64encode(hmac.new(KEY.encode(), body, hashlib.sha256).digest()).decode()
    assert sign(body, KEY) == expected
    assert verify_signature(body, expected, KEY)
    assert verify_signature(body, expected, KEY.encode())


def test_webhook_forged_missing_or_wrong_key_signatures_are_refused():
    body = _body(checkin_event("mdm.Authenticate", AUTHENTICATE, udid=UDID))
    good = sign(body, KEY)
    assert not verify_signature(body, None, KEY)
    assert not verify_signature(body, "", KEY)
    assert not verify_signature(body, good, "another-key")
    assert not verify_signature(body, good, "")
    assert not verify_signature(body + b" ", good, KEY)  # body changed after signing
    assert not verify_signature(body, sign(b"{}", KEY), KEY)
    assert not verify_signature(body, "not base64 at all!", KEY)
    assert not verify_signature(body, base64.b64encode(b"short").decode(), KEY)


# ---------------------------------------------------------------------------------------------- check-in


def test_enrolment_authenticate_event_gives_the_device_identity():
    event = parse_event(_body(checkin_event("mdm.Authenticate", AUTHENTICATE, udid=UDID, event_id="ev-1")))
    assert event.topic == "mdm.Authenticate" and event.known_topic
    assert event.event_id == "ev-1"
    assert event.created_at.tzinfo is not None
    assert event.acknowledge is None
    checkin = event.checkin
    assert checkin is not None
    assert (checkin.message_type, checkin.udid, checkin.serial_number) == (
        "Authenticate",
        UDID,
        "C02MT66KFLHH",
    )
    assert (checkin.device_name, checkin.model, checkin.model_name) == (
        "Front desk iPad",
        "iPad13,1",
        "iPad Air",
    )
    assert (checkin.product_name, checkin.os_version, checkin.build_version) == ("iPad13,1", "17.5", "21F79")
    assert checkin.enrollment_id == UDID
    assert checkin.enrollment_type == "Device"
    assert checkin.raw["Challenge"] == b"secret-challenge"


def test_enrolment_token_update_carries_the_tally():
    payload = {"MessageType": "TokenUpdate", "UDID": UDID, "Token": b"\x01\x02", "PushMagic": "magic"}
    event = parse_event(_body(checkin_event("mdm.TokenUpdate", payload, udid=UDID, token_update_tally=1)))
    assert event.checkin is not None
    assert event.checkin.token_update_tally == 1
    assert event.checkin.message_type == "TokenUpdate"


def test_event_without_ids_falls_back_to_the_udid_and_go_timestamps_parse():
    raw = base64.b64encode(plistlib.dumps({"MessageType": "CheckOut", "UDID": UDID})).decode()
    body = json.dumps(
        {
            "topic": "mdm.CheckOut",
            "created_at": "2026-03-01T10:11:12.123456789+02:00",
            "checkin_event": {"udid": UDID, "raw_payload": raw, "url_params": {"tenant": "a"}},
            "a_field_from_the_future": {"x": 1},
        }
    ).encode()
    event = parse_event(body)
    assert event.event_id is None
    assert event.created_at == datetime(2026, 3, 1, 8, 11, 12, 123456, tzinfo=UTC)
    assert event.checkin is not None
    assert event.checkin.enrollment_id == UDID
    assert event.checkin.url_params == {"tenant": "a"}


def test_jsonable_drops_binary_and_enrolment_secrets_and_formats_dates():
    raw = {
        "Token": b"\x00" * 32,
        "PushMagic": "2F1E-secret",
        "When": datetime(2026, 1, 1, tzinfo=UTC),
        "List": [b"x", 1],
    }
    assert jsonable(raw) == {
        "Token": "<hidden>",
        "PushMagic": "<hidden>",
        "When": "2026-01-01T00:00:00+00:00",
        "List": ["<1 bytes>", 1],
    }
    stored = jsonable(
        parse_event(_body(checkin_event("mdm.Authenticate", AUTHENTICATE, udid=UDID))).checkin.raw
    )
    assert "secret-challenge" not in json.dumps(stored) and stored["SerialNumber"] == "C02MT66KFLHH"


# ---------------------------------------------------------------------------------------------- acknowledge


def _ack(payload: dict) -> dict:
    return acknowledge_event({"UDID": UDID, **payload}, udid=UDID)


def test_s2_install_acknowledged_reports_state_and_identifier():
    event = parse_event(
        _body(
            _ack(
                {
                    "Status": "Acknowledged",
                    "CommandUUID": "c-1",
                    "RequestType": "InstallApplication",
                    "Identifier": "com.example.notes",
                    "State": "Installing",
                }
            )
        )
    )
    ack = event.acknowledge
    assert event.topic == "mdm.Connect" and event.checkin is None and ack is not None
    assert (ack.status, ack.command_uuid, ack.udid, ack.enrollment_id) == ("Acknowledged", "c-1", UDID, UDID)
    assert (ack.request_type, ack.install_state, ack.identifier) == (
        "InstallApplication",
        "Installing",
        "com.example.notes",
    )
    assert ack.error_chain == [] and ack.managed_apps is None and ack.installed_apps is None


def test_s2_install_error_carries_the_error_chain_for_people():
    event = parse_event(
        _body(
            _ack(
                {
                    "Status": "Error",
                    "CommandUUID": "c-2",
                    "ErrorChain": [
                        {
                            "ErrorCode": 12064,
                            "ErrorDomain": "MCMDMErrorDomain",
                            "LocalizedDescription": "L'app n'a pas de licence.",
                            "USEnglishDescription": "The app has no license.",
                        },
                        {
                            "ErrorCode": "7",
                            "ErrorDomain": "ASDErrorDomain",
                            "LocalizedDescription": "No license",
                        },
                        "garbage entry",
                    ],
                }
            )
        )
    )
    ack = event.acknowledge
    assert ack is not None and ack.status == "Error" and ack.request_type is None
    assert [(e.code, e.domain, e.description) for e in ack.error_chain] == [
        (12064, "MCMDMErrorDomain", "L'app n'a pas de licence."),
        (7, "ASDErrorDomain", "No license"),
    ]
    assert ack.error_chain[0].us_english_description == "The app has no license."


def test_m3_managed_and_installed_application_lists_are_typed():
    managed = parse_event(
        _body(
            _ack(
                {
                    "Status": "Acknowledged",
                    "CommandUUID": "c-3",
                    "ManagedApplicationList": {
                        "com.example.notes": {
                            "Status": "Managed",
                            "ExternalVersionIdentifier": 8675309,
                            "ManagementFlags": 1,
                            "HasConfiguration": False,
                            "IsValidated": True,
                        },
                        "com.example.gone": {"Status": "ManagedButUninstalled"},
                    },
                }
            )
        )
    ).acknowledge
    assert managed is not None and managed.managed_apps is not None
    notes = managed.managed_apps["com.example.notes"]
    assert (notes.status, notes.external_version_id, notes.management_flags) == ("Managed", 8675309, 1)
    assert (notes.has_configuration, notes.is_validated, notes.has_feedback) == (False, True, None)
    assert managed.managed_apps["com.example.gone"].status == "ManagedButUninstalled"

    installed = parse_event(
        _body(
            _ack(
                {
                    "Status": "Acknowledged",
                    "CommandUUID": "c-4",
                    "InstalledApplicationList": [
                        {
                            "Identifier": "com.example.notes",
                            "Name": "Notes",
                            "ShortVersion": "2.1",
                            "Version": "210",
                        },
                        {"Name": "no identifier: skipped"},
                    ],
                }
            )
        )
    ).acknowledge
    assert installed is not None and installed.installed_apps is not None
    assert [(a.identifier, a.name, a.short_version, a.version) for a in installed.installed_apps] == [
        ("com.example.notes", "Notes", "2.1", "210")
    ]


def test_not_now_and_idle_reports_parse_without_a_command_for_idle():
    not_now = parse_event(_body(_ack({"Status": "NotNow", "CommandUUID": "c-5"}))).acknowledge
    assert not_now is not None and (not_now.status, not_now.command_uuid) == ("NotNow", "c-5")
    idle = parse_event(_body(_ack({"Status": "Idle"}))).acknowledge
    assert idle is not None and (idle.status, idle.command_uuid) == ("Idle", None)


# ---------------------------------------------------------------------------------------------- unknown / bad


def test_unknown_topic_is_returned_without_sub_events_so_it_can_be_ignored():
    event = parse_event(
        json.dumps({"topic": "mdm.Future", "created_at": "2026-01-01T00:00:00Z", "x": 1}).encode()
    )
    assert event.topic == "mdm.Future" and not event.known_topic
    assert event.checkin is None and event.acknowledge is None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;">]>'
    b'<plist version="1.0"><dict><key>UDID</key><string>&b;</string></dict></plist>'
)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not JSON"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"created_at": "2026-01-01T00:00:00Z"}', "topic"),
        (b'{"topic": "mdm.Connect"}', "created_at"),
        (b'{"topic": "mdm.Connect", "created_at": "yesterday"}', "created_at"),
        (b'{"topic": "mdm.Connect", "created_at": "2026-01-01T00:00:00Z"}', "acknowledge_event"),
        (
            b'{"topic": "mdm.Authenticate", "created_at": "2026-01-01T00:00:00Z", "checkin_event": []}',
            "checkin",
        ),
        (
            b'{"topic": "mdm.Authenticate", "created_at": "2026-01-01T00:00:00Z", "checkin_event": {}}',
            "raw_payload",
        ),
        (
            b'{"topic": "mdm.Authenticate", "created_at": "2026-01-01T00:00:00Z",'
            b' "checkin_event": {"raw_payload": "%%%not-base64"}}',
            "base64",
        ),
        (
            json.dumps(
                {
                    "topic": "mdm.Authenticate",
                    "created_at": "2026-01-01T00:00:00Z",
                    "checkin_event": {"raw_payload": _b64(b"<plist><dict><key>a</key>")},
                }
            ).encode(),
            "plist",
        ),
        (
            json.dumps(
                {
                    "topic": "mdm.Authenticate",
                    "created_at": "2026-01-01T00:00:00Z",
                    "checkin_event": {"raw_payload": _b64(plistlib.dumps(["a list"]))},
                }
            ).encode(),
            "dictionary",
        ),
        (
            json.dumps(
                {
                    "topic": "mdm.Authenticate",
                    "created_at": "2026-01-01T00:00:00Z",
                    "checkin_event": {"raw_payload": _b64(plistlib.dumps({"a": 1}, fmt=plistlib.FMT_BINARY))},
                }
            ).encode(),
            "plist",
        ),
        (
            json.dumps(
                {
                    "topic": "mdm.Authenticate",
                    "created_at": "2026-01-01T00:00:00Z",
                    "checkin_event": {"raw_payload": _b64(ENTITY_BOMB)},
                }
            ).encode(),
            "plist",
        ),
        (
            json.dumps(
                {
                    "topic": "mdm.Connect",
                    "created_at": "2026-01-01T00:00:00Z",
                    "acknowledge_event": {"raw_payload": _b64(plistlib.dumps({"UDID": "x"}))},
                }
            ).encode(),
            "status",
        ),
        (b'{"topic": "x", "created_at": "2026-01-01T00:00:00Z", "event_id": 5}', "event_id"),
        (
            b'{"topic": "x", "created_at": "2026-01-01T00:00:00Z", "deep": '
            + b"[" * 5000
            + b"]" * 5000
            + b"}",
            "JSON|deep",
        ),
        (
            b'{"topic": "x", "created_at": "2026-01-01T00:00:00Z", "deep": ' + b"[" * 100 + b"]" * 100 + b"}",
            "deep",
        ),
    ],
)
def test_malformed_events_raise_malformed_event_only(body, reason):
    with pytest.raises(MalformedEvent, match=reason):
        parse_event(body)


def test_deeply_nested_plist_payload_is_refused():
    nested: dict = {"UDID": UDID}
    for _ in range(100):
        nested = {"k": nested}
    body = _body(checkin_event("mdm.Authenticate", nested, udid=UDID))
    with pytest.raises(MalformedEvent, match="deep"):
        parse_event(body)


def test_oversized_event_is_refused_before_parsing():
    with pytest.raises(MalformedEvent, match="too large"):
        parse_event(b"{" + b" " * MAX_EVENT_BYTES + b"}")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_but_malformed_event(body):
    # The inner parser, without parse_event's catch-all safety net: it must handle bad input itself.
    with contextlib.suppress(MalformedEvent):
        webhook._parse(body)


text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["mdm.Connect", "mdm.Authenticate", "mdm.TokenUpdate", "mdm.CheckOut", "other"]),
    json_values,
    json_values,
)
def test_arbitrary_json_shapes_never_raise_anything_but_malformed_event(topic, sub, raw):
    raw_payload = (
        _b64(plistlib.dumps({"Status": raw if raw is not None else "x"})) if isinstance(raw, str) else raw
    )
    event = {
        "topic": topic,
        "created_at": "2026-01-01T00:00:00Z",
        "acknowledge_event": {"raw_payload": raw_payload, "status": sub, "ids": sub, "url_params": sub},
        "checkin_event": {"raw_payload": raw_payload, "token_update_tally": sub, "ids": sub},
    }
    with contextlib.suppress(MalformedEvent):
        webhook._parse(json.dumps(event).encode())
