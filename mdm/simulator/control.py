"""``MDMSimulatorControl``: a small HTTP client for the ``/_simulator/`` endpoints of a running simulator."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode


class MDMSimulatorControlError(Exception):
    """A control endpoint answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class MDMSimulatorControl:
    """Drive a NanoMDM simulator in another process (demo loader, end-to-end tests, benchmarks)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/_simulator{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", "")
            except ValueError:
                message = exc.reason
            raise MDMSimulatorControlError(exc.code, str(message)) from None

    @staticmethod
    def _key(key: str) -> str:
        return quote(key, safe="")

    def ping(self) -> bool:
        """True when the simulator answers."""
        try:
            self._request("GET", "")
        except (OSError, MDMSimulatorControlError):
            return False
        return True

    def summary(self) -> dict[str, Any]:
        """Counts (devices, enrolled, queued commands, requests, webhooks) and settings."""
        return self._request("GET", "")

    def enroll(self, serial_number: str, **fields: Any) -> dict[str, Any]:
        """Enrol one device (or re-enrol a known serial number)."""
        return self._request("POST", "/devices/enroll", {"serial_number": serial_number, **fields})[
            "devices"
        ][0]

    def enroll_demo(self, count: int, **fields: Any) -> list[dict[str, Any]]:
        """Enrol ``count`` demo devices."""
        return self._request("POST", "/devices/enroll", {"count": count, **fields})["devices"]

    def enroll_serials(self, serial_numbers: list[str]) -> list[dict[str, Any]]:
        """Enrol one device per serial number (e.g. the devices already in the console's directory)."""
        return self._request("POST", "/devices/enroll", {"serial_numbers": serial_numbers})["devices"]

    def devices(self) -> list[dict[str, Any]]:
        return self._request("GET", "/devices")["devices"]

    def device(self, key: str) -> dict[str, Any]:
        return self._request("GET", f"/devices/{self._key(key)}")

    def update_device(self, key: str, **values: Any) -> dict[str, Any]:
        return self._request("POST", f"/devices/{self._key(key)}", values)

    def check_out(self, key: str) -> dict[str, Any]:
        return self._request("POST", f"/devices/{self._key(key)}/checkout", {})

    def check_in(self, key: str) -> dict[str, Any]:
        return self._request("POST", f"/devices/{self._key(key)}/checkin", {})

    def set_behaviour(self, key: str, **values: Any) -> list[dict[str, Any]]:
        return self._request("POST", f"/devices/{self._key(key)}/behaviour", values)["devices"]

    def delete_app(self, key: str, identifier: str, *, forget: bool = False) -> dict[str, Any]:
        return self._request(
            "POST", f"/devices/{self._key(key)}/apps/{self._key(identifier)}/delete", {"forget": forget}
        )

    def log(self, *, udid: str | None = None, request_type: str | None = None) -> dict[str, Any]:
        query = urlencode({k: v for k, v in (("udid", udid), ("request_type", request_type)) if v})
        return self._request("GET", f"/log?{query}" if query else "/log")

    def clear_log(self) -> None:
        self._request("DELETE", "/log")

    def webhooks(self) -> list[dict[str, Any]]:
        return self._request("GET", "/webhooks")["webhooks"]

    def settings(self) -> dict[str, Any]:
        return self._request("GET", "/settings")

    def update_settings(self, **values: Any) -> dict[str, Any]:
        return self._request("POST", "/settings", values)

    def add_fault(self, kind: str, *, count: int = 1, **options: Any) -> list[dict[str, Any]]:
        """See MDMState.add_fault: ``delay``, ``skip``, ``fail`` (partial), ``topic`` and ``status``
        (drop_webhook)."""
        body = {"kind": kind, "count": count, **options}
        return self._request("POST", "/faults", body)["faults"]

    def clear_faults(self) -> None:
        self._request("DELETE", "/faults")

    def reset(self) -> None:
        self._request("POST", "/reset", {})

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return bool(self._request("POST", "/wait-idle", {"timeout": timeout})["idle"])
