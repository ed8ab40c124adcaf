"""NanoMDM's webhook: verify the signature, then parse one event into typed objects.

NanoMDM POSTs one JSON event per MDM message (schema: NanoMDM's ``service/webhook/event.json``, compatible
with MicroMDM's): ``topic``, ``event_id``, ``created_at`` and a ``checkin_event`` or an ``acknowledge_event``
whose ``raw_payload`` is the base64 of the plist the device sent. With ``-webhook-hmac-key`` set,
``X-Hmac-Signature`` carries the base64 of the HMAC-SHA256 of the raw body.

``parse_event`` accepts only what it can read safely (bounded size and nesting, XML plists) and raises
``MalformedEvent`` for anything else, never another exception. Unknown topics parse to an event with neither
sub-event so callers can accept and ignore them; unknown fields are ignored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import plistlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.parsers.expat import ExpatError

__all__ = [
    "ACKNOWLEDGE_TOPIC",
    "CHECKIN_TOPICS",
    "HMAC_HEADER",
    "MAX_DEPTH",
    "MAX_EVENT_BYTES",
    "SECRET_KEYS",
    "AcknowledgeEvent",
    "CheckinEvent",
    "ErrorChainItem",
    "InstalledApp",
    "MalformedEvent",
    "ManagedAppStatus",
    "WebhookEvent",
    "jsonable",
    "parse_event",
    "sign",
    "verify_signature",
]

HMAC_HEADER = "X-Hmac-Signature"
ACKNOWLEDGE_TOPIC = "mdm.Connect"
CHECKIN_TOPICS = frozenset(
    {
        "mdm.Authenticate",
        "mdm.TokenUpdate",
        "mdm.CheckOut",
        "mdm.UserAuthenticate",
        "mdm.SetBootstrapToken",
        "mdm.GetBootstrapToken",
        "mdm.DeclarativeManagement",
        "mdm.GetToken",
    }
)
# Check-in keys whose values let someone act for the enrolment (push to it, unlock it, take its bootstrap).
SECRET_KEYS = frozenset(
    {"Token", "PushMagic", "UnlockToken", "Challenge", "BootstrapToken", "AwaitingConfiguration_Token"}
)
# An InstalledApplicationList of a few hundred apps is a few hundred KB once base64-encoded.
MAX_EVENT_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 32


class MalformedEvent(ValueError):
    """The body is not a NanoMDM webhook event the console can read (answer 400)."""


# ---------------------------------------------------------------------------------------------- signature


def _key_bytes(key: bytes | str) -> bytes:
    return key.encode() if isinstance(key, str) else key


def sign(body: bytes, key: bytes | str) -> str:
    """The ``X-Hmac-Signature`` value NanoMDM sends for ``body``: base64 of HMAC-SHA256 under ``key``."""
    digest = hmac.new(_key_bytes(key), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(body: bytes, header_value: str | None, key: bytes | str) -> bool:
    """True when ``header_value`` is the base64 HMAC-SHA256 of ``body`` under ``key`` (constant-time).

    A missing header, an empty key or a value that is not base64 of a 32-byte digest is False.
    """
    if not header_value or not key:
        return False
    try:
        given = base64.b64decode(header_value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(_key_bytes(key), body, hashlib.sha256).digest()
    return hmac.compare_digest(given, expected)


# ---------------------------------------------------------------------------------------------- types


@dataclass(frozen=True)
class ErrorChainItem:
    """One entry of a command report's ``ErrorChain``: what to show people when a command failed."""

    code: int
    domain: str
    description: str
    us_english_description: str | None = None


@dataclass(frozen=True)
class ManagedAppStatus:
    """One app of a ``ManagedApplicationList`` answer (``Status`` e.g. Managed, Installing, Failed)."""

    status: str | None
    external_version_id: int | None = None
    management_flags: int | None = None
    has_configuration: bool | None = None
    has_feedback: bool | None = None
    is_validated: bool | None = None


@dataclass(frozen=True)
class InstalledApp:
    """One app of an ``InstalledApplicationList`` answer."""

    identifier: str
    name: str | None = None
    short_version: str | None = None
    version: str | None = None
    bundle_size: int | None = None
    external_version_id: int | None = None
    installing: bool | None = None


