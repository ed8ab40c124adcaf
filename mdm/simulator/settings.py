"""Tunable behaviour of the NanoMDM simulator, set at start-up or through ``/_simulator/settings``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

STORAGE_MODES = ("file", "mysql")


@dataclass
class MDMSimulatorSettings:
    """NanoMDM's flags (``-api``, ``-webhook-url``, ``-webhook-hmac-key``) and the devices' behaviour."""

    # NanoMDM's -api: the API key (HTTP Basic password, user "nanomdm"). None = API off (its endpoints 404).
    api_key: str | None = None
    # NanoMDM's -webhook-url and -webhook-hmac-key. Without a URL events are only kept in the webhook log.
    webhook_url: str | None = None
    hmac_key: str | None = None
    webhook_timeout: float = 5.0
    # Delivery attempts per event (no answer, 429 or 5xx is tried again). NanoMDM makes 1; the stand-in's
    # default of 3 keeps a console slowed by load from losing events. Losing one on purpose: the
    # ``drop_webhook`` fault.
    webhook_attempts: int = 3
    # Root URL of the Apple simulator (vpp.simulator), asked whether a license exists before a
    # PurchaseMethod 1 install. None = devices install without asking (and name apps by adam id).
    apple_url: str | None = None
    # Seconds between a push and the device's check-in, and between an acknowledged install and the app
    # becoming Managed in the device's inventory.
    checkin_delay: float = 0.5
    install_delay: float = 2.0
    # Every check-in starts with an Idle report, as real devices do (NanoMDM posts it as mdm.Connect).
    send_idle: bool = True
    # How NanoMDM's storage reacts to unknown enrollment ids and reused command UUIDs:
    # "file": queued anyway, the push fails per id; "mysql": the whole request fails (foreign / primary key).
    storage: str = "file"
    # Threads running device check-ins and webhook deliveries.
    workers: int = 8
    log_requests: bool = False

    def update(self, values: dict[str, Any]) -> None:
        """Apply known keys, rejecting unknown names and bad values with ValueError."""
        names = {f.name for f in dataclasses.fields(self)}
        for name, value in values.items():
            if name not in names:
                raise ValueError(f"unknown setting {name!r}")
            if name == "storage" and value not in STORAGE_MODES:
                raise ValueError(f"storage must be one of {STORAGE_MODES}")
            if name in ("checkin_delay", "install_delay", "webhook_timeout") and float(value) < 0:
                raise ValueError(f"{name} must be >= 0")
            if name in ("workers", "webhook_attempts") and int(value) < 1:
                raise ValueError(f"{name} must be >= 1")
            if name in ("api_key", "webhook_url", "hmac_key", "apple_url") and value == "":
                value = None
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """All settings, secrets masked."""
        data = dataclasses.asdict(self)
        for secret in ("api_key", "hmac_key"):
            if data[secret]:
                data[secret] = "***"
        return data
