"""The NanoMDM side (enrolments, ordered command queues, pushes) and the simulated devices behind it.

A device enrols by sending Authenticate then TokenUpdate (posted to the webhook as NanoMDM does); after a
push it checks in (``checkin_delay`` later), reports Idle, then answers its queued commands in order. NotNow
keeps a command queued for the next check-in; Acknowledged / Error / CommandFormatError remove it. Every
answer is posted to the webhook as an ``mdm.Connect`` event before the next command is fetched.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.request
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from .events import HMAC_HEADER, acknowledge_event, checkin_event, encode_event, jsonable, sign
from .runner import Runner
from .settings import MDMSimulatorSettings

logger = logging.getLogger("mdm.simulator")

# The simulator's error answers. Apple does not document per-cause codes for these; the console shows
# whatever code, domain and description a device reports, so these only need to be stable and readable.
ERROR_DOMAIN = "MCMDMErrorDomain"
NO_LICENSE = (12064, "The app could not be installed: no license is assigned to this device or its user.")
USER_NOT_JOINED = (
    12065,
    "The app could not be installed: the user has not joined the organisation's apps and books program.",
)
STORE_UNREACHABLE = (12066, "The app could not be installed: the App Store could not be reached.")
NOT_MANAGED = (12029, "The app is not managed.")
UNSUPPORTED = (12021, "The simulator does not implement this command.")
BAD_COMMAND = (12001, "The command is not valid.")
FAULT_KINDS = ("unavailable", "internal_error", "slow", "unexplained_500", "partial", "drop_webhook")
# Fault kinds that act on webhook deliveries, not on API requests.
WEBHOOK_FAULT_KINDS = ("drop_webhook",)
# What NanoMDM's storage answers for an id it could not queue (a 207 names it under `command_error`).
PARTIAL_ERROR = "storage: enqueue failed for this id"
# Seconds before the second delivery attempt of a webhook event (then twice that, …).
WEBHOOK_RETRY_DELAY = 0.5
PUSH_MISSING = "push data missing for id"  # NanoMDM's push service for an id it holds no push data for
PUSH_UNREGISTERED = "Unregistered"  # APNs' answer for the token of a device whose profile was removed
MAX_LOG = 200_000
USER_APP = {
    "identifier": "com.example.personal-budget",
    "name": "Personal Budget",
    "short_version": "3.2",
    "version": "320",
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class DeviceApp:
    """An app in a device's inventory (managed by the MDM, or installed by the user)."""

    identifier: str
    name: str
    short_version: str
    version: str
    status: str = "Managed"  # Installing | Managed | ManagedButUninstalled (managed apps only)
    managed: bool = True
    adam_id: int | None = None
    management_flags: int = 0
    generation: int = 0

    @property
    def external_version_id(self) -> int:
        return zlib.crc32(f"{self.identifier}:{self.short_version}".encode()) & 0x7FFFFFFF

    @property
    def installed(self) -> bool:
        return self.status in ("Installing", "Managed") or not self.managed

    def managed_entry(self) -> dict[str, Any]:
        return {
            "Status": self.status,
            "ManagementFlags": self.management_flags,
            "ExternalVersionIdentifier": self.external_version_id,
            "HasConfiguration": False,
            "HasFeedback": False,
            "IsValidated": True,
        }

    def installed_entry(self) -> dict[str, Any]:
        return {
            "Identifier": self.identifier,
            "Name": self.name,
            "ShortVersion": self.short_version,
            "Version": self.version,
            "BundleSize": 20_000_000,
            "ExternalVersionIdentifier": self.external_version_id,
            "Installing": self.status == "Installing",
            "IsValidated": True,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "identifier": self.identifier,
            "name": self.name,
            "short_version": self.short_version,
            "status": self.status if self.managed else "UserInstalledApp",
            "managed": self.managed,
            "adam_id": self.adam_id,
            "management_flags": self.management_flags,
        }


@dataclass
class Failure:
    """A configured error answer: for one request type (None = any), ``remaining`` times (-1 = always)."""

    request_type: str | None
    code: int
    domain: str
    description: str
    remaining: int = -1

    def to_json(self) -> dict[str, Any]:
        return {
            "request_type": self.request_type,
            "code": self.code,
            "domain": self.domain,
            "description": self.description,
            "count": self.remaining,
        }