@dataclass(frozen=True)
class CheckinEvent:
    """A check-in message (Authenticate, TokenUpdate, CheckOut, …) from the raw plist and the event.

    ``enrollment_id`` is the id to address the enrolment with in NanoMDM's API: the event's ``ids.id`` when
    NanoMDM sends it, else its ``enrollment_id`` (user enrolments), else the UDID (device channel).
    ``raw`` is the device's plist as plistlib reads it (bytes and datetimes included: use ``jsonable``).
    """

    message_type: str | None
    udid: str | None
    serial_number: str | None
    device_name: str | None
    model: str | None
    model_name: str | None
    product_name: str | None
    os_version: str | None
    build_version: str | None
    enrollment_id: str | None
    token_update_tally: int | None
    raw: dict[str, Any] = field(repr=False)
    enrollment_type: str | None = None
    url_params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AcknowledgeEvent:
    """A command report (topic ``mdm.Connect``): status, the command it answers and its answer keys.

    ``status`` is Acknowledged, Error, CommandFormatError, NotNow or Idle (no ``command_uuid``).
    ``request_type`` is set only when the report says it. ``managed_apps`` / ``installed_apps`` are set for
    ManagedApplicationList / InstalledApplicationList answers; ``install_state`` and ``identifier`` for
    InstallApplication answers (``State``, ``Identifier``).
    """

    udid: str | None
    status: str
    command_uuid: str | None
    enrollment_id: str | None
    request_type: str | None
    error_chain: list[ErrorChainItem]
    managed_apps: dict[str, ManagedAppStatus] | None
    installed_apps: list[InstalledApp] | None
    install_state: str | None
    identifier: str | None
    raw: dict[str, Any] = field(repr=False)
    url_params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    """One webhook event. ``checkin`` / ``acknowledge`` are None for topics the parser does not know."""

    topic: str
    event_id: str | None
    created_at: datetime
    checkin: CheckinEvent | None = None
    acknowledge: AcknowledgeEvent | None = None

    @property
    def known_topic(self) -> bool:
        """A topic of NanoMDM's schema (others are accepted and ignored)."""
        return self.topic == ACKNOWLEDGE_TOPIC or self.topic in CHECKIN_TOPICS


# ---------------------------------------------------------------------------------------------- parsing


def _check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise MalformedEvent when containers nest deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                raise MalformedEvent("the event nests too deeply")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _params(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}


def _raw_payload(sub: Mapping[str, Any]) -> dict[str, Any]:
    encoded = sub.get("raw_payload")
    if not isinstance(encoded, str) or not encoded:
        raise MalformedEvent("raw_payload is missing")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEvent("raw_payload is not base64") from None
    try:
        # XML only: devices send XML plists, and the XML reader refuses entity declarations.
        payload = plistlib.loads(data, fmt=plistlib.FMT_XML)
    except (
        plistlib.InvalidFileException,
        ExpatError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        RecursionError,
    ):
        raise MalformedEvent("raw_payload is not a plist") from None
    if not isinstance(payload, dict):
        raise MalformedEvent("raw_payload is not a plist dictionary")
    _check_depth(payload)
    return payload


def _enrollment_id(sub: Mapping[str, Any], udid: str | None) -> str | None:
    ids = sub.get("ids")
    if isinstance(ids, Mapping) and _str(ids.get("id")):
        return _str(ids.get("id"))
    return _str(sub.get("enrollment_id")) or udid


def _checkin(sub: Mapping[str, Any]) -> CheckinEvent:
    raw = _raw_payload(sub)
    udid = _str(sub.get("udid")) or _str(raw.get("UDID"))
    ids = sub.get("ids")
    return CheckinEvent(
        message_type=_str(raw.get("MessageType")),
        udid=udid,
        serial_number=_str(raw.get("SerialNumber")),
        device_name=_str(raw.get("DeviceName")),
        model=_str(raw.get("Model")),
        model_name=_str(raw.get("ModelName")),
        product_name=_str(raw.get("ProductName")),
        os_version=_str(raw.get("OSVersion")),
        build_version=_str(raw.get("BuildVersion")),
        enrollment_id=_enrollment_id(sub, udid),
        token_update_tally=_int(sub.get("token_update_tally")),
        raw=raw,
        enrollment_type=_str(ids.get("type")) if isinstance(ids, Mapping) else None,
        url_params=_params(sub.get("url_params")),
    )


def _error_chain(value: Any) -> list[ErrorChainItem]:
    if not isinstance(value, list):
        return []
    items = []
    for entry in value:
        if not isinstance(entry, Mapping):
            continue
        localized = _str(entry.get("LocalizedDescription"))
        english = _str(entry.get("USEnglishDescription"))
        items.append(
            ErrorChainItem(
                code=_int(entry.get("ErrorCode")) or 0,
                domain=_str(entry.get("ErrorDomain")) or "",
                description=localized or english or "",
                us_english_description=english,
            )
        )
    return items


