"""In-memory state of the simulated Apple service: locations, tokens, assets, assignments, users, events.

Everything is guarded by one re-entrant lock (``SimulatorState.lock``); the HTTP handlers, the event worker
and the control endpoints all take it, which keeps the model simple and is fast enough for a local simulator.
Assignments are stored per asset as ``{"s:<serial>" | "u:<clientUserId>": modification sequence}`` so that a
million of them stay cheap (one short string and a small int each).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import CatalogEntry
from .errors import AppleError
from .settings import SimulatorSettings
from .tokens import TokenClaims, derive_uid, format_apple_date, load_key, mint_token, verify_token

if TYPE_CHECKING:
    from .notifications import Notifier

UNLIMITED_COUNT = 2147483647
FIXTURES_DIR = Path(__file__).parent / "fixtures"
TOKEN_STATES = ("valid", "expired", "revoked")
DATASETS = ("assets", "assignments", "users")


class ControlError(Exception):
    """A bad request to a ``/_simulator/`` control endpoint (HTTP ``status``)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class VersionLog:
    """Opaque ``versionId``s of one dataset, mapped to a monotonically increasing sequence number."""

    def __init__(self) -> None:
        self.seq = 0
        self.current = str(uuid.uuid1())
        self.ids: dict[str, int] = {self.current: 0}

    def bump(self) -> int:
        """Record a write: new sequence number and new versionId."""
        self.seq += 1
        self.current = str(uuid.uuid1())
        self.ids[self.current] = self.seq
        return self.seq

    def seq_of(self, version_id: str) -> int | None:
        """The sequence number of a versionId issued by this dataset, or None."""
        return self.ids.get(version_id)


@dataclass(slots=True)
class TokenRecord:
    """One sToken of a location with its server-side state."""

    claims: TokenClaims
    state: str = "valid"

    @property
    def effective_state(self) -> str:
        """``expired`` also when the expiry date has passed."""
        if self.state == "valid" and self.claims.expired:
            return "expired"
        return self.state


@dataclass(slots=True)
class Asset:
    """Licences of one product (adamId, pricingParam) at one location, with its assignments."""

    adam_id: str
    pricing_param: str
    product_type: str
    device_assignable: bool
    revocable: bool
    supported_platforms: list[str]
    total: int
    retired: int = 0
    unlimited: bool = False
    assignments: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """Apple's identity of an asset."""
        return (self.adam_id, self.pricing_param)

    @property
    def assigned(self) -> int:
        """Licences currently assigned."""
        return len(self.assignments)

    @property
    def total_count(self) -> int:
        """Owned licences; unlimited assets report 2147483647."""
        return UNLIMITED_COUNT if self.unlimited else self.total

    @property
    def available(self) -> int:
        """Licences assignable now."""
        return self.total_count - self.assigned

    def to_api(self) -> dict[str, Any]:
        """``ResponseAsset``."""
        return {
            "adamId": self.adam_id,
            "pricingParam": self.pricing_param,
            "productType": self.product_type,
            "assignedCount": self.assigned,
            "availableCount": self.available,
            "retiredCount": self.retired,
            "totalCount": self.total_count,
            "deviceAssignable": self.device_assignable,
            "revocable": self.revocable,
            "supportedPlatforms": list(self.supported_platforms),
        }

    def to_api_unlimited(self) -> dict[str, Any]:
        """``UnlimitedResponseAsset``: the same without available/total/retired counts."""
        data = self.to_api()
        for name in ("availableCount", "totalCount", "retiredCount"):
            data.pop(name)
        return data


@dataclass(slots=True)
class User:
    """One user record; retired records stay in the history beside the active one."""

    client_user_id: str
    email: str | None
    managed_apple_id: str | None
    status: str  # Registered | Associated | Retired
    invite_code: str | None = None
    id_hash: str | None = None
    seq: int = 0

    @property
    def active(self) -> bool:
        """Registered or Associated."""
        return self.status in ("Registered", "Associated")

    def to_api(self) -> dict[str, Any]:
        """``ResponseUser`` (absent fields omitted, as Apple does)."""
        data: dict[str, Any] = {"clientUserId": self.client_user_id, "status": self.status}
        if self.email:
            data["email"] = self.email
        if self.invite_code and self.status == "Registered":
            data["inviteCode"] = self.invite_code
        if self.id_hash:
            data["idHash"] = self.id_hash
        return data


