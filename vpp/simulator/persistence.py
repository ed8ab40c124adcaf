"""Saving the whole simulated service to a JSON file and loading it back (``persist_file`` setting).

The file holds everything Apple would remember across a restart: the catalogue, every location with its
tokens (claims + server-side state), client config (mdmInfo, webhook URL and secret, subscriptions), assets
and counts, assignments with their modification sequence, the user history, the versionId logs and the events
(pending ones are run again when the simulator starts). Injected faults, the notification log, queued
notification deliveries and settings are not kept.

Saving copies the state under the lock and serialises outside it; the file is written to a temporary file in
the same directory with mode 0600 (it contains notification secrets) and moved into place with ``os.replace``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import CatalogEntry
from .state import DATASETS, TOKEN_STATES, Asset, Event, Location, TokenRecord, User, VersionLog
from .tokens import TokenClaims, format_apple_date, parse_apple_date

if TYPE_CHECKING:
    from .state import SimulatorState

logger = logging.getLogger("vpp.simulator")

FORMAT = "vpp-simulator-state"
FORMAT_VERSION = 1
# Finished events kept in the file (all pending ones are kept): enough for clients polling ``status``.
MAX_FINISHED_EVENTS = 5000


class PersistError(Exception):
    """The file is not a state file this version can load."""


# ------------------------------------------------------------------------------------------- dumping


def dump_state(state: SimulatorState) -> tuple[dict[str, Any], int]:
    """A JSON-ready copy of the whole state and the change generation it corresponds to.

    Mutable containers are copied under the lock so serialising can happen without it.
    """
    with state.lock:
        events = sorted(state.events.values(), key=lambda e: e.created)
        finished = [e for e in events if e.status != "PENDING"][-MAX_FINISHED_EVENTS:]
        kept = {id(e) for e in finished}
        data = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "savedAt": time.time(),
            "fixture": state.fixture,
            "catalog": [entry.to_json() for entry in state.catalog.values()],
            "defaultLocationAssets": list(state.default_assets),
            "locations": [_dump_location(location) for location in state.locations.values()],
            "events": [_dump_event(e) for e in events if e.status == "PENDING" or id(e) in kept],
        }
        return data, state.generation


def _dump_claims(claims: TokenClaims) -> dict[str, Any]:
    return {
        "uid": claims.uid,
        "org": claims.org_name,
        "loc": claims.location_name,
        "cc": claims.country,
        "type": claims.account_type,
        "exp": format_apple_date(claims.exp_date),
        "nonce": claims.nonce,
    }


def _dump_location(location: Location) -> dict[str, Any]:
    return {
        "uId": location.uid,
        "orgName": location.org_name,
        "locationName": location.location_name,
        "country": location.country,
        "accountType": location.account_type,
        "expiration": format_apple_date(location.expiration),
        "tokens": [
            {"bearer": bearer, "state": record.state, "claims": _dump_claims(record.claims)}
            for bearer, record in location.tokens.items()
        ],
        "mdmInfo": dict(location.mdm_info) if location.mdm_info else None,
        "notificationUrl": location.notification_url,
        "notificationAuthToken": location.notification_auth_token,
        "notificationTypes": list(location.notification_types),
        "assets": [
            {
                "adamId": asset.adam_id,
                "pricingParam": asset.pricing_param,
                "productType": asset.product_type,
                "deviceAssignable": asset.device_assignable,
                "revocable": asset.revocable,
                "supportedPlatforms": list(asset.supported_platforms),
                "total": asset.total,
                "retired": asset.retired,
                "unlimited": asset.unlimited,
                # {"s:<serial>" | "u:<clientUserId>": sequence}, copied (fast, C level) under the lock.
                "assignments": dict(asset.assignments),
            }
            for asset in location.assets.values()
        ],
        "users": [
            {
                "clientUserId": user.client_user_id,
                "email": user.email,
                "managedAppleId": user.managed_apple_id,
                "status": user.status,
                "inviteCode": user.invite_code,
                "idHash": user.id_hash,
                "seq": user.seq,
            }
            for user in location.users
        ],
        "versions": {
            name: {"seq": log.seq, "current": log.current, "ids": dict(log.ids)}
            for name, log in location.versions.items()
        },
    }


def _dump_event(event: Event) -> dict[str, Any]:
    return {
        "eventId": event.event_id,
        "uId": event.uid,
        "eventType": event.event_type,
        "request": json.loads(json.dumps(event.request)),
        "numRequested": event.num_requested,
        "status": event.status,
        "numCompleted": event.num_completed,
        "failures": json.loads(json.dumps(event.failures)),
        "created": event.created,
    }


def write_file(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write JSON atomically: temporary file (0600) in the same directory, fsync, ``os.replace``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------------------------- loading


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed file, checked to be a state file of this format version (PersistError otherwise)."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PersistError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PersistError("not a simulator state file")
    if data.get("version") != FORMAT_VERSION:
        raise PersistError(f"format version {data.get('version')!r}, expected {FORMAT_VERSION}")
    return data


def restore_state(state: SimulatorState, data: dict[str, Any]) -> None:
    """Replace the state with a dumped one; nothing changes if the data is invalid (PersistError)."""
    try:
        catalog = {}
        for item in data["catalog"]:
            entry = CatalogEntry.from_json(item)
            catalog[entry.adam_id] = entry
        locations = {}
        for item in data["locations"]:
            location = _load_location(item)
            locations[location.uid] = location
        events = {}
        for item in data.get("events", []):
            event = _load_event(item)
            events[event.event_id] = event
        default_assets = list(data.get("defaultLocationAssets", []))
        fixture = str(data.get("fixture") or state.fixture)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PersistError(f"invalid state: {exc!r}") from exc
    with state.lock:
        state.catalog.clear()
        state.catalog.update(catalog)
        state.default_assets = default_assets
        state.locations.clear()
        state.locations.update(locations)
        state.token_index.clear()
        for location in locations.values():
            for bearer in location.tokens:
                state.token_index[bearer] = location.uid
        state.events.clear()
        state.events.update(events)
        state.faults.clear()
        state.rate_windows.clear()
        state.sent_notifications.clear()
        state.fixture = fixture


def _load_claims(data: dict[str, Any]) -> TokenClaims:
    return TokenClaims(
        uid=str(data["uid"]),
        org_name=str(data["org"]),
        location_name=str(data["loc"]),
        country=str(data["cc"]),
        account_type=str(data["type"]),
        exp_date=parse_apple_date(data["exp"]),
        nonce=str(data.get("nonce", "")),
    )


def _load_location(data: dict[str, Any]) -> Location:
    location = Location(
        uid=str(data["uId"]),
        org_name=data["orgName"],
        location_name=data["locationName"],
        country=data["country"],
        account_type=data["accountType"],
    )
    if data.get("expiration"):
        location.expiration = parse_apple_date(data["expiration"])
    for token in data["tokens"]:
        if token["state"] not in TOKEN_STATES:
            raise ValueError(f"token state {token['state']!r}")
        location.tokens[str(token["bearer"])] = TokenRecord(
            claims=_load_claims(token["claims"]), state=token["state"]
        )
    mdm_info = data.get("mdmInfo")
    location.mdm_info = {k: str(mdm_info[k]) for k in ("id", "name", "metadata")} if mdm_info else None
    location.notification_url = data.get("notificationUrl")
    location.notification_auth_token = data.get("notificationAuthToken")
    location.notification_types = [str(t) for t in data.get("notificationTypes", [])]
    for item in data["assets"]:
        asset = Asset(
            adam_id=str(item["adamId"]),
            pricing_param=str(item["pricingParam"]),
            product_type=str(item["productType"]),
            device_assignable=bool(item["deviceAssignable"]),
            revocable=bool(item["revocable"]),
            supported_platforms=[str(p) for p in item["supportedPlatforms"]],
            total=int(item["total"]),
            retired=int(item.get("retired", 0)),
            unlimited=bool(item.get("unlimited", False)),
            assignments={str(k): int(v) for k, v in item["assignments"].items()},
        )
        location.assets[asset.key] = asset
    for item in data["users"]:
        location.add_user(
            User(
                client_user_id=str(item["clientUserId"]),
                email=item.get("email"),
                managed_apple_id=item.get("managedAppleId"),
                status=str(item["status"]),
                invite_code=item.get("inviteCode"),
                id_hash=item.get("idHash"),
                seq=int(item.get("seq", 0)),
            )
        )
    for name in DATASETS:
        saved = data["versions"][name]
        log = VersionLog()
        log.seq = int(saved["seq"])
        log.current = str(saved["current"])
        log.ids = {str(k): int(v) for k, v in saved["ids"].items()}
        if log.ids.get(log.current) != log.seq:
            raise ValueError(f"inconsistent {name} version log")
        location.versions[name] = log
    return location


def _load_event(data: dict[str, Any]) -> Event:
    request = data["request"]
    if not isinstance(request, dict):
        raise TypeError("event request must be an object")
    return Event(
        event_id=str(data["eventId"]),
        uid=str(data["uId"]),
        event_type=str(data["eventType"]),
        request=request,
        num_requested=int(data["numRequested"]),
        status=str(data["status"]),
        num_completed=int(data.get("numCompleted", 0)),
        failures=list(data.get("failures", [])),
        created=float(data.get("created", time.time())),
    )


def load_or_quarantine(state: SimulatorState, path: str | os.PathLike[str]) -> bool:
    """Load ``path`` into ``state`` if it exists; True when loaded.

    A corrupt or incompatible file is logged, moved aside to ``<path>.corrupt`` and the state is left as it
    was (the fixture).
    """
    target = Path(path)
    if not target.exists():
        return False
    try:
        data = read_file(target)
        restore_state(state, data)
    except (PersistError, OSError) as exc:
        aside = target.with_name(target.name + ".corrupt")
        logger.warning(
            "simulator state %s unusable (%s); moved to %s, starting from the fixture", target, exc, aside
        )
        with contextlib.suppress(OSError):
            os.replace(target, aside)
        return False
    saved_at = data.get("savedAt")
    logger.info(
        "simulator state loaded from %s (%d locations, saved %s)",
        target,
        len(data["locations"]),
        datetime.fromtimestamp(saved_at).isoformat(timespec="seconds")
        if isinstance(saved_at, int | float)
        else "at an unknown time",
    )
    return True


# ------------------------------------------------------------------------------------------- saving


class Persister:
    """Saves the state to ``path`` at most every ``interval`` seconds when it changed, and on ``stop``."""

    def __init__(self, state: SimulatorState, path: str | os.PathLike[str], interval: float = 5.0) -> None:
        self.state = state
        self.path = Path(path)
        self.interval = max(0.05, float(interval))
        self.saved_generation = state.generation
        self._save_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the periodic saver thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vpp-simulator-persist", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the thread and save a last time (if something changed or the file does not exist yet)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.save(force=not self.path.exists())

    @property
    def dirty(self) -> bool:
        """Whether the state changed since the last save."""
        return self.state.generation != self.saved_generation

    def save(self, *, force: bool = False) -> bool:
        """Write the file if the state changed (or ``force``); True when written."""
        with self._save_lock:
            if not force and not self.dirty:
                return False
            started = time.monotonic()
            data, generation = dump_state(self.state)
            write_file(self.path, data)
            self.saved_generation = generation
            logger.debug("simulator state saved to %s in %.2fs", self.path, time.monotonic() - started)
            return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.save()
            except Exception:  # a full disk must not kill the saver; try again next time
                logger.exception("could not save simulator state to %s", self.path)