def _managed_apps(value: Any) -> dict[str, ManagedAppStatus] | None:
    if not isinstance(value, Mapping):
        return None
    apps = {}
    for identifier, entry in value.items():
        if not isinstance(identifier, str) or not isinstance(entry, Mapping):
            continue
        apps[identifier] = ManagedAppStatus(
            status=_str(entry.get("Status")),
            external_version_id=_int(entry.get("ExternalVersionIdentifier")),
            management_flags=_int(entry.get("ManagementFlags")),
            has_configuration=_bool(entry.get("HasConfiguration")),
            has_feedback=_bool(entry.get("HasFeedback")),
            is_validated=_bool(entry.get("IsValidated")),
        )
    return apps


def _installed_apps(value: Any) -> list[InstalledApp] | None:
    if not isinstance(value, list):
        return None
    apps = []
    for entry in value:
        if not isinstance(entry, Mapping) or not _str(entry.get("Identifier")):
            continue
        apps.append(
            InstalledApp(
                identifier=str(entry["Identifier"]),
                name=_str(entry.get("Name")),
                short_version=_str(entry.get("ShortVersion")),
                version=_str(entry.get("Version")),
                bundle_size=_int(entry.get("BundleSize")),
                external_version_id=_int(entry.get("ExternalVersionIdentifier")),
                installing=_bool(entry.get("Installing")),
            )
        )
    return apps


def _acknowledge(sub: Mapping[str, Any]) -> AcknowledgeEvent:
    raw = _raw_payload(sub)
    status = _str(sub.get("status")) or _str(raw.get("Status"))
    if status is None:
        raise MalformedEvent("acknowledge_event has no status")
    udid = _str(sub.get("udid")) or _str(raw.get("UDID"))
    return AcknowledgeEvent(
        udid=udid,
        status=status,
        command_uuid=_str(sub.get("command_uuid")) or _str(raw.get("CommandUUID")),
        enrollment_id=_enrollment_id(sub, udid),
        request_type=_str(raw.get("RequestType")),
        error_chain=_error_chain(raw.get("ErrorChain")),
        managed_apps=_managed_apps(raw.get("ManagedApplicationList")),
        installed_apps=_installed_apps(raw.get("InstalledApplicationList")),
        install_state=_str(raw.get("State")),
        identifier=_str(raw.get("Identifier")),
        raw=raw,
        url_params=_params(sub.get("url_params")),
    )


def _created_at(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise MalformedEvent("created_at is missing")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedEvent("created_at is not a date-time") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_event(body: bytes) -> WebhookEvent:
    """Parse one webhook body; raises ``MalformedEvent`` (and nothing else) when it cannot be read.

    A known topic must carry its sub-event (``checkin_event``, or ``acknowledge_event`` for ``mdm.Connect``)
    with a base64 XML plist dictionary as ``raw_payload``. Unknown topics are returned without sub-events.
    """
    try:
        return _parse(body)
    except MalformedEvent:
        raise
    except Exception as exc:  # the parser promises MalformedEvent for any bad input
        raise MalformedEvent(f"unreadable event ({type(exc).__name__})") from None


def _parse(body: bytes) -> WebhookEvent:
    if not isinstance(body, bytes | bytearray):
        raise MalformedEvent("the body must be bytes")
    if len(body) > MAX_EVENT_BYTES:
        raise MalformedEvent("the event is too large")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedEvent("the body is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedEvent("the event is not a JSON object")
    _check_depth(data)
    topic = _str(data.get("topic"))
    if topic is None:
        raise MalformedEvent("topic is missing")
    event_id = data.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        raise MalformedEvent("event_id is not a string")
    created_at = _created_at(data.get("created_at"))
    event = WebhookEvent(topic=topic, event_id=event_id or None, created_at=created_at)
    if topic == ACKNOWLEDGE_TOPIC:
        sub = data.get("acknowledge_event")
        if not isinstance(sub, dict):
            raise MalformedEvent("mdm.Connect without acknowledge_event")
        return WebhookEvent(topic, event.event_id, created_at, acknowledge=_acknowledge(sub))
    if topic in CHECKIN_TOPICS:
        sub = data.get("checkin_event")
        if not isinstance(sub, dict):
            raise MalformedEvent(f"{topic} without checkin_event")
        return WebhookEvent(topic, event.event_id, created_at, checkin=_checkin(sub))
    return event


def jsonable(value: Any) -> Any:
    """A plist value as JSON-friendly data: datetimes as ISO strings; binary data (push tokens, unlock
    tokens, challenges) replaced by ``"<N bytes>"`` and the values of ``SECRET_KEYS`` by ``"<hidden>"``, so
    what is stored holds no secret of the enrolment.
    """
    if isinstance(value, dict):
        return {str(k): "<hidden>" if k in SECRET_KEYS else jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if isinstance(value, datetime):
        return value.isoformat()
    return value