@dataclass
class Event:
    """An asynchronous request (associate, users/create, ...) and its outcome."""

    event_id: str
    uid: str
    event_type: str  # ASSOCIATE | DISASSOCIATE | REVOKE | CREATE | UPDATE | RETIRE
    request: dict[str, Any]
    num_requested: int
    status: str = "PENDING"
    num_completed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)


@dataclass
class Fault:
    """An injected failure that fires ``count`` times on matching Apple requests."""

    kind: str
    count: int = 1
    retry_after: int | None = None
    delay: float = 0.0
    path: str | None = None
    uid: str | None = None
    armed: bool = False  # bump_version: set once page 0 of a walk has been served

    def to_json(self) -> dict[str, Any]:
        """JSON view for the control API."""
        return {
            "kind": self.kind,
            "count": self.count,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "path": self.path,
            "uid": self.uid,
        }


FAULT_KINDS = (
    "rate_limit",
    "unavailable",
    "internal_error",
    "service_unavailable_9729",
    "slow",
    "bump_version",
    # The location's tokens are revoked as the matching request arrives (a newer token was downloaded while
    # a run was under way); the request and every later one answer 9625.
    "revoke_token",
)


def make_id_hash(uid: str, apple_id: str) -> str:
    """A stable base64 hash standing in for the Apple Account hash Apple reports as ``idHash``."""
    return base64.b64encode(hashlib.sha1(f"{uid}:{apple_id}".encode()).digest()).decode()  # noqa: S324


class Location:
    """One library (sToken location) and everything Apple keeps for it."""

    def __init__(
        self, *, uid: str, org_name: str, location_name: str, country: str, account_type: str
    ) -> None:
        self.uid = uid
        self.org_name = org_name
        self.location_name = location_name
        self.country = country.upper()
        self.account_type = account_type
        self.tokens: dict[str, TokenRecord] = {}
        self.mdm_info: dict[str, str] | None = None
        self.notification_url: str | None = None
        self.notification_auth_token: str | None = None
        self.notification_types: list[str] = []
        self.assets: dict[tuple[str, str], Asset] = {}
        self.users: list[User] = []
        self.active_users: dict[str, User] = {}
        self.versions: dict[str, VersionLog] = {name: VersionLog() for name in DATASETS}
        self.expiration = datetime(2099, 1, 1, tzinfo=UTC)

    @property
    def default_platform(self) -> str:
        """``volumestore`` for education, ``enterprisestore`` for business."""
        return "volumestore" if self.account_type == "education" else "enterprisestore"

    @property
    def website_url(self) -> str:
        """Apple Business Manager or Apple School Manager."""
        return (
            "https://school.apple.com" if self.account_type == "education" else "https://business.apple.com"
        )

    def add_user(self, user: User) -> None:
        """Append a user record; an active one becomes the active record for its clientUserId."""
        self.users.append(user)
        if user.active:
            self.active_users[user.client_user_id] = user

    def assignment_count(self) -> int:
        """All assignments of the location."""
        return sum(asset.assigned for asset in self.assets.values())

    def client_config(self, token: TokenRecord | None = None) -> dict[str, Any]:
        """``ClientConfigResponse`` (without the envelope fields added by the server)."""
        data: dict[str, Any] = {
            "countryISO2ACode": self.country,
            "defaultPlatform": self.default_platform,
            "locationName": self.location_name,
            "websiteURL": self.website_url,
            "subscribedNotificationTypes": list(self.notification_types),
        }
        if self.notification_url:
            data["notificationUrl"] = self.notification_url
        if self.notification_auth_token:
            data["notificationAuthToken"] = self.notification_auth_token
        return data

    def envelope(self, token: TokenRecord | None) -> dict[str, Any]:
        """``uId``, ``tokenExpirationDate`` and ``mdmInfo`` added to every token-scoped answer."""
        exp = token.claims.exp_date if token else self.expiration
        data: dict[str, Any] = {"uId": self.uid, "tokenExpirationDate": format_apple_date(exp)}
        if self.mdm_info:
            data["mdmInfo"] = dict(self.mdm_info)
        return data

    def summary(self) -> dict[str, Any]:
        """Short description for ``GET /_simulator/locations``."""
        return {
            "uId": self.uid,
            "orgName": self.org_name,
            "locationName": self.location_name,
            "countryISO2ACode": self.country,
            "accountType": self.account_type,
            "defaultPlatform": self.default_platform,
            "assetCount": len(self.assets),
            "assignmentCount": self.assignment_count(),
            "userCount": len(self.users),
            "tokens": [
                {"state": t.effective_state, "expDate": format_apple_date(t.claims.exp_date)}
                for t in self.tokens.values()
            ],
        }

    def snapshot(self, *, include_assignments: bool | None = None) -> dict[str, Any]:
        """Everything Apple knows about the location, for tests to assert on."""
        data = self.summary()
        data["mdmInfo"] = dict(self.mdm_info) if self.mdm_info else None
        data["clientConfig"] = self.client_config()
        data["assets"] = [asset.to_api() | {"unlimited": asset.unlimited} for asset in self.assets.values()]
        data["users"] = [user.to_api() | {"managedAppleId": user.managed_apple_id} for user in self.users]
        data["versionIds"] = {name: log.current for name, log in self.versions.items()}
        if include_assignments is None:
            include_assignments = data["assignmentCount"] <= 20000
        if include_assignments:
            data["assignments"] = [
                assignment_to_api(asset, target)
                for asset in self.assets.values()
                for target in asset.assignments
            ]
        else:
            data["assignmentsOmitted"] = True
        return data