@dataclass
class QueuedCommand:
    command_uuid: str
    request_type: str
    command: dict[str, Any]


@dataclass
class Device:
    """One simulated device (device channel: its enrollment id is its UDID)."""

    udid: str
    serial_number: str
    device_name: str
    model: str
    model_name: str
    product_name: str
    os_version: str
    build_version: str
    client_user_id: str | None = None
    enrolled: bool = False
    ever_enrolled: bool = False
    token_update_tally: int = 0
    queue: list[QueuedCommand] = field(default_factory=list)
    apps: dict[str, DeviceApp] = field(default_factory=dict)
    silent: bool = False
    not_now: int = 0  # NotNow answers left (-1 = always)
    failures: list[Failure] = field(default_factory=list)
    checkins: int = 0
    checkin_scheduled: bool = False
    invitations: list[str] = field(default_factory=list)
    session_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def identity(self) -> dict[str, Any]:
        return {
            "UDID": self.udid,
            "SerialNumber": self.serial_number,
            "DeviceName": self.device_name,
            "Model": self.model,
            "ModelName": self.model_name,
            "ProductName": self.product_name,
            "OSVersion": self.os_version,
            "BuildVersion": self.build_version,
        }

    def to_json(self, *, detail: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "udid": self.udid,
            "enrollment_id": self.udid,
            "serial_number": self.serial_number,
            "device_name": self.device_name,
            "model": self.model,
            "model_name": self.model_name,
            "os_version": self.os_version,
            "client_user_id": self.client_user_id,
            "enrolled": self.enrolled,
            "silent": self.silent,
            "not_now": self.not_now,
            "failures": [f.to_json() for f in self.failures],
            "checkins": self.checkins,
            "queued": len(self.queue),
        }
        if detail:
            data["apps"] = [app.to_json() for app in self.apps.values()]
            data["queue"] = [
                {"command_uuid": c.command_uuid, "request_type": c.request_type} for c in self.queue
            ]
            data["invitations"] = list(self.invitations)
        return data


