"""``SimulatorControl``: a small HTTP client for the ``/_simulator/`` endpoints of a running simulator."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode


class SimulatorControlError(Exception):
    """A control endpoint answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class SimulatorControl:
    """Drive a simulator (possibly in another process) the way tests and the demo loader need to."""

    def __init__(self, root_url: str, timeout: float = 30.0) -> None:
        self.root_url = root_url.rstrip("/")
        if self.root_url.endswith("/mdm/v2"):
            self.root_url = self.root_url[: -len("/mdm/v2")]
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.root_url}/_simulator{path}",
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
            raise SimulatorControlError(exc.code, str(message)) from None

    @property
    def base_url(self) -> str:
        """The v2 API base of the simulator."""
        return f"{self.root_url}/mdm/v2/"

    def ping(self) -> bool:
        """True when the simulator answers."""
        try:
            self._request("GET", "")
        except (OSError, SimulatorControlError):
            return False
        return True

    def mint_token(
        self,
        *,
        org_name: str,
        location_name: str,
        days: int = 365,
        account_type: str = "business",
        country: str = "US",
    ) -> str:
        """A ``.vpptoken`` content for a location, registered with the simulator."""
        return self._request(
            "POST",
            "/tokens",
            {
                "org_name": org_name,
                "location_name": location_name,
                "days": days,
                "account_type": account_type,
                "country": country,
            },
        )["token"]

    def locations(self) -> list[dict[str, Any]]:
        """Summaries of every location."""
        return self._request("GET", "/locations")["locations"]

    def location(self, uid: str, *, include_assignments: bool | None = None) -> dict[str, Any]:
        """Apple's state for one location (assets with counts, assignments, users, client config)."""
        suffix = "" if include_assignments is None else f"?include_assignments={int(include_assignments)}"
        return self._request("GET", f"/locations/{quote(uid)}{suffix}")

    def change_count(self, uid: str, adam_id: str, delta: int, pricing_param: str = "STDQ") -> dict[str, Any]:
        """Purchase / refund / transfer (ASSET_COUNT notification)."""
        return self._request(
            "POST",
            f"/locations/{quote(uid)}/assets/{quote(adam_id)}/count",
            {"delta": delta, "pricingParam": pricing_param},
        )

    def add_asset(self, uid: str, adam_id: str, **fields: Any) -> dict[str, Any]:
        """Add an asset to a location."""
        return self._request("POST", f"/locations/{quote(uid)}/assets", {"adamId": adam_id, **fields})

    def licenses(
        self, adam_id: str, *, serial_number: str | None = None, client_user_id: str | None = None
    ) -> dict[str, Any]:
        """Assignments of an app to a serial number and/or user in every location (read-only)."""
        query = {"adamId": adam_id, "serialNumber": serial_number or "", "clientUserId": client_user_id or ""}
        return self._request("GET", f"/licenses?{urlencode(query)}")

    def accept_invitation(self, uid: str, client_user_id: str, apple_id: str | None = None) -> dict[str, Any]:
        """A user accepts the invitation (USER_ASSOCIATED)."""
        body = {"appleId": apple_id} if apple_id else {}
        return self._request(
            "POST", f"/locations/{quote(uid)}/users/{quote(client_user_id, safe='')}/accept", body
        )

    def set_token_state(self, uid: str, state: str) -> dict[str, Any]:
        """valid / expired / revoked."""
        return self._request("POST", f"/locations/{quote(uid)}/token", {"state": state})

    def set_mdm_info(self, uid: str, *, id: str, name: str, metadata: str) -> dict[str, Any]:
        """Another MDM takes the token."""
        return self._request(
            "POST", f"/locations/{quote(uid)}/mdm-info", {"id": id, "name": name, "metadata": metadata}
        )

    def set_country(self, uid: str, country: str) -> dict[str, Any]:
        """Change the location's country."""
        return self._request("POST", f"/locations/{quote(uid)}/country", {"country": country})

    def set_app_version(self, adam_id: str, version: str) -> dict[str, Any]:
        """A new version of an app appears in the store."""
        return self._request("POST", f"/catalog/{quote(adam_id)}/version", {"version": version})

    def catalog(self) -> list[dict[str, Any]]:
        """The catalogue used by the metadata lookup."""
        return self._request("GET", "/catalog")["catalog"]

    def add_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        retry_after: int | None = None,
        delay: float = 0.0,
        path: str | None = None,
        uid: str | None = None,
    ) -> dict[str, Any]:
        """Inject a fault."""
        return self._request(
            "POST",
            "/faults",
            {
                "kind": kind,
                "count": count,
                "retry_after": retry_after,
                "delay": delay,
                "path": path,
                "uid": uid,
            },
        )

    def faults(self) -> list[dict[str, Any]]:
        """Faults still armed."""
        return self._request("GET", "/faults")["faults"]

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._request("DELETE", "/faults")

    def set_notification_mode(self, mode: str) -> None:
        """normal / drop / duplicate."""
        self._request("POST", "/notifications/mode", {"mode": mode})

    def notifications(self) -> list[dict[str, Any]]:
        """Notifications sent so far."""
        return self._request("GET", "/notifications")["notifications"]

    def clear_notifications(self) -> None:
        """Forget the notification log."""
        self._request("DELETE", "/notifications")

    def settings(self) -> dict[str, Any]:
        """Current settings."""
        return self._request("GET", "/settings")

    def update_settings(self, **values: Any) -> dict[str, Any]:
        """Change settings."""
        return self._request("POST", "/settings", values)

    def reset(self, fixture: str | None = None) -> None:
        """Reload a fixture, dropping all state."""
        self._request("POST", "/reset", {"fixture": fixture} if fixture else {})

    def generate_location(
        self,
        *,
        org_name: str,
        location_name: str,
        assets: int = 100,
        assignments: int = 1000,
        users: int = 10,
        country: str = "US",
        account_type: str = "business",
    ) -> str:
        """Create a large synthetic location; returns a token for it."""
        return self._request(
            "POST",
            "/locations/generate",
            {
                "org_name": org_name,
                "location_name": location_name,
                "assets": assets,
                "assignments": assignments,
                "users": users,
                "country": country,
                "account_type": account_type,
            },
        )["token"]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until queued events and notifications are done."""
        return bool(self._request("POST", "/wait-idle", {"timeout": timeout})["idle"])
