"""Tunable behaviour of the simulator, set at start-up or through ``/_simulator/settings``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LIMITS: dict[str, int] = {
    "maxAssets": 25,
    "maxUsers": 100,
    "maxNotificationLength": 512,
    "maxRevokeClientUserIds": 100,
    "maxClientUserIds": 1000,
    "maxSerialNumbers": 1000,
    "maxRevokeSerialNumbers": 100,
    "maxRequestPerSecond": 15,
    "maxSubscriptions": 25,
    "maxSubscriptionClientUserIds": 1000,
    "maxMdmNameLength": 100,
    "maxMdmMetadataLength": 255,
    "maxMdmIdLength": 100,
}

NOTIFICATION_MODES = ("normal", "drop", "duplicate")


@dataclass
class SimulatorSettings:
    """Knobs for behaviours Apple leaves open and for test speed."""

    page_size: int = 500
    event_delay: float = 1.0
    # Apple answers an unknown token with HTTP 200 + 9622 (observed); docs say 401.
    unknown_token_http_status: int = 200
    allow_insecure_notification_urls: bool = False
    max_request_per_second: int = 15
    # Re-associating an assigned pair / disassociating an unassigned one: True = silent success,
    # False = v1-style failures 9616 / 9619.
    idempotent_assignments: bool = True
    # Associating an adamId the location does not own: "async" = task failure 9709, "sync" = 9602 at once.
    unknown_asset_error: str = "async"
    # Whether retiring a user releases its revocable licences (v1 did; unconfirmed for v2).
    retire_releases_licenses: bool = True
    notification_mode: str = "normal"
    notification_attempts: int = 3
    notification_retry_delay: float = 2.0
    notification_timeout: float = 5.0
    # Absolute base for URLs in service/config; default: the Host header of the request.
    public_url: str | None = None
    key_file: str | None = None
    # Start-up only: load the whole state from this JSON file if it exists, save it back while running
    # (at most every ``persist_interval`` seconds when something changed) and on stop. See persistence.py.
    persist_file: str | None = None
    persist_interval: float = 5.0
    log_requests: bool = False
    limits: dict[str, int] = field(default_factory=dict)
    # URL names left out of service/config, to act like an implementation that lists fewer of them.
    omit_service_urls: list[str] = field(default_factory=list)

    def effective_limits(self) -> dict[str, int]:
        """Apple's ``limits`` object with overrides applied."""
        limits = dict(DEFAULT_LIMITS)
        limits.update(self.limits)
        limits["maxRequestPerSecond"] = self.max_request_per_second
        return limits

    def update(self, values: dict[str, Any]) -> None:
        """Apply known keys, rejecting unknown names and bad values with ValueError."""
        names = {f.name: f for f in dataclasses.fields(self)}
        for name, value in values.items():
            if name not in names:
                raise ValueError(f"unknown setting {name!r}")
            if name == "notification_mode" and value not in NOTIFICATION_MODES:
                raise ValueError(f"notification_mode must be one of {NOTIFICATION_MODES}")
            if name == "unknown_asset_error" and value not in ("async", "sync"):
                raise ValueError("unknown_asset_error must be 'async' or 'sync'")
            if name == "persist_interval" and float(value) <= 0:
                raise ValueError("persist_interval must be > 0")
            if name == "page_size" and int(value) < 1:
                raise ValueError("page_size must be >= 1")
            if name in ("key_file", "persist_file") and value is not None:
                value = str(value)  # keep settings JSON-serialisable when given a Path
            if name == "limits":
                self.limits.update({str(k): int(v) for k, v in dict(value).items()})
                continue
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """All settings as JSON-friendly values."""
        return dataclasses.asdict(self)