def assignment_to_api(asset: Asset, target: str) -> dict[str, Any]:
    """``Assignment`` for a stored target key (``s:<serial>`` or ``u:<clientUserId>``)."""
    data: dict[str, Any] = {"adamId": asset.adam_id, "pricingParam": asset.pricing_param}
    if target[0] == "s":
        data["serialNumber"] = target[2:]
    else:
        data["clientUserId"] = target[2:]
    return data


def fixture_path(fixture: str) -> Path:
    """A fixture name (``demo``, ``empty``) or a path to a JSON file."""
    candidate = FIXTURES_DIR / f"{fixture}.json"
    if candidate.exists():
        return candidate
    path = Path(fixture)
    if path.exists():
        return path
    raise ControlError(f"unknown fixture {fixture!r}", status=404)


class SimulatorState:
    """The whole simulated service; public methods are the control operations."""

    def __init__(self, settings: SimulatorSettings, fixture: str = "demo") -> None:
        self.lock = threading.RLock()
        self.settings = settings
        self.key = load_key(settings.key_file)
        self.fixture = fixture
        self.notifier: Notifier | None = None
        self.schedule_event: Any = None  # set by the event worker: callable(Event)
        self.catalog: dict[str, CatalogEntry] = {}
        self.default_assets: list[dict[str, Any]] = []
        self.locations: dict[str, Location] = {}
        self.token_index: dict[str, str] = {}
        self.events: dict[str, Event] = {}
        self.faults: list[Fault] = []
        self.sent_notifications: deque[dict[str, Any]] = deque(maxlen=1000)
        self.rate_windows: dict[str, deque[float]] = {}
        # Bumped by every change worth persisting (see ``persistence.Persister``).
        self.generation = 0
        self.load_fixture(fixture)

    def mark_changed(self) -> None:
        """Record that persistent state changed (call with the lock held)."""
        self.generation += 1

    # ---------------------------------------------------------------- loading

    def load_fixture(self, fixture: str) -> None:
        """Replace all state with the content of a fixture."""
        with self.lock:
            self.catalog.clear()
            self.default_assets = []
            self.locations.clear()
            self.token_index.clear()
            self.events.clear()
            self.faults.clear()
            self.rate_windows.clear()
            self.sent_notifications.clear()
            self.fixture = fixture
            self.merge(json.loads(fixture_path(fixture).read_text()))
            self.mark_changed()

    def load_state_file(self, path: str | Path, *, keep_existing: bool = False) -> list[str]:
        """Add the catalogue and locations of a state file (see ``generator.py``); returns the new uIds.

        ``keep_existing`` leaves locations that already exist alone (used after loading a persisted state).
        """
        with open(path) as handle:
            data = json.load(handle)
        with self.lock:
            return self.merge(data, keep_existing=keep_existing)

    def merge(self, data: dict[str, Any], *, keep_existing: bool = False) -> list[str]:
        """Add catalogue entries and locations from fixture-format data."""
        self.mark_changed()
        for entry in data.get("catalog", []):
            item = CatalogEntry.from_json(entry)
            if keep_existing and item.adam_id in self.catalog:
                continue
            self.catalog[item.adam_id] = item
        if "default_location_assets" in data:
            self.default_assets = list(data["default_location_assets"])
        uids = []
        for loc in data.get("locations", []):
            location = self._location_from_json(loc)
            if keep_existing and location.uid in self.locations:
                continue
            self.locations[location.uid] = location
            uids.append(location.uid)
        return uids

    def _location_from_json(self, data: dict[str, Any]) -> Location:
        uid = str(data.get("uId") or derive_uid(data["orgName"], data["locationName"]))
        location = Location(
            uid=uid,
            org_name=data["orgName"],
            location_name=data["locationName"],
            country=data.get("countryISO2ACode", "US"),
            account_type=data.get("accountType", "business"),
        )
        for user in data.get("users", []):
            status = user.get("status", "Registered")
            record = User(
                client_user_id=user["clientUserId"],
                email=user.get("email"),
                managed_apple_id=user.get("managedAppleId"),
                status=status,
                invite_code=user.get("inviteCode")
                or (secrets.token_hex(16) if status == "Registered" else None),
                id_hash=user.get("idHash")
                or (
                    make_id_hash(uid, user.get("managedAppleId") or user["clientUserId"])
                    if status == "Associated"
                    else None
                ),
            )
            location.add_user(record)
        self._add_assets(location, data.get("assets", []))
        client_config = data.get("clientConfig") or {}
        location.mdm_info = client_config.get("mdmInfo")
        location.notification_url = client_config.get("notificationUrl")
        location.notification_auth_token = client_config.get("notificationAuthToken")
        location.notification_types = list(client_config.get("notificationTypes", []))
        return location

    def _add_assets(self, location: Location, assets: list[dict[str, Any]]) -> None:
        for item in assets:
            asset = self.build_asset(item)
            # Intern the prefixes once: a million assignments share the same few strings.
            asset.assignments = dict.fromkeys(
                [f"s:{s}" for s in item.get("serialNumbers", ())]
                + [f"u:{u}" for u in item.get("clientUserIds", ())],
                0,
            )
            location.assets[asset.key] = asset

    def build_asset(self, item: dict[str, Any]) -> Asset:
        """An Asset from fixture/control JSON, with defaults taken from the catalogue entry."""
        adam_id = str(item["adamId"])
        entry = self.catalog.get(adam_id)
        product_type = item.get("productType") or (entry.product_type if entry else "App")
        is_book = product_type == "Book"
        default_assignable = (entry.device_based_licensing if entry else True) and not is_book
        return Asset(
            adam_id=adam_id,
            pricing_param=item.get("pricingParam", "STDQ"),
            product_type=product_type,
            device_assignable=bool(item.get("deviceAssignable", default_assignable)) and not is_book,
            revocable=bool(item.get("revocable", not is_book)) and not is_book,
            supported_platforms=list(
                item.get("supportedPlatforms") or (entry.supported_platforms if entry else ["iOS"])
            ),
            total=int(item.get("totalCount", 0)),
            retired=int(item.get("retiredCount", 0)),
            unlimited=bool(item.get("unlimited", False)),
        )

    # ---------------------------------------------------------------- tokens

    def authenticate(self, bearer: str) -> tuple[Location, TokenRecord]:
        """Resolve a bearer to its location, raising the Apple error for unknown/expired/revoked tokens."""
        with self.lock:
            uid = self.token_index.get(bearer)
            if uid is not None:
                location = self.locations[uid]
                record = location.tokens[bearer]
            else:
                claims = verify_token(bearer, self.key)
                if claims is None:
                    raise AppleError(9622, status=self.settings.unknown_token_http_status)
                location = self.locations.get(claims.uid) or self._create_location(claims)
                record = TokenRecord(claims=claims)
                location.tokens[bearer] = record
                self.token_index[bearer] = location.uid
                self.mark_changed()
            state = record.effective_state
            if state == "expired":
                raise AppleError(9621)
            if state == "revoked":
                raise AppleError(9625)
            return location, record

    def validate_cookie_token(self, bearer: str) -> Location | None:
        """The location of a valid (not expired/revoked) token, for the lookup ``itvt`` cookie."""
        try:
            location, _record = self.authenticate(bearer)
        except AppleError:
            return None
        return location

    def _create_location(self, claims: TokenClaims) -> Location:
        location = Location(
            uid=claims.uid,
            org_name=claims.org_name,
            location_name=claims.location_name,
            country=claims.country,
            account_type=claims.account_type,
        )
        self._add_assets(location, self.default_assets)
        self.locations[location.uid] = location
        self.mark_changed()
        return location

    def mint_token(
        self,
        *,
        org_name: str,
        location_name: str,
        days: int = 365,
        account_type: str = "business",
        country: str = "US",
    ) -> str:
        """Mint a token with this simulator's key and register it (so the location exists at once)."""
        token = mint_token(
            org_name=org_name,
            location_name=location_name,
            days=days,
            account_type=account_type,
            country=country,
            key=self.key,
        )
        claims = verify_token(token, self.key)
        assert claims is not None
        with self.lock:
            location = self.locations.get(claims.uid) or self._create_location(claims)
            location.tokens[token] = TokenRecord(claims=claims)
            self.token_index[token] = location.uid
            self.mark_changed()
        return token

    # ---------------------------------------------------------------- helpers

    def location(self, uid: str) -> Location:
        """The location with this uId or a 404 ControlError."""
        location = self.locations.get(uid)
        if location is None:
            raise ControlError(f"unknown location {uid!r}", status=404)
        return location

    def notify(self, location: Location, notification_type: str, payload: dict[str, Any]) -> None:
        """Queue a notification if the location subscribed to its type."""
        if (
            self.notifier is not None
            and location.notification_url
            and notification_type in location.notification_types
        ):
            self.notifier.enqueue(location, notification_type, payload)

    # ---------------------------------------------------------------- control operations

    def change_count(self, uid: str, adam_id: str, delta: int, pricing_param: str = "STDQ") -> dict[str, Any]:
        """Purchase (delta > 0), refund or transfer out (delta < 0); sends ASSET_COUNT."""
        with self.lock:
            location = self.location(uid)
            asset = location.assets.get((adam_id, pricing_param))
            if asset is None:
                if delta <= 0:
                    raise ControlError(f"location does not own {adam_id}/{pricing_param}", status=404)
                asset = self.build_asset({"adamId": adam_id, "pricingParam": pricing_param})
                location.assets[asset.key] = asset
            if asset.total + delta < asset.assigned:
                raise ControlError("a refund cannot take back assigned licences")
            asset.total += delta
            location.versions["assets"].bump()
            self.mark_changed()
            self.notify(
                location,
                "ASSET_COUNT",
                {"adamId": adam_id, "pricingParam": pricing_param, "countDelta": delta},
            )
            return asset.to_api()

    def add_asset(self, uid: str, item: dict[str, Any]) -> dict[str, Any]:
        """Add (or replace the licence data of) an asset; ``catalog`` in ``item`` adds store metadata too."""
        with self.lock:
            location = self.location(uid)
            if "adamId" not in item:
                raise ControlError("adamId is required")
            if isinstance(item.get("catalog"), dict):
                entry = CatalogEntry.from_json({"adamId": item["adamId"], **item["catalog"]})
                self.catalog[entry.adam_id] = entry
            asset = self.build_asset(item)
            previous = location.assets.get(asset.key)
            if previous is not None:
                asset.assignments = previous.assignments
            location.assets[asset.key] = asset
            location.versions["assets"].bump()
            self.mark_changed()
            if asset.total and not asset.unlimited:
                self.notify(
                    location,
                    "ASSET_COUNT",
                    {
                        "adamId": asset.adam_id,
                        "pricingParam": asset.pricing_param,
                        "countDelta": asset.total - (previous.total if previous else 0),
                    },
                )
            return asset.to_api()

    def accept_invitation(self, uid: str, client_user_id: str, apple_id: str | None = None) -> dict[str, Any]:
        """The user accepted the invitation: Associated + idHash, USER_ASSOCIATED notification."""
        with self.lock:
            location = self.location(uid)
            user = location.active_users.get(client_user_id)
            if user is None:
                raise ControlError(f"no active user {client_user_id!r}", status=404)
            invite_code = user.invite_code
            user.status = "Associated"
            user.id_hash = make_id_hash(
                uid, apple_id or user.managed_apple_id or user.email or client_user_id
            )
            user.seq = location.versions["users"].bump()
            self.mark_changed()
            data = user.to_api()
            if invite_code:
                data["inviteCode"] = invite_code
            self.notify(location, "USER_ASSOCIATED", {"associatedUsers": [data]})
            return user.to_api()

    def find_licenses(
        self, adam_id: str, *, serial_number: str | None = None, client_user_id: str | None = None
    ) -> dict[str, Any]:
        """Read-only: every location's assignments of ``adam_id`` to the serial number and/or the user.

        Lets another simulator (the NanoMDM devices) ask "does Apple hold a license for me?" the way a real
        device's install would find out. User licenses carry the user's status (a user-licensed install also
        needs the user to have joined: ``Associated``). ``bundleId`` comes from the catalogue.
        """
        targets = []
        if serial_number:
            targets.append(f"s:{serial_number}")
        if client_user_id:
            targets.append(f"u:{client_user_id}")
        with self.lock:
            licenses = []
            for location in self.locations.values():
                for asset in location.assets.values():
                    if asset.adam_id != adam_id:
                        continue
                    for target in targets:
                        if target in asset.assignments:
                            item = assignment_to_api(asset, target) | {"uId": location.uid}
                            if target[0] == "u":
                                user = location.active_users.get(target[2:])
                                item["userStatus"] = user.status if user else None
                            licenses.append(item)
            entry = self.catalog.get(adam_id)
            return {
                "adamId": adam_id,
                "bundleId": entry.bundle_id if entry else None,
                "name": entry.name if entry else None,
                "version": entry.version if entry else None,
                "licenses": licenses,
            }

    def set_token_state(self, uid: str, state: str) -> dict[str, Any]:
        """Expire, revoke or re-validate every token of a location."""
        if state not in TOKEN_STATES:
            raise ControlError(f"state must be one of {TOKEN_STATES}")
        with self.lock:
            location = self.location(uid)
            for record in location.tokens.values():
                record.state = state
            self.mark_changed()
            return location.summary()

    def set_mdm_info(self, uid: str, mdm_info: dict[str, str] | None) -> dict[str, Any]:
        """Another MDM claims the location (or clear it with None)."""
        with self.lock:
            location = self.location(uid)
            if mdm_info is not None and not all(k in mdm_info for k in ("id", "name", "metadata")):
                raise ControlError("mdmInfo needs id, name and metadata")
            location.mdm_info = (
                {k: str(mdm_info[k]) for k in ("id", "name", "metadata")} if mdm_info else None
            )
            self.mark_changed()
            return location.client_config() | location.envelope(None)

    def set_country(self, uid: str, country: str) -> dict[str, Any]:
        """Move the location to another storefront."""
        if len(country) != 2 or not country.isalpha():
            raise ControlError("country must be an ISO 3166-1 alpha-2 code")
        with self.lock:
            location = self.location(uid)
            location.country = country.upper()
            self.mark_changed()
            return location.summary()

    def set_app_version(self, adam_id: str, version: str) -> dict[str, Any]:
        """Publish a new version of a catalogue product."""
        with self.lock:
            entry = self.catalog.get(adam_id)
            if entry is None:
                raise ControlError(f"unknown catalogue item {adam_id!r}", status=404)
            entry.version = version
            entry.release_date = datetime.now(UTC).strftime("%Y-%m-%d")
            self.mark_changed()
            return entry.to_json()

    def add_fault(self, data: dict[str, Any]) -> dict[str, Any]:
        """Inject a fault (see ``FAULT_KINDS``)."""
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise ControlError(f"kind must be one of {FAULT_KINDS}")
        fault = Fault(
            kind=kind,
            count=int(data.get("count", 1)),
            retry_after=int(data["retry_after"]) if data.get("retry_after") is not None else None,
            delay=float(data.get("delay", 0.0)),
            path=data.get("path"),
            uid=data.get("uid"),
        )
        with self.lock:
            self.faults.append(fault)
        return fault.to_json()

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self.lock:
            self.faults.clear()

    def list_faults(self) -> list[dict[str, Any]]:
        """Faults that have not fired all their times yet."""
        with self.lock:
            return [fault.to_json() for fault in self.faults]

    def set_notification_mode(self, mode: str) -> None:
        """normal, drop (never deliver) or duplicate (deliver each notification twice)."""
        self.settings.update({"notification_mode": mode})
