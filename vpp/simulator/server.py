"""The HTTP front of the simulator: Apple's request pipeline, lookup, icons, control API."""

from __future__ import annotations

import html
import json
import logging
import re
import socket
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .api import AppleApi, EventWorker, q_int
from .catalog import icon_color, lookup_response, make_png
from .errors import AppleError, error_body
from .generator import generate_location_data
from .notifications import Notifier
from .state import ControlError, Fault, Location, SimulatorState
from .tokens import verify_token

logger = logging.getLogger("vpp.simulator")

APPLE_PREFIX = "/mdm/v2/"
LOOKUP_PATH = "/WebObjects/MZStorePlatform.woa/wa/lookup"
INVITATION_PATH = "/WebObjects/MZFinance.woa/wa/associateVPPUserWithITSAccount"
ROUTES: dict[str, tuple[str, ...]] = {
    "service/config": ("GET",),
    "client/config": ("GET", "POST"),
    "assets": ("GET",),
    "assignments": ("GET",),
    "users": ("GET",),
    "users/create": ("POST",),
    "users/update": ("POST",),
    "users/retire": ("POST",),
    "assets/associate": ("POST",),
    "assets/disassociate": ("POST",),
    "assets/revoke": ("POST",),
    "status": ("GET",),
}
PAGED_DATASETS = {"assets": "assets", "assignments": "assignments", "users": "users"}


class SimulatorHTTPServer(ThreadingHTTPServer):
    """Threaded server carrying the simulator's state, API and workers."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SimulatorState) -> None:
        super().__init__(address, SimulatorRequestHandler)
        self.state = state
        self.api = AppleApi(state)
        self.worker = EventWorker(self.api)
        self.notifier = Notifier(state)
        state.notifier = self.notifier
        self.icons: dict[tuple[str, int], bytes] = {}

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until queued events are processed and their notifications delivered."""
        deadline = time.monotonic() + timeout
        ok = self.worker.wait_idle(timeout)
        return ok and self.notifier.wait_idle(max(0.0, deadline - time.monotonic()))


