"""Webhook events shaped like NanoMDM's (``service/webhook/event.json``), for the simulator and tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import plistlib
import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = ["HMAC_HEADER", "acknowledge_event", "checkin_event", "encode_event", "jsonable", "sign"]

# Kept here rather than imported from mdm.webhook: the simulator is written against the standard library
# only and is the other side of the console's parser, so it does not reuse the parser's code.
HMAC_HEADER = "X-Hmac-Signature"


def sign(body: bytes, key: str) -> str:
    """NanoMDM's ``X-Hmac-Signature``: base64 of the HMAC-SHA256 of the body."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode("ascii")


def jsonable(value: Any) -> Any:
    """Plist values as JSON (binary data as ``<N bytes>``, dates as ISO strings) for the control API."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _raw(payload: dict[str, Any]) -> str:
    return base64.b64encode(plistlib.dumps(payload, fmt=plistlib.FMT_XML)).decode("ascii")


def _now() -> str:
    # Go's time.Time marshals as RFC 3339 with nanoseconds; microseconds are enough here.
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _ids(enrollment_id: str) -> dict[str, str]:
    return {"id": enrollment_id, "type": "Device"}


def checkin_event(
    topic: str,
    payload: dict[str, Any],
    *,
    udid: str,
    token_update_tally: int | None = None,
    event_id: str | None = None,
    url_params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A device-channel check-in event (``mdm.Authenticate``, ``mdm.TokenUpdate``, ``mdm.CheckOut`` …)."""
    sub: dict[str, Any] = {"ids": _ids(udid), "udid": udid, "raw_payload": _raw(payload)}
    if token_update_tally is not None:
        sub["token_update_tally"] = token_update_tally
    if url_params:
        sub["url_params"] = url_params
    return {
        "topic": topic,
        "event_id": event_id or str(uuid.uuid4()),
        "created_at": _now(),
        "checkin_event": sub,
    }


def acknowledge_event(
    payload: dict[str, Any],
    *,
    udid: str,
    event_id: str | None = None,
    url_params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An ``mdm.Connect`` event carrying a command report (``Status``, ``CommandUUID``, answer keys)."""
    sub: dict[str, Any] = {
        "ids": _ids(udid),
        "udid": udid,
        "status": payload.get("Status", ""),
        "raw_payload": _raw(payload),
    }
    if payload.get("CommandUUID"):
        sub["command_uuid"] = payload["CommandUUID"]
    if url_params:
        sub["url_params"] = url_params
    return {
        "topic": "mdm.Connect",
        "event_id": event_id or str(uuid.uuid4()),
        "created_at": _now(),
        "acknowledge_event": sub,
    }


def encode_event(event: dict[str, Any]) -> bytes:
    """The webhook body as NanoMDM sends it (compact JSON, UTF-8)."""
    return json.dumps(event, separators=(",", ":")).encode()
