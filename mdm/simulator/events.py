"""Webhook events shaped like NanoMDM's (``service/webhook/event.json``), for the simulator and tests."""

from __future__ import annotations

import base64
import json
import plistlib
import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = ["acknowledge_event", "checkin_event", "encode_event"]


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