class ControlError(Exception):
    """A control request that cannot be done (answered with ``status``)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def demo_identity(n: int) -> dict[str, str]:
    """Device ``n`` of the demo fleet: stable serial number, UDID and a mix of iPads and iPhones."""
    serial = f"NMDM{n:08d}"
    ipad = n % 3 != 0
    return {
        "serial_number": serial,
        "udid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"nanomdm-simulator:{serial}")).upper(),
        "device_name": f"{'iPad' if ipad else 'iPhone'} {n:04d}",
        "model": "iPad13,16" if ipad else "iPhone15,2",
        "model_name": "iPad Air" if ipad else "iPhone 14 Pro",
        "product_name": "iPad13,16" if ipad else "iPhone15,2",
        "os_version": "17.5",
        "build_version": "21F79",
    }


class WebhookSender:
    """POSTs over one keep-alive connection per worker thread (a new connection per event would make the
    simulator, not the console, the bottleneck of a benchmark)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        """The HTTP status of one delivery; raises OSError / HTTPException when there is no answer."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {url}")
        key = (parts.scheme, parts.netloc, timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for _ in range(2):
            previous: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
            reused = previous is not None and self._local.key == key
            if previous is not None and reused:
                connection = previous
            else:
                if previous is not None:
                    previous.close()
                factory = (
                    http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                )
                connection = factory(parts.netloc, timeout=timeout)
                self._local.connection, self._local.key = connection, key
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                self._local.connection = None
                if reused:  # the server closed the idle connection before reading: send on a fresh one
                    continue
                raise
            except Exception:
                connection.close()
                self._local.connection = None
                raise
            if response.will_close:
                connection.close()
                self._local.connection = None
            return response.status
        raise http.client.HTTPException("no answer")


class MDMState:
    """NanoMDM's enrolments and queues, the devices, the logs; public methods are the control operations."""

    def __init__(self, settings: MDMSimulatorSettings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.runner = Runner(settings.workers)
        self.devices: dict[str, Device] = {}
        self.by_serial: dict[str, str] = {}
        self.orphan_queues: dict[str, list[QueuedCommand]] = {}  # ids never enrolled ("file" storage)
        self.known_uuids: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self._command_index: dict[tuple[str, str], dict[str, Any]] = {}
        self.webhooks: deque[dict[str, Any]] = deque(maxlen=5000)
        self.webhook_counts = {"sent": 0, "failed": 0}
        self.demo_counter = 0
        self.faults: list[dict[str, Any]] = []
        self.sender = WebhookSender()

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()

    def reset(self) -> None:
        """Forget every device, queue and log (settings stay)."""
        self.runner.clear()
        with self.lock:
            self.devices.clear()
            self.by_serial.clear()
            self.orphan_queues.clear()
            self.known_uuids.clear()
            self.requests.clear()
            self.commands.clear()
            self._command_index.clear()
            self.webhooks.clear()
            self.webhook_counts = {"sent": 0, "failed": 0}
            self.demo_counter = 0
            self.faults.clear()

    # ------------------------------------------------------------------------------ faults

    def add_fault(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        """Make ``count`` API requests (after ``skip`` good ones) fail: ``unavailable`` (503 HTML from a
        proxy), ``internal_error`` (500 without body: NanoMDM could not read the request), ``slow``
        (answered after ``delay`` seconds), ``unexplained_500`` (500 with JSON naming no error, as another
        implementation of the contract might answer) or ``partial`` (an enqueue answered 207: its last
        ``fail`` ids are not queued and carry a ``command_error``). ``drop_webhook`` loses ``count`` webhook
        events (after ``skip``), only those of ``topic`` and ack ``status`` when given: the event is never
        delivered, as when NanoMDM's single attempt times out."""
        kind = values.get("kind")
        if kind not in FAULT_KINDS:
            raise ControlError(f"kind must be one of {FAULT_KINDS}")
        fault = {
            "kind": kind,
            "count": int(values.get("count", 1)),
            "delay": float(values.get("delay", 0)),
            "skip": int(values.get("skip", 0)),
            "fail": int(values.get("fail", 1)),
            "topic": values.get("topic") or None,
            "status": values.get("status") or None,
        }
        with self.lock:
            self.faults.append(fault)
            return [dict(f) for f in self.faults]

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def take_fault(self) -> dict[str, Any] | None:
        """The fault the current API request should suffer, if one is armed."""
        return self._take(lambda fault: fault["kind"] not in WEBHOOK_FAULT_KINDS)

    def _take_webhook_drop(self, topic: str, status: str | None) -> bool:
        """Whether this webhook event is to be lost (a ``drop_webhook`` fault matching it)."""
        return (
            self._take(
                lambda fault: (
                    fault["kind"] == "drop_webhook"
                    and fault["topic"] in (None, topic)
                    and fault["status"] in (None, status)
                )
            )
            is not None
        )

    def _take(self, applies: Any) -> dict[str, Any] | None:
        with self.lock:
            fault = next((f for f in self.faults if applies(f)), None)
            if fault is None:
                return None
            if fault["skip"] > 0:
                fault["skip"] -= 1
                return None
            fault["count"] -= 1
            if fault["count"] <= 0:
                self.faults.remove(fault)
            return dict(fault)

    # ------------------------------------------------------------------------------ NanoMDM API

    def enqueue(
        self,
        ids: list[str],
        command_uuid: str,
        request_type: str,
        command: dict[str, Any],
        *,
        fail: int = 0,
    ) -> tuple[dict[str, str], str | None]:
        """Queue a command for ids: (per-id command errors, whole-request error) as NanoMDM's storage does.
        ``fail``: the last ``fail`` ids are not queued and get a per-id error (the ``partial`` fault)."""
        failed = dict.fromkeys(ids[len(ids) - fail :], PARTIAL_ERROR) if fail > 0 else {}
        ids = [i for i in ids if i not in failed]
        with self.lock:
            if self.settings.storage == "mysql":
                if command_uuid in self.known_uuids:
                    return (
                        {},
                        f"Error 1062 (23000): Duplicate entry '{command_uuid}' for key 'commands.PRIMARY'",
                    )
                unknown = [i for i in ids if i not in self.devices or not self.devices[i].ever_enrolled]
                if unknown:
                    return {}, (
                        "Error 1452 (23000): Cannot add or update a child row: a foreign key constraint "
                        "fails (`enrollment_queue`, FOREIGN KEY (`id`) REFERENCES `enrollments` (`id`))"
                    )
            self.known_uuids.add(command_uuid)
            at = now_iso()
            for enrollment_id in ids:
                queued = QueuedCommand(command_uuid, request_type, command)
                device = self.devices.get(enrollment_id)
                if device is None:
                    self.orphan_queues.setdefault(enrollment_id, []).append(queued)
                else:
                    device.queue.append(queued)
                entry = {
                    "udid": enrollment_id,
                    "serial_number": device.serial_number if device else None,
                    "command_uuid": command_uuid,
                    "request_type": request_type,
                    "command": jsonable(command),
                    "enqueued_at": at,
                    "status": None,
                    "results": [],
                    "answered_at": None,
                }
                if len(self.commands) < MAX_LOG:
                    self.commands.append(entry)
                self._command_index[(enrollment_id, command_uuid)] = entry
        return failed, None

    def push(self, ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
        """APNs pushes: (push id, push error) per id; reachable devices check in ``checkin_delay`` later."""
        results: dict[str, tuple[str | None, str | None]] = {}
        with self.lock:
            for enrollment_id in ids:
                device = self.devices.get(enrollment_id)
                if device is None or not device.ever_enrolled:
                    results[enrollment_id] = (None, PUSH_MISSING)
                elif not device.enrolled:
                    results[enrollment_id] = (None, PUSH_UNREGISTERED)
                else:
                    results[enrollment_id] = (str(uuid.uuid4()).upper(), None)
                    self._schedule_checkin(device, self.settings.checkin_delay)
        return results

    def log_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            if len(self.requests) < MAX_LOG:
                self.requests.append(entry)

    def _schedule_checkin(self, device: Device, delay: float) -> None:
        if device.silent or device.checkin_scheduled:
            return
        device.checkin_scheduled = True
        self.runner.schedule(delay, self.check_in, device.udid)

    # ------------------------------------------------------------------------------ enrolment

    def enroll(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create (or re-enrol) devices and have each send Authenticate then TokenUpdate."""
        created = []
        with self.lock:
            for spec in specs:
                device = self._device_from_spec(spec)
                self.runner.schedule(0, self._enrol_device, device.udid)
                created.append(device.to_json())
        return created

    def demo_specs(self, count: int) -> list[dict[str, Any]]:
        with self.lock:
            specs = []
            for _ in range(count):
                self.demo_counter += 1
                while demo_identity(self.demo_counter)["serial_number"] in self.by_serial:
                    self.demo_counter += 1
                specs.append(demo_identity(self.demo_counter))
            return specs

    def _device_from_spec(self, spec: dict[str, Any]) -> Device:
        serial = str(spec.get("serial_number") or "").strip()
        if not serial:
            raise ControlError("serial_number is required")
        udid = self.by_serial.get(serial)
        if udid is not None:
            device = self.devices[udid]
            for name in ("device_name", "os_version", "client_user_id"):
                if spec.get(name):
                    setattr(device, name, str(spec[name]))
            return device
        udid = str(spec.get("udid") or uuid.uuid5(uuid.NAMESPACE_URL, f"nanomdm-simulator:{serial}")).upper()
        if udid in self.devices:
            raise ControlError(f"UDID {udid} belongs to another serial number", status=409)
        ipad = "iphone" not in str(spec.get("model", "")).lower()
        device = Device(
            udid=udid,
            serial_number=serial,
            device_name=str(spec.get("device_name") or f"Device {serial}"),
            model=str(spec.get("model") or ("iPad13,16" if ipad else "iPhone15,2")),
            model_name=str(spec.get("model_name") or ("iPad Air" if ipad else "iPhone 14 Pro")),
            product_name=str(
                spec.get("product_name") or spec.get("model") or ("iPad13,16" if ipad else "iPhone15,2")
            ),
            os_version=str(spec.get("os_version") or "17.5"),
            build_version=str(spec.get("build_version") or "21F79"),
            client_user_id=str(spec["client_user_id"]) if spec.get("client_user_id") else None,
        )
        personal = DeviceApp(
            identifier=USER_APP["identifier"],
            name=USER_APP["name"],
            short_version=USER_APP["short_version"],
            version=USER_APP["version"],
            status="",
            managed=False,
        )
        device.apps[personal.identifier] = personal
        self.devices[udid] = device
        self.by_serial[serial] = udid
        # Commands queued to this id before it enrolled ("file" storage keeps them).
        device.queue.extend(self.orphan_queues.pop(udid, []))
        return device

    def _enrol_device(self, udid: str) -> None:
        device = self.devices.get(udid)
        if device is None:
            return
        with device.session_lock:
            self.deliver(
                checkin_event(
                    "mdm.Authenticate",
                    {
                        "MessageType": "Authenticate",
                        **device.identity(),
                        "Topic": "com.apple.mgmt.External.simulator",
                    },
                    udid=udid,
                )
            )
            with self.lock:
                device.enrolled = True
                device.ever_enrolled = True
                device.token_update_tally += 1
                tally = device.token_update_tally
            payload = {
                "MessageType": "TokenUpdate",
                "UDID": udid,
                "Topic": "com.apple.mgmt.External.simulator",
                "Token": uuid.uuid4().bytes + uuid.uuid4().bytes,
                "PushMagic": str(uuid.uuid4()).upper(),
            }
            self.deliver(checkin_event("mdm.TokenUpdate", payload, udid=udid, token_update_tally=tally))

    def check_out(self, udid: str) -> dict[str, Any]:
        """The MDM profile is removed: CheckOut is posted, the queue dropped, apps flagged 1 removed."""
        device = self.device(udid)
        with device.session_lock:
            with self.lock:
                if not device.enrolled:
                    raise ControlError("the device is not enrolled", status=409)
                device.enrolled = False
                device.token_update_tally = 0
                device.queue.clear()
                for identifier, app in list(device.apps.items()):
                    if app.managed and app.management_flags & 1:
                        del device.apps[identifier]
                    elif app.managed:
                        app.managed = False
            self.deliver(
                checkin_event(
                    "mdm.CheckOut",
                    {"MessageType": "CheckOut", "UDID": udid, "Topic": "com.apple.mgmt.External.simulator"},
                    udid=udid,
                )
            )
        return device.to_json(detail=True)

    # ------------------------------------------------------------------------------ control

    def device(self, key: str) -> Device:
        """A device by UDID or serial number."""
        with self.lock:
            device = self.devices.get(key) or self.devices.get(self.by_serial.get(key, ""))
        if device is None:
            raise ControlError(f"no device {key!r}", status=404)
        return device

    def update_device(self, key: str, values: dict[str, Any]) -> dict[str, Any]:
        device = self.device(key)
        with self.lock:
            for name in ("device_name", "os_version", "client_user_id"):
                if name in values:
                    setattr(device, name, str(values[name]) if values[name] else None)
            return device.to_json(detail=True)

    def set_behaviour(self, key: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        """Behaviours of one device (or ``*``: all): ``silent``, ``not_now`` (count, -1 always, 0 off),
        ``fail`` ({request_type, code, domain, description, count}; null clears them)."""
        with self.lock:
            devices = list(self.devices.values()) if key == "*" else [self.device(key)]
            for device in devices:
                if "silent" in values:
                    device.silent = bool(values["silent"])
                if "not_now" in values:
                    value = values["not_now"]
                    device.not_now = -1 if value is True else 0 if value is False else int(value)
                if "fail" in values:
                    spec = values["fail"]
                    if not spec:
                        device.failures.clear()
                    else:
                        device.failures.append(
                            Failure(
                                request_type=spec.get("request_type") or None,
                                code=int(spec.get("code", 12000)),
                                domain=str(spec.get("domain", ERROR_DOMAIN)),
                                description=str(spec.get("description", "The command failed.")),
                                remaining=int(spec.get("count", -1)),
                            )
                        )
            return [d.to_json() for d in devices]

    def delete_app(self, key: str, identifier: str, *, forget: bool = False) -> dict[str, Any]:
        """The user deletes an app: ``ManagedButUninstalled`` (or gone from every list with ``forget``)."""
        device = self.device(key)
        with self.lock:
            app = device.apps.get(identifier)
            if app is None:
                raise ControlError(f"{identifier} is not on the device", status=404)
            if forget or not app.managed:
                del device.apps[identifier]
            else:
                app.status = "ManagedButUninstalled"
                app.generation += 1
            return device.to_json(detail=True)

    def request_checkin(self, key: str) -> dict[str, Any]:
        device = self.device(key)
        with self.lock:
            if device.enrolled and not device.silent:
                device.checkin_scheduled = True
                self.runner.schedule(0, self.check_in, device.udid)
            return device.to_json()

    def log(self, *, udid: str | None = None, request_type: str | None = None) -> dict[str, Any]:
        with self.lock:
            commands = [
                dict(c, results=list(c["results"]))
                for c in self.commands
                if (udid is None or c["udid"] == udid)
                and (request_type is None or c["request_type"] == request_type)
            ]
            requests = [
                r
                for r in self.requests
                if (request_type is None or r.get("request_type") == request_type)
                and (udid is None or udid in r["ids"])
            ]
            return {"requests": [dict(r) for r in requests], "commands": commands}

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()
            self.commands.clear()
            self._command_index.clear()
            self.webhooks.clear()

    def webhook_log(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(w) for w in self.webhooks]

    # ------------------------------------------------------------------------------ webhook

    def deliver(self, event: dict[str, Any]) -> None:
        """POST one event to the webhook URL and log the outcome.

        NanoMDM makes one attempt. The stand-in makes up to ``webhook_attempts`` (a console busy under load
        answering late or 5xx would otherwise lose events a demo or a test then waits for); a
        ``drop_webhook`` fault loses the event on purpose, as NanoMDM's single attempt would."""
        body = encode_event(event)
        sub = event.get("acknowledge_event") or event.get("checkin_event") or {}
        entry: dict[str, Any] = {
            "topic": event["topic"],
            "event_id": event.get("event_id"),
            "udid": sub.get("udid"),
            "status": sub.get("status"),
            "command_uuid": sub.get("command_uuid"),
            "http_status": None,
            "error": None,
            "attempts": 0,
            "event": event,
        }
        url = self.settings.webhook_url
        if url and self._take_webhook_drop(entry["topic"], entry["status"]):
            entry["error"] = "dropped (fault)"
        elif url:
            headers = {"Content-Type": "application/json; charset=utf-8"}
            if self.settings.hmac_key:
                headers[HMAC_HEADER] = sign(body, self.settings.hmac_key)
            attempts = max(1, int(self.settings.webhook_attempts))
            for attempt in range(attempts):
                entry["attempts"] = attempt + 1
                entry["http_status"], entry["error"] = None, None
                try:
                    entry["http_status"] = self.sender.post(url, body, headers, self.settings.webhook_timeout)
                except (OSError, http.client.HTTPException) as exc:
                    entry["error"] = f"{type(exc).__name__}: {exc}"
                except ValueError as exc:  # not an http(s) URL: no attempt will do better
                    entry["error"] = f"{type(exc).__name__}: {exc}"
                    break
                else:
                    if entry["http_status"] == 200:
                        break
                    entry["error"] = f"HTTP {entry['http_status']}"
                    if entry["http_status"] < 500 and entry["http_status"] != 429:
                        break  # refused (bad signature, bad event): sending it again changes nothing
                if attempt + 1 < attempts:
                    time.sleep(WEBHOOK_RETRY_DELAY * (attempt + 1))
        with self.lock:
            self.webhooks.append(entry)
            ok = entry["http_status"] == 200 or (not url)
            self.webhook_counts["sent" if ok else "failed"] += 1

    # ------------------------------------------------------------------------------ device sessions

    def check_in(self, udid: str) -> None:
        """One device session: Idle, then every queued command in order (NotNow ones wait for the next)."""
        device = self.devices.get(udid)
        if device is None:
            return
        with device.session_lock:
            with self.lock:
                device.checkin_scheduled = False
                if not device.enrolled or device.silent:
                    return
                device.checkins += 1
            if self.settings.send_idle:
                self.deliver(acknowledge_event({"Status": "Idle", "UDID": udid}, udid=udid))
            skipped: set[str] = set()
            while True:
                with self.lock:
                    if not device.enrolled or device.silent:
                        return
                    command = next((c for c in device.queue if c.command_uuid not in skipped), None)
                if command is None:
                    return
                report = self._answer(device, command)
                with self.lock:
                    if report["Status"] == "NotNow":
                        skipped.add(command.command_uuid)
                    elif command in device.queue:
                        device.queue.remove(command)
                    entry = self._command_index.get((udid, command.command_uuid))
                    if entry is not None:
                        entry["status"] = report["Status"]
                        entry["results"].append(report["Status"])
                        entry["answered_at"] = now_iso()
                self.deliver(acknowledge_event(report, udid=udid))

    def _answer(self, device: Device, command: QueuedCommand) -> dict[str, Any]:
        base = {"UDID": device.udid, "CommandUUID": command.command_uuid}
        with self.lock:
            if device.not_now:
                if device.not_now > 0:
                    device.not_now -= 1
                return base | {"Status": "NotNow"}
            for failure in device.failures:
                if failure.request_type in (None, command.request_type) and failure.remaining != 0:
                    if failure.remaining > 0:
                        failure.remaining -= 1
                    return base | _error(failure.code, failure.description, failure.domain)
        handler = {
            "InstallApplication": self._install,
            "RemoveApplication": self._remove,
            "ManagedApplicationList": self._managed_list,
            "InstalledApplicationList": self._installed_list,
            "InviteToProgram": self._invite,
        }.get(command.request_type)
        if handler is None:
            return base | _error(*UNSUPPORTED)
        return base | handler(device, command.command)

    def _install(self, device: Device, command: dict[str, Any]) -> dict[str, Any]:
        adam_id = command.get("iTunesStoreID")
        identifier = command.get("Identifier")
        if adam_id is not None and (isinstance(adam_id, bool) or not isinstance(adam_id, int)):
            return _error(*BAD_COMMAND, status="CommandFormatError")
        if adam_id is None and not isinstance(identifier, str):
            return _error(*BAD_COMMAND, status="CommandFormatError")
        raw_options = command.get("Options")
        options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
        flags = command.get("ManagementFlags", 0)
        if isinstance(flags, bool) or not isinstance(flags, int):
            return _error(*BAD_COMMAND, status="CommandFormatError")
        name, version = identifier or f"App {adam_id}", "1.0"
        if adam_id is not None:
            identifier = f"app.adam{adam_id}"
            if self.settings.apple_url:
                info = self._ask_apple(adam_id, device)
                if info is None:
                    return _error(*STORE_UNREACHABLE)
                identifier = info.get("bundleId") or identifier
                name = info.get("name") or name
                version = info.get("version") or version
                if options.get("PurchaseMethod") == 1:
                    refusal = _license_refusal(info.get("licenses") or [], device)
                    if refusal is not None:
                        return _error(*refusal)
        assert isinstance(identifier, str)
        with self.lock:
            app = device.apps.get(identifier)
            if (
                app is None
                or not app.managed
                or app.status == "ManagedButUninstalled"
                or app.short_version != version
            ):
                app = DeviceApp(
                    identifier=identifier,
                    name=name,
                    short_version=version,
                    version=version,
                    status="Installing",
                    adam_id=adam_id,
                    management_flags=flags,
                    generation=(app.generation + 1) if app else 0,
                )
                device.apps[identifier] = app
            else:
                app.management_flags = flags
            state = app.status
            if state == "Installing":
                if self.settings.install_delay <= 0:
                    app.status = state = "Managed"
                else:
                    self.runner.schedule(
                        self.settings.install_delay,
                        self._finish_install,
                        device.udid,
                        identifier,
                        app.generation,
                    )
        return {"Status": "Acknowledged", "Identifier": identifier, "State": state}

    def _finish_install(self, udid: str, identifier: str, generation: int) -> None:
        with self.lock:
            device = self.devices.get(udid)
            app = device.apps.get(identifier) if device else None
            if app is not None and app.generation == generation and app.status == "Installing":
                app.status = "Managed"

    def _ask_apple(self, adam_id: int, device: Device) -> dict[str, Any] | None:
        root = (self.settings.apple_url or "").rstrip("/")
        if root.endswith("/mdm/v2"):
            root = root[: -len("/mdm/v2")]
        query = urlencode(
            {
                "adamId": str(adam_id),
                "serialNumber": device.serial_number,
                "clientUserId": device.client_user_id or "",
            }
        )
        try:
            with urllib.request.urlopen(f"{root}/_simulator/licenses?{query}", timeout=5) as response:
                data = json.loads(response.read())
        except (OSError, ValueError) as exc:
            logger.warning("cannot ask the Apple simulator about %s: %s", adam_id, exc)
            return None
        return data if isinstance(data, dict) else None

    def _remove(self, device: Device, command: dict[str, Any]) -> dict[str, Any]:
        identifier = command.get("Identifier")
        if not isinstance(identifier, str) or not identifier:
            return _error(*BAD_COMMAND, status="CommandFormatError")
        with self.lock:
            app = device.apps.get(identifier)
            if app is None or not app.managed:
                return _error(*NOT_MANAGED)
            del device.apps[identifier]
        return {"Status": "Acknowledged"}

    def _managed_list(self, device: Device, command: dict[str, Any]) -> dict[str, Any]:
        wanted = command.get("Identifiers")
        with self.lock:
            apps = {
                app.identifier: app.managed_entry()
                for app in device.apps.values()
                if app.managed and (not isinstance(wanted, list) or app.identifier in wanted)
            }
        return {"Status": "Acknowledged", "ManagedApplicationList": apps}

    def _installed_list(self, device: Device, command: dict[str, Any]) -> dict[str, Any]:
        wanted = command.get("Identifiers")
        managed_only = command.get("ManagedAppsOnly") is True
        with self.lock:
            apps = [
                app.installed_entry()
                for app in device.apps.values()
                if app.installed
                and (app.managed or not managed_only)
                and (not isinstance(wanted, list) or app.identifier in wanted)
            ]
        return {"Status": "Acknowledged", "InstalledApplicationList": apps}

    def _invite(self, device: Device, command: dict[str, Any]) -> dict[str, Any]:
        url = command.get("InvitationURL")
        if command.get("ProgramID") != "com.apple.cloudvpp":
            result = "InvalidProgramID"
        elif not isinstance(url, str) or not url.startswith(("https://", "http://")):
            result = "InvalidInvitationURL"
        else:
            result = "Acknowledged"
            with self.lock:
                device.invitations.append(url)
        return {"Status": "Acknowledged", "InvitationResult": result}

    # ------------------------------------------------------------------------------ summary

    def summary(self) -> dict[str, Any]:
        with self.lock:
            by_type: dict[str, int] = {}
            requests_by_type: dict[str, int] = {}
            for command in self.commands:
                by_type[command["request_type"]] = by_type.get(command["request_type"], 0) + 1
            for request in self.requests:
                if request["kind"] == "enqueue" and request.get("request_type"):
                    name = request["request_type"]
                    requests_by_type[name] = requests_by_type.get(name, 0) + 1
            return {
                "devices": len(self.devices),
                "enrolled": sum(1 for d in self.devices.values() if d.enrolled),
                "queued_commands": sum(len(d.queue) for d in self.devices.values()),
                "enqueue_requests": sum(1 for r in self.requests if r["kind"] == "enqueue"),
                "push_requests": sum(1 for r in self.requests if r["kind"] == "push"),
                "commands": len(self.commands),
                "commands_by_type": by_type,
                "enqueue_requests_by_type": requests_by_type,
                "webhooks": dict(self.webhook_counts),
            }


def _license_refusal(licenses: list[dict[str, Any]], device: Device) -> tuple[int, str] | None:
    """Why a PurchaseMethod 1 install fails on this device, or None when it holds a usable license."""
    if any(item.get("serialNumber") == device.serial_number for item in licenses):
        return None
    mine = [
        item
        for item in licenses
        if device.client_user_id and item.get("clientUserId") == device.client_user_id
    ]
    if any(item.get("userStatus") == "Associated" for item in mine):
        return None
    return USER_NOT_JOINED if mine else NO_LICENSE


def _error(
    code: int, description: str, domain: str = ERROR_DOMAIN, *, status: str = "Error"
) -> dict[str, Any]:
    return {
        "Status": status,
        "ErrorChain": [
            {
                "ErrorCode": code,
                "ErrorDomain": domain,
                "LocalizedDescription": description,
                "USEnglishDescription": description,
            }
        ],
    }
