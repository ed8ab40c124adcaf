"""``NanoMDMSimulator``: the in-process handle on a running NanoMDM + devices stand-in."""

from __future__ import annotations

import threading
from typing import Any

from .devices import MDMState
from .server import MDMSimulatorHTTPServer
from .settings import MDMSimulatorSettings


class NanoMDMSimulator:
    """NanoMDM's command API and webhook with simulated devices behind it, served over real HTTP.

    ``NanoMDMSimulator(port=0, api_key="k", webhook_url=..., hmac_key=..., apple_url=...).start()`` serves in
    a daemon thread; keyword arguments are ``MDMSimulatorSettings`` fields. The methods mirror the
    ``/_simulator/`` control endpoints (see README.md).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **settings: Any) -> None:
        self.settings = MDMSimulatorSettings()
        self.settings.update(settings)
        self.state = MDMState(self.settings)
        self.host = host
        self.port = port
        self._server: MDMSimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> NanoMDMSimulator:
        """Bind, start the device workers and serve in a daemon thread."""
        if self._server is not None:
            return self
        server = MDMSimulatorHTTPServer((self.host, self.port), self.state)
        self.port = server.server_address[1]
        self.state.start()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="mdm-simulator-http",
            daemon=True,
        )
        self._thread.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving and end the worker threads."""
        server = self._server
        if server is None:
            return
        server.shutdown()
        server.server_close()
        self.state.stop()
        self._server = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the command line)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> NanoMDMSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://HOST:PORT``: NanoMDM's API root (``NANOMDM_URL``) and the control root."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    # ---------------------------------------------------------------- control (mirrors /_simulator/)

    def enroll(self, serial_number: str, **fields: Any) -> dict[str, Any]:
        """Enrol one device (Authenticate + TokenUpdate posted); fields: udid, device_name, model,
        model_name, os_version, client_user_id. Enrolling a known serial number again re-enrols it."""
        return self.state.enroll([{"serial_number": serial_number, **fields}])[0]

    def enroll_demo(self, count: int, **fields: Any) -> list[dict[str, Any]]:
        """Enrol ``count`` demo devices (serials NMDM00000001…)."""
        specs = self.state.demo_specs(count)
        return self.state.enroll([spec | fields for spec in specs])

    def devices(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [d.to_json() for d in self.state.devices.values()]

    def device(self, key: str) -> dict[str, Any]:
        """One device by UDID or serial number, with its apps, queue and invitations."""
        device = self.state.device(key)
        with self.state.lock:
            return device.to_json(detail=True)

    def update_device(self, key: str, **values: Any) -> dict[str, Any]:
        """Change device_name, os_version or client_user_id (the user signed in, for user licensing)."""
        return self.state.update_device(key, values)

    def check_out(self, key: str) -> dict[str, Any]:
        """The MDM profile is removed: CheckOut posted, queue dropped."""
        return self.state.check_out(self.state.device(key).udid)

    def check_in(self, key: str) -> dict[str, Any]:
        """The device checks in now (as after a push)."""
        return self.state.request_checkin(key)

    def set_behaviour(self, key: str, **values: Any) -> list[dict[str, Any]]:
        """``silent``, ``not_now`` (count / -1 / 0), ``fail`` (dict or None) for a device or ``*``."""
        return self.state.set_behaviour(key, values)

    def delete_app(self, key: str, identifier: str, *, forget: bool = False) -> dict[str, Any]:
        """The user deletes an app (ManagedButUninstalled; gone from every list with ``forget``)."""
        return self.state.delete_app(key, identifier, forget=forget)

    def log(self, *, udid: str | None = None, request_type: str | None = None) -> dict[str, Any]:
        """``requests`` (every enqueue/push request) and ``commands`` (one per device and command)."""
        return self.state.log(udid=udid, request_type=request_type)

    def clear_log(self) -> None:
        self.state.clear_log()

    def webhooks(self) -> list[dict[str, Any]]:
        """Webhook deliveries (topic, udid, status, command_uuid, http_status, error, event), oldest first."""
        return self.state.webhook_log()

    def update_settings(self, **values: Any) -> dict[str, Any]:
        with self.state.lock:
            self.settings.update(values)
        return self.settings.as_dict()

    def add_fault(self, kind: str, *, count: int = 1, **options: Any) -> list[dict[str, Any]]:
        """``count`` API requests, after ``skip`` good ones, fail: ``unavailable`` (503 HTML),
        ``internal_error`` (500, no body), ``slow`` (answered after ``delay`` seconds) or ``partial`` (207:
        the last ``fail`` ids not queued); ``drop_webhook`` loses webhook events (``topic``, ``status``)."""
        return self.state.add_fault({"kind": kind, "count": count, **options})

    def clear_faults(self) -> None:
        self.state.clear_faults()

    def reset(self) -> None:
        """Forget every device, queue and log."""
        self.state.reset()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no check-in, enrolment or install is scheduled or running."""
        return self.state.runner.wait_idle(timeout)
