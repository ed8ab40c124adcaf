"""The HTTP front: NanoMDM's API (``/v1/enqueue/{ids}``, ``/v1/push/{ids}``, ``/version``), control API."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import plistlib
import re
import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .devices import ControlError, MDMState

logger = logging.getLogger("mdm.simulator")

API_USER = "nanomdm"
ENQUEUE_PREFIX = "/v1/enqueue/"
PUSH_PREFIX = "/v1/push/"
MAX_BODY = 16 * 1024 * 1024


class MDMSimulatorHTTPServer(ThreadingHTTPServer):
    """Threaded server carrying the simulator's state."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: MDMState) -> None:
        super().__init__(address, MDMRequestHandler)
        self.state = state


class MDMRequestHandler(BaseHTTPRequestHandler):
    """One request: NanoMDM's API or a control endpoint."""

    server: MDMSimulatorHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "nanomdm-simulator/1.0"

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.state.settings.log_requests:
            logger.info("%s - %s", self.address_string(), format % args)

    @property
    def state(self) -> MDMState:
        return self.server.state

    def _send(
        self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any, *, indent: str | None = None) -> None:
        text = json.dumps(data, indent=indent) + ("\n" if indent else "")
        self._send(status, text.encode(), "application/json")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            self._send(413, b"", None)
            return
        raw = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            if parts.path.startswith("/v1/") or parts.path == "/version":
                self._api(method, parts.path, query, raw)
            elif parts.path.startswith("/_simulator"):
                self._control(method, parts.path, query, raw)
            else:
                self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        except BrokenPipeError:
            pass
        except Exception:
            logger.exception("NanoMDM simulator error on %s %s", method, self.path)
            self._send(500, b"Internal Server Error\n", "text/plain; charset=utf-8")

    # ------------------------------------------------------------------------------ NanoMDM API

    def _authorised(self) -> bool:
        key = self.state.settings.api_key or ""
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(user.encode(), API_USER.encode()) & hmac.compare_digest(
            password.encode(), key.encode()
        )

    def _api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        if path == "/version":
            self._json(200, {"version": "simulator"})
            return
        if self.state.settings.api_key is None:
            # NanoMDM without -api registers no API handlers.
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
            return
        if not self._authorised():
            self._send(401, b"", None, {"Www-Authenticate": 'Basic realm="nanomdm"'})
            return
        fault = self.state.take_fault()
        if fault is not None:
            self.state.log_request({"kind": "fault", "ids": [], "fault": fault["kind"], "path": path})
            if fault["kind"] == "unavailable":
                self._send(503, b"<html><body>503 Service Unavailable</body></html>", "text/html")
                return
            if fault["kind"] == "internal_error":
                self._send(500, b"", None)
                return
            if fault["kind"] == "unexplained_500":
                self._json(500, {}, indent="\t")
                return
            time.sleep(fault["delay"])
        if path.startswith(ENQUEUE_PREFIX) and method == "PUT":
            fail = fault["fail"] if fault is not None and fault["kind"] == "partial" else 0
            self._enqueue(path[len(ENQUEUE_PREFIX) :], query, raw, fail=fail)
        elif path.startswith(PUSH_PREFIX) and method in ("GET", "POST"):
            self._push(path[len(PUSH_PREFIX) :])
        elif path.startswith((ENQUEUE_PREFIX, PUSH_PREFIX)):
            self._send(405, b"Method Not Allowed\n", "text/plain; charset=utf-8")
        else:
            self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    @staticmethod
    def _ids(path_ids: str) -> list[str]:
        return [unquote(i) for i in path_ids.split(",")]

    def _enqueue(self, path_ids: str, query: dict[str, str], raw: bytes, *, fail: int = 0) -> None:
        started = time.monotonic()
        no_push = query.get("nopush", "") != ""
        result: dict[str, Any] = {}
        if no_push:
            result["no_push"] = True
        if not path_ids:
            result["command_error"] = "getting enrollment ids: empty path"
            self._json(500, result, indent="\t")
            return
        ids = self._ids(path_ids)
        command = None
        if raw:
            try:
                command = _decode_command(raw)
            except ValueError as exc:
                self.state.log_request(
                    {"kind": "enqueue", "ids": ids, "http_status": 500, "error": str(exc), "no_push": no_push}
                )
                self._json(500, {"command_error": f"decoding command: {exc}"}, indent="\t")
                return
        if command is None and no_push:
            result["command_error"] = "must enqueue or push"
            self._json(500, result, indent="\t")
            return
        status: dict[str, dict[str, str]] = {}
        if command is not None:
            command_uuid, request_type, body = command
            result["command_uuid"] = command_uuid
            result["request_type"] = request_type
            id_errors, error = self.state.enqueue(ids, command_uuid, request_type, body, fail=fail)
            if error:
                result["command_error"] = error
            for enrollment_id, message in id_errors.items():
                status.setdefault(enrollment_id, {})["command_error"] = message
        if not no_push and "command_error" not in result:
            queued = [i for i in ids if "command_error" not in status.get(i, {})]
            for enrollment_id, (push_id, push_error) in self.state.push(queued).items():
                entry = status.setdefault(enrollment_id, {})
                if push_id:
                    entry["push_result"] = push_id
                if push_error:
                    entry["push_error"] = push_error
        if status:
            result["status"] = status
        code = _code(result, status, len(ids))
        self.state.log_request(
            {
                "kind": "enqueue",
                "ids": ids,
                "command_uuid": result.get("command_uuid"),
                "request_type": result.get("request_type"),
                "no_push": no_push,
                "http_status": code,
                "path_bytes": len(path_ids),
                "seconds": round(time.monotonic() - started, 4),
            }
        )
        self._json(code, result, indent="\t")

    def _push(self, path_ids: str) -> None:
        if not path_ids:
            self._json(500, {"push_error": "getting enrollment ids: empty path"}, indent="\t")
            return
        ids = self._ids(path_ids)
        status: dict[str, dict[str, str]] = {}
        for enrollment_id, (push_id, push_error) in self.state.push(ids).items():
            status[enrollment_id] = {"push_result": push_id} if push_id else {"push_error": push_error or ""}
        result: dict[str, Any] = {"status": status}
        code = _code(result, status, len(ids))
        self.state.log_request({"kind": "push", "ids": ids, "http_status": code})
        self._json(code, result, indent="\t")

    # ------------------------------------------------------------------------------ control API

    def _control(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._json(400, {"error": "body is not JSON"})
            return
        for route_method, pattern, handler in CONTROL_ROUTES:
            if route_method != method:
                continue
            match = re.fullmatch(pattern, path.rstrip("/") or "/_simulator")
            if match:
                try:
                    groups = [unquote(g) for g in match.groups()]
                    result = handler(self, body if isinstance(body, dict) else {}, query, *groups)
                except ControlError as exc:
                    self._json(exc.status, {"error": str(exc)})
                except (ValueError, TypeError, KeyError) as exc:
                    self._json(400, {"error": str(exc)})
                else:
                    self._json(200, result)
                return
        self._json(404, {"error": f"no control endpoint {method} {path}"})


def _decode_command(raw: bytes) -> tuple[str, str, dict[str, Any]]:
    """(CommandUUID, RequestType, Command dict) of a raw command plist; ValueError when it is not one."""
    try:
        data = plistlib.loads(raw)
    except Exception as exc:  # plistlib raises several types for bad input
        raise ValueError(f"invalid plist: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise ValueError("command is not a dictionary")
    command = data.get("Command")
    command_uuid = data.get("CommandUUID")
    if not isinstance(command_uuid, str) or not command_uuid:
        raise ValueError("empty command uuid")
    if (
        not isinstance(command, dict)
        or not isinstance(command.get("RequestType"), str)
        or not command["RequestType"]
    ):
        raise ValueError("empty request type")
    return command_uuid, command["RequestType"], command


def _code(result: dict[str, Any], status: dict[str, dict[str, str]], id_count: int) -> int:
    """NanoMDM's ``api.code``: 500 on a whole-request error or when every id failed, 207 when some did."""
    if result.get("command_error") or result.get("push_error"):
        return 500
    failed = sum(1 for entry in status.values() if entry.get("command_error") or entry.get("push_error"))
    if failed == 0:
        return 200
    return 207 if failed < id_count else 500


# Control handlers: (handler, body, query, *path groups) -> JSON result.
ControlHandler = Callable[..., Any]
Handler = MDMRequestHandler


def _root(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    return {"status": "ok", "settings": h.state.settings.as_dict(), **h.state.summary()}


def _devices(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    with h.state.lock:
        return {"devices": [d.to_json() for d in h.state.devices.values()]}


def _device(h: Handler, body: dict[str, Any], query: dict[str, str], key: str) -> Any:
    device = h.state.device(key)
    with h.state.lock:
        return device.to_json(detail=True)


def _enroll(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    """``{"count": N}`` demo devices, ``{"serial_numbers": [...]}`` or one ``{"serial_number", ...}``."""
    if "count" in body:
        count = int(body["count"])
        if not 1 <= count <= 100_000:
            raise ValueError("count must be between 1 and 100000")
        specs = h.state.demo_specs(count)
        for spec in specs:
            if body.get("client_user_id"):
                spec["client_user_id"] = body["client_user_id"]
    elif "serial_numbers" in body:
        specs = [{"serial_number": str(s)} for s in body["serial_numbers"]]
    else:
        specs = [body]
    return {"devices": h.state.enroll(specs)}


def _update(h: Handler, body: dict[str, Any], query: dict[str, str], key: str) -> Any:
    return h.state.update_device(key, body)


def _checkout(h: Handler, body: dict[str, Any], query: dict[str, str], key: str) -> Any:
    return h.state.check_out(h.state.device(key).udid)


def _checkin(h: Handler, body: dict[str, Any], query: dict[str, str], key: str) -> Any:
    return h.state.request_checkin(key)


def _behaviour(h: Handler, body: dict[str, Any], query: dict[str, str], key: str) -> Any:
    return {"devices": h.state.set_behaviour(key, body)}


def _delete_app(h: Handler, body: dict[str, Any], query: dict[str, str], key: str, identifier: str) -> Any:
    return h.state.delete_app(key, identifier, forget=bool(body.get("forget")))


def _log(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    return h.state.log(udid=query.get("udid") or None, request_type=query.get("request_type") or None)


def _log_clear(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    h.state.clear_log()
    return {"requests": [], "commands": []}


def _webhooks(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    return {"webhooks": h.state.webhook_log()}


def _settings_get(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    return h.state.settings.as_dict()


def _settings_set(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    with h.state.lock:
        h.state.settings.update(body)
    return h.state.settings.as_dict()


def _faults_add(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    return {"faults": h.state.add_fault(body)}


def _faults_clear(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    h.state.clear_faults()
    return {"faults": []}


def _reset(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    h.state.reset()
    return h.state.summary()


def _wait_idle(h: Handler, body: dict[str, Any], query: dict[str, str]) -> Any:
    return {"idle": h.state.runner.wait_idle(float(body.get("timeout", 10.0)))}


KEY = r"([^/]+)"
CONTROL_ROUTES: list[tuple[str, str, ControlHandler]] = [
    ("GET", r"/_simulator", _root),
    ("GET", r"/_simulator/devices", _devices),
    ("POST", r"/_simulator/devices/enroll", _enroll),
    ("GET", rf"/_simulator/devices/{KEY}", _device),
    ("POST", rf"/_simulator/devices/{KEY}", _update),
    ("POST", rf"/_simulator/devices/{KEY}/checkout", _checkout),
    ("POST", rf"/_simulator/devices/{KEY}/checkin", _checkin),
    ("POST", rf"/_simulator/devices/{KEY}/behaviour", _behaviour),
    ("POST", rf"/_simulator/devices/{KEY}/apps/{KEY}/delete", _delete_app),
    ("GET", r"/_simulator/log", _log),
    ("DELETE", r"/_simulator/log", _log_clear),
    ("GET", r"/_simulator/webhooks", _webhooks),
    ("GET", r"/_simulator/settings", _settings_get),
    ("POST", r"/_simulator/settings", _settings_set),
    ("POST", r"/_simulator/faults", _faults_add),
    ("DELETE", r"/_simulator/faults", _faults_clear),
    ("POST", r"/_simulator/reset", _reset),
    ("POST", r"/_simulator/wait-idle", _wait_idle),
]