class SimulatorRequestHandler(BaseHTTPRequestHandler):
    """One request: Apple endpoints under /mdm/v2/, metadata lookup, icons and /_simulator/ control."""

    server: SimulatorHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "vpp-simulator/1.0"

    # -------------------------------------------------------------------------------- plumbing

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms
        # to every keep-alive response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.state.settings.log_requests:
            logger.info("%s - %s", self.address_string(), format % args)

    @property
    def state(self) -> SimulatorState:
        return self.server.state

    def _base(self) -> str:
        if self.state.settings.public_url:
            return self.state.settings.public_url.rstrip("/")
        host = self.headers.get("Host")
        if not host:
            address = self.server.server_address
            name = address[0].decode() if isinstance(address[0], bytes) else address[0]
            host = f"{name}:{address[1]}"
        return f"http://{host}"

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json;charset=UTF-8", headers)

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        # Read the whole body first: with keep-alive an unread body would corrupt the next request.
        raw = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            if path.startswith(APPLE_PREFIX):
                self._apple(method, path, parts.query, query, raw)
            elif path == LOOKUP_PATH:
                self._lookup(query)
            elif path.startswith("/icons/"):
                self._icon(path, query)
            elif path == INVITATION_PATH:
                self._invitation(method, query)
            elif path.startswith("/_simulator"):
                self._control(method, path, query, raw)
            else:
                self._json(404, {"errorMessage": "Not found"})
        except BrokenPipeError:
            pass
        except Exception:
            logger.exception("simulator error on %s %s", method, self.path)
            self._json(500, error_body(9603))

    # -------------------------------------------------------------------------------- Apple pipeline

    def _apple(self, method: str, path: str, raw_query: str, query: dict[str, str], raw: bytes) -> None:
        endpoint = path[len(APPLE_PREFIX) :].strip("/")
        try:
            data = self._apple_pipeline(method, endpoint, path, raw_query, query, raw)
        except AppleError as exc:
            self._json(exc.status, exc.body(), exc.headers)
            return
        except _Handled:
            return
        if data is not None:
            self._json(200, data)

    def _apple_pipeline(
        self, method: str, endpoint: str, path: str, raw_query: str, query: dict[str, str], raw: bytes
    ) -> dict[str, Any] | None:
        allowed = ROUTES.get(endpoint)
        if allowed is None:
            self._json(404, {"errorMessage": "Not found"})
            return None
        if method not in allowed:
            raise AppleError(9726, headers={"Allow": ", ".join(allowed)})
        if method == "POST":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type != "application/json":
                raise AppleError(9727)
        header = self.headers.get("Authorization") or ""
        bearer = header[7:].strip() if header.startswith("Bearer ") else ""
        # The method leads the target, so a fault can aim at one verb ("POST /mdm/v2/client/config").
        bump = self._apply_faults(f"{method} {path}?{raw_query}", bearer, apple=True)
        if endpoint == "service/config":
            return self.server.api.service_config(self._base())
        if not bearer:
            raise AppleError(9722)
        location, token = self.state.authenticate(bearer)
        self._rate_limit(bearer)
        body: dict[str, Any] = {}
        if method == "POST":
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                raise AppleError(9602) from None
            if not isinstance(body, dict):
                raise AppleError(9602)
        data = self._call(endpoint, method, location, token, query, body)
        if bump is not None and endpoint in PAGED_DATASETS and (q_int(query, "pageIndex") or 0) == 0:
            # The walk that just started will see a different versionId on its next page.
            with self.state.lock:
                location.versions[PAGED_DATASETS[endpoint]].bump()
                self.state.mark_changed()
                bump.count -= 1
                if bump.count <= 0 and bump in self.state.faults:
                    self.state.faults.remove(bump)
        return data | location.envelope(token)

    def _call(
        self,
        endpoint: str,
        method: str,
        location: Location,
        token: Any,
        query: dict[str, str],
        body: dict[str, Any],
    ) -> dict[str, Any]:
        api = self.server.api
        if endpoint == "client/config":
            if method == "GET":
                return api.get_client_config(location, token)
            return api.post_client_config(location, token, body)
        if endpoint == "assets":
            return api.get_assets(location, token, query)
        if endpoint == "assignments":
            return api.get_assignments(location, token, query)
        if endpoint == "users":
            return api.get_users(location, token, query)
        if endpoint == "status":
            return api.get_status(location, token, query)
        if endpoint == "assets/associate":
            return api.manage_assets(location, token, body, "ASSOCIATE")
        if endpoint == "assets/disassociate":
            return api.manage_assets(location, token, body, "DISASSOCIATE")
        if endpoint == "assets/revoke":
            return api.revoke_assets(location, token, body)
        return api.manage_users(location, token, body, endpoint.split("/")[1].upper())

    def _fault_uid(self, bearer: str) -> str | None:
        uid = self.state.token_index.get(bearer)
        if uid is None and bearer:
            claims = verify_token(bearer, self.state.key)
            uid = claims.uid if claims else None
        return uid

    def _apply_faults(self, target: str, bearer: str, *, apple: bool) -> Fault | None:
        """Fire the first matching injected fault; returns a pending ``bump_version`` fault to apply later."""
        with self.state.lock:
            if not self.state.faults:
                return None
            uid = self._fault_uid(bearer) if any(f.uid for f in self.state.faults) else None
            chosen = None
            bump = None
            for fault in self.state.faults:
                if fault.path is None and not apple:
                    continue
                if fault.path is not None and fault.path not in target:
                    continue
                if fault.uid is not None and fault.uid != uid:
                    continue
                if fault.kind == "bump_version":
                    bump = bump or fault
                    continue
                chosen = fault
                break
            if chosen is None:
                return bump
            chosen.count -= 1
            if chosen.count <= 0:
                self.state.faults.remove(chosen)
        retry = {"Retry-After": str(chosen.retry_after)} if chosen.retry_after is not None else {}
        # An explicit retry_after (0 included) is sent as given; without one, one second.
        after = {"Retry-After": str(chosen.retry_after if chosen.retry_after is not None else 1)}
        if chosen.kind == "revoke_token":
            uid = self._fault_uid(bearer)
            if uid is not None:
                self.state.set_token_state(uid, "revoked")
            return bump
        if chosen.kind == "slow":
            time.sleep(chosen.delay)
            return bump
        if chosen.kind == "rate_limit":
            raise AppleError(9646, headers=after)
        if chosen.kind == "internal_error":
            raise AppleError(9603, headers=retry)
        if chosen.kind == "service_unavailable_9729":
            raise AppleError(9729, headers=after)
        # "unavailable": a front-end outage, answered as HTML like a load balancer would, not as Apple JSON.
        self._send(
            503,
            b"<html><body><h1>503 Service Unavailable</h1></body></html>",
            "text/html",
            after,
        )
        raise _Handled

    def _rate_limit(self, bearer: str) -> None:
        limit = int(self.state.settings.max_request_per_second)
        now = time.monotonic()
        with self.state.lock:
            window = self.state.rate_windows.setdefault(bearer, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                raise AppleError(9646, headers={"Retry-After": "1"})
            window.append(now)

    # -------------------------------------------------------------------------------- metadata lookup

    def _cookie(self, name: str) -> str | None:
        for part in (self.headers.get("Cookie") or "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return unquote(value.strip().strip('"'))
        return None

    def _lookup(self, query: dict[str, str]) -> None:
        try:
            self._apply_faults(LOOKUP_PATH, "", apple=False)
        except AppleError as exc:
            self._json(exc.status, exc.body(), exc.headers)
            return
        except _Handled:
            return
        ids = [i.strip() for i in (query.get("id") or "").split(",") if i.strip()]
        country = (query.get("cc") or "us").upper()
        cookie = self._cookie("itvt")
        owner = self.state.validate_cookie_token(cookie) if cookie else None
        results: dict[str, Any] = {}
        with self.state.lock:
            for adam_id in ids:
                entry = self.state.catalog.get(adam_id)
                if entry is None or not entry.available_in(country):
                    continue
                if entry.b2b_custom and (owner is None or not any(a == adam_id for a, _ in owner.assets)):
                    continue
                results[adam_id] = entry.lookup_result(country=country, icon_base=self._base())
        self._json(200, lookup_response(results, country))

    def _icon(self, path: str, query: dict[str, str]) -> None:
        match = re.fullmatch(r"/icons/(\w+)\.png", path)
        if not match:
            self._json(404, {"errorMessage": "Not found"})
            return
        adam_id = match.group(1)
        size = min(max(q_int(query, "size") or 64, 8), 512)
        key = (adam_id, size)
        png = self.server.icons.get(key)
        if png is None:
            entry = self.state.catalog.get(adam_id)
            png = make_png(size, icon_color(adam_id, entry.color if entry else None))
            self.server.icons[key] = png
        self._send(200, png, "image/png", {"Cache-Control": "max-age=86400"})

    def _invitation(self, method: str, query: dict[str, str]) -> None:
        """Apple's invitation page: a button stands in for the user signing in with an Apple Account."""
        code = query.get("inviteCode", "")
        found = None
        with self.state.lock:
            for location in self.state.locations.values():
                for user in location.active_users.values():
                    if user.invite_code == code and user.status == "Registered":
                        found = (location.uid, user.client_user_id)
        if found is None:
            text = "<p>This invitation is not valid or was already accepted.</p>"
        elif method == "POST":
            self.state.accept_invitation(*found)
            text = "<p>You have joined. Assigned apps and books will now be available.</p>"
        else:
            text = (
                f"<p>Join the organisation's apps and books program as <b>{html.escape(found[1])}</b>?</p>"
                f'<form method="post"><button type="submit">Accept</button></form>'
            )
        page = f"<html><head><title>Apps and Books invitation</title></head><body>{text}</body></html>"
        self._send(200, page.encode(), "text/html;charset=UTF-8")

    # -------------------------------------------------------------------------------- control API

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
                    result = handler(self, body if isinstance(body, dict) else {}, query, *match.groups())
                except ControlError as exc:
                    self._json(exc.status, {"error": str(exc)})
                except (ValueError, TypeError, KeyError) as exc:
                    self._json(400, {"error": str(exc)})
                else:
                    self._json(200, result)
                return
        self._json(404, {"error": f"no control endpoint {method} {path}"})


class _Handled(Exception):
    """The response was already written."""


# Control handlers: (handler, body, query, *path groups) -> JSON result.
ControlHandler = Callable[..., Any]


def _root(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    base = h._base()
    return {"status": "ok", "fixture": h.state.fixture, "baseUrl": f"{base}/mdm/v2/", "rootUrl": base}


def _locations(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    with h.state.lock:
        return {"locations": [loc.summary() for loc in h.state.locations.values()]}


def _location(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str], uid: str) -> Any:
    include = query.get("include_assignments")
    with h.state.lock:
        return h.state.location(uid).snapshot(
            include_assignments=None if include is None else include.lower() in ("1", "true")
        )


def _mint(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    token = h.state.mint_token(
        org_name=body["org_name"],
        location_name=body["location_name"],
        days=int(body.get("days", 365)),
        account_type=body.get("account_type", "business"),
        country=body.get("country", "US"),
    )
    return {"token": token, "uId": h.state.token_index[token]}


def _generate(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    data = generate_location_data(
        org_name=body["org_name"],
        location_name=body["location_name"],
        assets=int(body.get("assets", 100)),
        assignments=int(body.get("assignments", 1000)),
        users=int(body.get("users", 10)),
        country=body.get("country", "US"),
        account_type=body.get("account_type", "business"),
    )
    with h.state.lock:
        h.state.merge(data)
    return _mint(h, body, query)


def _count(
    h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str], uid: str, adam: str
) -> Any:
    return h.state.change_count(uid, adam, int(body["delta"]), body.get("pricingParam", "STDQ"))


def _add_asset(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str], uid: str) -> Any:
    return h.state.add_asset(uid, body)


def _accept(
    h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str], uid: str, cuid: str
) -> Any:
    return h.state.accept_invitation(uid, unquote(cuid), body.get("appleId"))


def _licenses(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    return h.state.find_licenses(
        query["adamId"],
        serial_number=query.get("serialNumber") or None,
        client_user_id=query.get("clientUserId") or None,
    )


def _token(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str], uid: str) -> Any:
    return h.state.set_token_state(uid, body["state"])


def _mdm_info(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str], uid: str) -> Any:
    return h.state.set_mdm_info(uid, body or None)


def _country(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str], uid: str) -> Any:
    return h.state.set_country(uid, body["country"])


def _version(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str], adam: str) -> Any:
    return h.state.set_app_version(adam, str(body["version"]))


def _catalog(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    with h.state.lock:
        return {"catalog": [entry.to_json() for entry in h.state.catalog.values()]}


def _faults_get(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    return {"faults": h.state.list_faults()}


def _faults_add(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    return h.state.add_fault(body)


def _faults_clear(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    h.state.clear_faults()
    return {"faults": []}


def _notifications(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    with h.state.lock:
        return {"notifications": [dict(n) for n in h.state.sent_notifications]}


def _notifications_clear(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    with h.state.lock:
        h.state.sent_notifications.clear()
    return {"notifications": []}


def _notification_mode(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    h.state.set_notification_mode(body["mode"])
    return {"mode": h.state.settings.notification_mode}


def _settings_get(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    return h.state.settings.as_dict()


def _settings_set(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    with h.state.lock:
        h.state.settings.update(body)
    return h.state.settings.as_dict()


def _reset(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    h.state.load_fixture(body.get("fixture") or h.state.fixture)
    return _locations(h, body, query)


def _wait_idle(h: SimulatorRequestHandler, body: dict[str, Any], query: dict[str, str]) -> Any:
    return {"idle": h.server.wait_idle(float(body.get("timeout", 10.0)))}


UID = r"([^/]+)"
CONTROL_ROUTES: list[tuple[str, str, ControlHandler]] = [
    ("GET", r"/_simulator", _root),
    ("GET", r"/_simulator/locations", _locations),
    ("POST", r"/_simulator/locations/generate", _generate),
    ("GET", rf"/_simulator/locations/{UID}", _location),
    ("POST", rf"/_simulator/locations/{UID}/assets", _add_asset),
    ("POST", rf"/_simulator/locations/{UID}/assets/{UID}/count", _count),
    ("POST", rf"/_simulator/locations/{UID}/users/{UID}/accept", _accept),
    ("POST", rf"/_simulator/locations/{UID}/token", _token),
    ("POST", rf"/_simulator/locations/{UID}/mdm-info", _mdm_info),
    ("POST", rf"/_simulator/locations/{UID}/country", _country),
    ("POST", r"/_simulator/tokens", _mint),
    ("GET", r"/_simulator/licenses", _licenses),
    ("GET", r"/_simulator/catalog", _catalog),
    ("POST", rf"/_simulator/catalog/{UID}/version", _version),
    ("GET", r"/_simulator/faults", _faults_get),
    ("POST", r"/_simulator/faults", _faults_add),
    ("DELETE", r"/_simulator/faults", _faults_clear),
    ("GET", r"/_simulator/notifications", _notifications),
    ("DELETE", r"/_simulator/notifications", _notifications_clear),
    ("POST", r"/_simulator/notifications/mode", _notification_mode),
    ("GET", r"/_simulator/settings", _settings_get),
    ("POST", r"/_simulator/settings", _settings_set),
    ("POST", r"/_simulator/reset", _reset),
    ("POST", r"/_simulator/wait-idle", _wait_idle),
]
