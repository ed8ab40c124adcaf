"""Typed values for Apple's App and Book Management API (v2).

Apple payloads become these frozen dataclasses at the edge of the client; the rest of the console never
handles raw dicts. Every ``from_api`` classmethod tolerates unknown fields (ignored) and unknown enum values
(the raw string is kept: Apple adds values such as ``UNLIMITED_ASSET`` or ``visionOS`` over time).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from .errors import AppleError, error_for

__all__ = [
    "UNLIMITED_TOTAL_COUNT",
    "AppMetadata",
    "AppleUser",
    "Asset",
    "AssetRef",
    "Assignment",
    "ClientConfig",
    "EventFailure",
    "EventResponse",
    "EventStatus",
    "Limits",
    "MalformedNotification",
    "MdmInfo",
    "Notification",
    "RequestUser",
    "ServiceConfig",
    "notification_envelope",
    "parse_apple_datetime",
    "parse_notification",
]

# Apple reports unlimited (free) assets with this totalCount when the `unlimited` filter is omitted.
UNLIMITED_TOTAL_COUNT = 2147483647

# Known enum values, for callers' convenience; fields keep whatever string Apple sent.
EVENT_PENDING, EVENT_COMPLETE, EVENT_FAILED = "PENDING", "COMPLETE", "FAILED"
USER_REGISTERED, USER_ASSOCIATED, USER_RETIRED, USER_DELETED = (
    "Registered",
    "Associated",
    "Retired",
    "Deleted",
)
NOTIFICATION_TYPES = (
    "ASSET_MANAGEMENT",
    "USER_MANAGEMENT",
    "USER_ASSOCIATED",
    "ASSET_COUNT",
    "SUBSCRIPTION_MANAGEMENT",
    "SUBSCRIPTION_COUNT",
    "UNLIMITED_ASSET",
    "TEST_NOTIFICATION",
)

_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z")


def parse_apple_datetime(value: Any) -> datetime | None:
    """Parse an Apple timestamp such as ``2030-11-08T22:33:22+0000`` into an aware UTC datetime.

    Accepts ``+0000``, ``+00:00`` and ``Z`` offsets (with or without fractional seconds). Returns None for
    None/empty values; raises ValueError for a non-empty value that is not such a timestamp (a naive value is
    refused rather than guessed).
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date string: {value!r}")
    text = value.strip()
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).astimezone(UTC)
        except ValueError:
            continue
    raise ValueError(f"not an ISO-8601 date with a UTC offset: {value!r}")


def _lenient_datetime(value: Any) -> datetime | None:
    """Like parse_apple_datetime, but a malformed value from Apple becomes None instead of failing a sync."""
    try:
        return parse_apple_datetime(value)
    except ValueError:
        return None


def _lenient_date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    """Apple ids are strings in v2, integers in some payloads; normalise to str, keep None."""
    if value is None:
        return None
    return str(value)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(v) for v in value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Limits:
    """``limits`` of ``GET service/config``; defaults are Apple's published example values."""

    max_assets: int = 25
    max_users: int = 100
    max_notification_length: int = 512
    max_client_user_ids: int = 1000
    max_serial_numbers: int = 1000
    max_revoke_client_user_ids: int = 100
    max_revoke_serial_numbers: int = 100
    max_request_per_second: int = 15
    max_subscriptions: int = 25
    max_subscription_client_user_ids: int = 1000
    max_mdm_name_length: int = 100
    max_mdm_metadata_length: int = 255
    max_mdm_id_length: int = 100

    _API_NAMES = {
        "maxAssets": "max_assets",
        "maxUsers": "max_users",
        "maxNotificationLength": "max_notification_length",
        "maxClientUserIds": "max_client_user_ids",
        "maxSerialNumbers": "max_serial_numbers",
        "maxRevokeClientUserIds": "max_revoke_client_user_ids",
        "maxRevokeSerialNumbers": "max_revoke_serial_numbers",
        "maxRequestPerSecond": "max_request_per_second",
        "maxSubscriptions": "max_subscriptions",
        "maxSubscriptionClientUserIds": "max_subscription_client_user_ids",
        "maxMdmNameLength": "max_mdm_name_length",
        "maxMdmMetadataLength": "max_mdm_metadata_length",
        "maxMdmIdLength": "max_mdm_id_length",
    }

    @classmethod
    def from_api(cls, data: Mapping[str, Any] | None) -> Limits:
        """Build from Apple's ``limits``; missing, non-positive or non-integer values keep the default."""
        values: dict[str, int] = {}
        for api_name, attr in cls._API_NAMES.items():
            number = _int(_dict(data).get(api_name), 0)
            if number > 0:
                values[attr] = number
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """``GET service/config``: request limits, endpoint URLs (camelCase names) and notification types."""

    limits: Limits
    urls: dict[str, str]
    notification_types: tuple[str, ...] = ()
    error_codes: dict[int, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ServiceConfig:
        """Build from Apple's JSON object; unknown fields are ignored, odd values never raise."""
        urls = {str(k): str(v) for k, v in _dict(data.get("urls")).items() if isinstance(v, str)}
        codes: dict[int, str] = {}
        for item in data.get("errorCodes") or ():
            if isinstance(item, dict) and item.get("errorNumber") is not None:
                codes[_int(item["errorNumber"])] = str(item.get("errorMessage") or "")
        return cls(
            limits=Limits.from_api(_dict(data.get("limits"))),
            urls=urls,
            notification_types=_strings(data.get("notificationTypes")),
            error_codes=codes,
        )


@dataclass(frozen=True, slots=True)
class MdmInfo:
    """The MDM that claims a location: ``mdmInfo`` {id, name, metadata}."""

    id: str
    name: str
    metadata: str

    @classmethod
    def from_api(cls, data: Any) -> MdmInfo | None:
        """Build from Apple's JSON object; unknown fields are ignored, odd values never raise."""
        if not isinstance(data, dict):
            return None
        return cls(
            id=str(data.get("id") or ""),
            name=str(data.get("name") or ""),
            metadata=str(data.get("metadata") or ""),
        )

    def to_api(self) -> dict[str, str]:
        """The JSON object Apple expects in requests."""
        return {"id": self.id, "name": self.name, "metadata": self.metadata}


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """``GET/POST client/config``. ``notificationAuthToken`` (a secret Apple echoes back) is deliberately
    dropped.
    """

    uid: str
    location_name: str
    country_code: str
    default_platform: str
    website_url: str
    token_expiration: datetime | None
    mdm_info: MdmInfo | None
    notification_url: str | None
    notification_types: tuple[str, ...]

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ClientConfig:
        """Build from Apple's JSON object; unknown fields are ignored, odd values never raise."""
        return cls(
            uid=str(data.get("uId") or ""),
            location_name=str(data.get("locationName") or ""),
            country_code=str(data.get("countryISO2ACode") or ""),
            default_platform=str(data.get("defaultPlatform") or ""),
            website_url=str(data.get("websiteURL") or ""),
            token_expiration=_lenient_datetime(data.get("tokenExpirationDate")),
            mdm_info=MdmInfo.from_api(data.get("mdmInfo")),
            notification_url=_str(data.get("notificationUrl")) or None,
            notification_types=_strings(data.get("subscribedNotificationTypes")),
        )


@dataclass(frozen=True, slots=True)
class AssetRef:
    """An asset as written in requests: the pair (adamId, pricingParam)."""

    adam_id: str
    pricing_param: str = "STDQ"

    def to_api(self) -> dict[str, str]:
        """The JSON object Apple expects in requests."""
        return {"adamId": self.adam_id, "pricingParam": self.pricing_param}

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> AssetRef:
        """Build from Apple's JSON object; unknown fields are ignored, odd values never raise."""
        return cls(
            adam_id=str(data.get("adamId") or ""), pricing_param=str(data.get("pricingParam") or "STDQ")
        )


@dataclass(frozen=True, slots=True)
class Asset:
    """One ``ResponseAsset`` (or ``UnlimitedResponseAsset``, whose missing counts are 0 and ``unlimited``
    True).
    """

    adam_id: str
    pricing_param: str
    product_type: str
    assigned_count: int
    available_count: int
    retired_count: int
    total_count: int
    device_assignable: bool
    revocable: bool
    supported_platforms: tuple[str, ...]
    unlimited: bool = False

    @property
    def ref(self) -> AssetRef:
        return AssetRef(self.adam_id, self.pricing_param)

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, unlimited: bool = False) -> Asset:
        """Build from Apple's JSON object; unknown fields are ignored, odd values never raise."""
        total = _int(data.get("totalCount"))
        return cls(
            adam_id=str(data.get("adamId") or ""),
            pricing_param=str(data.get("pricingParam") or "STDQ"),
            product_type=str(data.get("productType") or ""),
            assigned_count=_int(data.get("assignedCount")),
            available_count=_int(data.get("availableCount")),
            retired_count=_int(data.get("retiredCount")),
            total_count=total,
            device_assignable=bool(data.get("deviceAssignable", False)),
            revocable=bool(data.get("revocable", False)),
            supported_platforms=_strings(data.get("supportedPlatforms")),
            unlimited=unlimited or total == UNLIMITED_TOTAL_COUNT,
        )


@dataclass(frozen=True, slots=True)
class Assignment:
    """One license in use: an asset assigned to exactly one of a serial number or a clientUserId."""

    adam_id: str
    pricing_param: str
    serial_number: str | None
    client_user_id: str | None
    user_status: str | None = None  # only with includeUserState=true
    id_hash: str | None = None  # only with includeUserState=true

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Assignment:
        """Build from Apple's JSON object; unknown fields are ignored, odd values never raise."""
        return cls(
            adam_id=str(data.get("adamId") or ""),
            pricing_param=str(data.get("pricingParam") or "STDQ"),
            serial_number=_str(data.get("serialNumber")),
            client_user_id=_str(data.get("clientUserId")),
            user_status=_str(data.get("userStatus")),
            id_hash=_str(data.get("idHash")),
        )

    def as_row(self) -> AssignmentRow:
        """The assignment as the plain row a bulk reader yields (`assignment_row`)."""
        return (self.adam_id, self.pricing_param, self.serial_number or "", self.client_user_id or "")


# (adamId, pricingParam, serialNumber, clientUserId), "" for the target that is not set: what a bulk consumer
# of `getAssignments` (the sync's spool of up to a million of them) needs, without an object per record.
type AssignmentRow = tuple[str, str, str, str]


def assignment_row(data: Mapping[str, Any]) -> AssignmentRow:
    """Apple's JSON object as an `AssignmentRow`, normalised as `Assignment.from_api` does."""
    serial, client_user_id = data.get("serialNumber"), data.get("clientUserId")
    return (
        str(data.get("adamId") or ""),
        str(data.get("pricingParam") or "STDQ"),
        "" if serial is None else str(serial),
        "" if client_user_id is None else str(client_user_id),
    )


@dataclass(frozen=True, slots=True)
class AppleUser:
    """One ``ResponseUser``. The same clientUserId may appear several times (retired copies + one active)."""

    client_user_id: str
    email: str | None
    status: str
    invite_code: str | None
    id_hash: str | None
    managed_apple_id: str | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> AppleUser:
        """Build from Apple's JSON object; unknown fields are ignored, odd values never raise."""
        return cls(
            client_user_id=str(data.get("clientUserId") or ""),
            email=_str(data.get("email")),
            status=str(data.get("status") or ""),
            invite_code=_str(data.get("inviteCode")),
            id_hash=_str(data.get("idHash")),
            managed_apple_id=_str(data.get("managedAppleId")),
        )


@dataclass(frozen=True, slots=True)
class RequestUser:
    """A user as written to ``users/create`` and ``users/update`` (retire only uses ``client_user_id``)."""

    client_user_id: str
    email: str | None = None
    managed_apple_id: str | None = None

    def to_api(self) -> dict[str, str]:
        """The JSON object Apple expects in requests."""
        body = {"clientUserId": self.client_user_id}
        if self.email is not None:
            body["email"] = self.email
        if self.managed_apple_id is not None:
            body["managedAppleId"] = self.managed_apple_id
        return body


@dataclass(frozen=True, slots=True)
class EventResponse:
    """The ``eventId`` of one asynchronous write request, with the chunk of the call that request covered."""

    event_id: str
    assets: tuple[AssetRef, ...] = ()
    serial_numbers: tuple[str, ...] = ()
    client_user_ids: tuple[str, ...] = ()
    users: tuple[RequestUser, ...] = ()
    uid: str | None = None
    token_expiration: datetime | None = None
    mdm_info: MdmInfo | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any], **chunk: Any) -> EventResponse:
        """Build from Apple's JSON object; unknown fields are ignored, odd values never raise."""
        return cls(
            event_id=str(data.get("eventId") or ""),
            uid=_str(data.get("uId")),
            token_expiration=_lenient_datetime(data.get("tokenExpirationDate")),
            mdm_info=MdmInfo.from_api(data.get("mdmInfo")),
            **chunk,
        )


@dataclass(frozen=True, slots=True)
class EventFailure:
    """One entry of ``StatusResponse.failures``: an error kind and the targets it hit."""

    number: int | None
    message: str
    assets: tuple[AssetRef, ...] = ()
    client_user_ids: tuple[str, ...] = ()
    serial_numbers: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> EventFailure:
        """Build from Apple's JSON object; unknown fields are ignored, odd values never raise."""
        info = _dict(data.get("errorInfo"))
        number = data.get("errorNumber")
        return cls(
            number=_int(number) if number is not None else None,
            message=str(data.get("errorMessage") or ""),
            assets=tuple(AssetRef.from_api(a) for a in info.get("assets") or () if isinstance(a, dict)),
            client_user_ids=_strings(info.get("clientUserIds")),
            serial_numbers=_strings(info.get("serialNumbers")),
        )

    def exception(self) -> AppleError:
        """The typed ``AppleError`` of this failure (e.g. ``NotEnoughLicenses`` for 9709)."""
        info: dict[str, Any] = {
            "assets": [a.to_api() for a in self.assets],
            "clientUserIds": list(self.client_user_ids),
            "serialNumbers": list(self.serial_numbers),
        }
        return error_for(self.number, self.message, error_info=info)


@dataclass(frozen=True, slots=True)
class EventStatus:
    """``GET status?eventId=``: progress of an asynchronous write."""

    status: str
    event_type: str
    num_requested: int
    num_completed: int
    failures: list[EventFailure]

    @property
    def is_pending(self) -> bool:
        return self.status == EVENT_PENDING

    @property
    def is_complete(self) -> bool:
        return self.status == EVENT_COMPLETE

    @property
    def is_failed(self) -> bool:
        return self.status == EVENT_FAILED

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> EventStatus:
        """Build from Apple's JSON object; unknown fields are ignored, odd values never raise."""
        return cls(
            status=str(data.get("eventStatus") or ""),
            event_type=str(data.get("eventType") or ""),
            num_requested=_int(data.get("numRequested")),
            num_completed=_int(data.get("numCompleted")),
            failures=[EventFailure.from_api(f) for f in data.get("failures") or () if isinstance(f, dict)],
        )


_PLATFORM_BY_FAMILY = {
    "iphone": "iOS",
    "ipad": "iOS",
    "ipod": "iOS",
    "mac": "macOS",
    "tvos": "tvOS",
    "appletv": "tvOS",
    "watch": "watchOS",
    "realitydevice": "visionOS",
    "vision": "visionOS",
}
_ICON_SIZE = 512


def _icon_url(artwork: Any) -> str | None:
    """Both shapes Apple's lookup uses for artwork: a list of {width, height, url} (take the largest) or one
    templated object."""
    if isinstance(artwork, list):
        candidates = [a for a in artwork if isinstance(a, dict) and a.get("url")]
        if not candidates:
            return None
        best = max(candidates, key=lambda a: _int(a.get("width")) * _int(a.get("height")))
        return str(best["url"])
    if isinstance(artwork, dict) and artwork.get("url"):
        url = str(artwork["url"])
        width = min(_int(artwork.get("width"), _ICON_SIZE) or _ICON_SIZE, _ICON_SIZE)
        height = min(_int(artwork.get("height"), _ICON_SIZE) or _ICON_SIZE, _ICON_SIZE)
        return url.replace("{w}", str(width)).replace("{h}", str(height)).replace("{f}", "png")
    return None


def _version(offers: Any) -> str | None:
    if isinstance(offers, list) and offers and isinstance(offers[0], dict):
        version = _dict(offers[0].get("version"))
        if version.get("display"):
            return str(version["display"])
    return None


def _platforms(device_families: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for family in device_families:
        seen[_PLATFORM_BY_FAMILY.get(family.lower(), family)] = None
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class AppMetadata:
    """Store metadata of one app or book from ``contentMetadataLookup`` (``results[adamId]``)."""

    adam_id: str
    name: str
    bundle_id: str | None
    version: str | None
    icon_url: str | None
    store_url: str | None
    platforms: tuple[str, ...]
    is_custom_b2b: bool
    device_licensing: bool
    release_date: date | None
    kind: str | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, adam_id: str, data: Mapping[str, Any]) -> AppMetadata:
        """Build from Apple's JSON object; unknown fields are ignored, odd values never raise."""
        families = _strings(data.get("deviceFamilies"))
        release = data.get("releaseDate")
        if release is None and isinstance(data.get("offers"), list) and data["offers"]:
            release = _dict(data["offers"][0]).get("releaseDate")
        return cls(
            adam_id=str(data.get("id") or adam_id),
            name=str(data.get("name") or ""),
            bundle_id=_str(data.get("bundleId")),
            version=_version(data.get("offers")),
            icon_url=_icon_url(data.get("artwork")),
            store_url=_str(data.get("url")),
            platforms=_platforms(families),
            is_custom_b2b=bool(data.get("isB2BCustomApp", False)),
            device_licensing=bool(data.get("isVppDeviceBasedLicensingEnabled", False)),
            release_date=_lenient_date(release),
            kind=_str(data.get("kind")),
            raw=dict(data),
        )


class MalformedNotification(ValueError):
    """A notification whose envelope is usable (id and type) but whose content breaks Apple's format."""


# Limits of what the console stores: ids as long as their columns, counts as large as Apple's own.
NOTIFICATION_ID_MAX = 100
ADAM_ID_MAX = 32
PRICING_PARAM_MAX = 8
SERIAL_NUMBER_MAX = 64
CLIENT_USER_ID_MAX = 256
EVENT_ID_MAX = 100
COUNT_MAX = UNLIMITED_TOTAL_COUNT


@dataclass(frozen=True, slots=True)
class Notification:
    """An Apple notification, validated: ``payload`` is the inner ``notification`` object as received (kept
    for the record); the typed fields below are what the console acts on."""

    notification_id: str
    notification_type: str
    uid: str
    payload: dict[str, Any]
    adam_id: str = ""
    pricing_param: str = "STDQ"
    count_delta: int | None = None  # ASSET_COUNT
    management_type: str = ""  # ASSET_MANAGEMENT: ASSOCIATE, DISASSOCIATE, REVOKE
    event_id: str | None = None
    result: str | None = None  # SUCCESS / FAILURE of management notifications
    error: AppleError | None = None
    assignments: tuple[Assignment, ...] = ()
    users: tuple[AppleUser, ...] = ()

    @property
    def succeeded(self) -> bool | None:
        """True/False for management notifications (``result``), None for types without a result."""
        return None if self.result is None else self.result == "SUCCESS"


_ID_RE = re.compile(rf"^[\w.:-]{{1,{NOTIFICATION_ID_MAX}}}$")


def _text(payload: Mapping[str, Any], key: str, limit: int, *, required: bool = False) -> str:
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise MalformedNotification(f"{key} is missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedNotification(f"{key} is not a string")
    text = str(value)
    if len(text) > limit:
        raise MalformedNotification(f"{key} is longer than {limit} characters")
    return text


def _bounded_int(value: Any, key: str, limit: int) -> int:
    if isinstance(value, bool):
        raise MalformedNotification(f"{key} is not a whole number")
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,12}", value.strip()):
        value = int(value)
    if not isinstance(value, int):
        raise MalformedNotification(f"{key} is not a whole number")
    if abs(value) > limit:
        raise MalformedNotification(f"{key} is out of range")
    return value


def _objects(payload: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = payload.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MalformedNotification(f"{key} is not a list of objects")
    return value


def _notification_error(payload: Mapping[str, Any]) -> AppleError | None:
    err = payload.get("error")
    if err is None:
        return None
    if not isinstance(err, dict):
        raise MalformedNotification("error is not an object")
    number = err.get("errorNumber")
    number = None if number is None or number == "" else _bounded_int(number, "errorNumber", COUNT_MAX)
    message = err.get("errorMessage")
    if message is not None and not isinstance(message, str):
        raise MalformedNotification("errorMessage is not a string")
    info = err.get("errorInfo")
    if info is not None and not isinstance(info, dict):
        raise MalformedNotification("errorInfo is not an object")
    if info:
        for key in ("clientUserIds", "serialNumbers"):
            ids = info.get(key)
            if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str | int) for i in ids)):
                raise MalformedNotification(f"errorInfo.{key} is not a list of ids")
    return error_for(number, message[:500] if message else None, error_info=info or None)


def _notification_assignment(item: Mapping[str, Any]) -> Assignment:
    return Assignment(
        adam_id=_text(item, "adamId", ADAM_ID_MAX, required=True),
        pricing_param=_text(item, "pricingParam", PRICING_PARAM_MAX) or "STDQ",
        serial_number=_text(item, "serialNumber", SERIAL_NUMBER_MAX) or None,
        client_user_id=_text(item, "clientUserId", CLIENT_USER_ID_MAX) or None,
    )


def _notification_user(item: Mapping[str, Any]) -> AppleUser:
    return AppleUser(
        client_user_id=_text(item, "clientUserId", CLIENT_USER_ID_MAX, required=True),
        email=_text(item, "email", 300) or None,
        status=_text(item, "status", 32),
        invite_code=_text(item, "inviteCode", 300) or None,
        id_hash=_text(item, "idHash", 300) or None,
        managed_apple_id=_text(item, "managedAppleId", 300) or None,
    )


def parse_notification(body: Any) -> Notification:
    """Parse and validate the JSON body Apple POSTs to the notification URL.

    Raises ValueError if the body is not an object or lacks a usable ``notificationId`` (at most 100 word
    characters) / ``notificationType`` (needed to de-duplicate and dispatch), and ``MalformedNotification``
    (a ValueError) when the envelope is usable but the content is not Apple's format: a field of the wrong
    type, a count out of range, an id longer than the console stores. Unknown ``notificationType`` values are
    kept as they are, with their content unchecked.
    """
    notification_id, notification_type = notification_envelope(body)
    payload = body.get("notification")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise MalformedNotification("notification is not an object")
    envelope: dict[str, Any] = {
        "notification_id": notification_id,
        "notification_type": notification_type,
        "uid": _str(body.get("uId")) or "",
        "payload": payload,
    }
    fields: dict[str, Any] = {}
    if notification_type == "ASSET_COUNT":
        fields["adam_id"] = _text(payload, "adamId", ADAM_ID_MAX)
        fields["pricing_param"] = _text(payload, "pricingParam", PRICING_PARAM_MAX) or "STDQ"
        if payload.get("countDelta") is not None:
            fields["count_delta"] = _bounded_int(payload["countDelta"], "countDelta", COUNT_MAX)
    elif notification_type in ("ASSET_MANAGEMENT", "USER_MANAGEMENT", "USER_ASSOCIATED"):
        fields["event_id"] = _text(payload, "eventId", EVENT_ID_MAX) or None
        result = payload.get("result")
        if result is not None and result not in ("SUCCESS", "FAILURE"):
            raise MalformedNotification("result is neither SUCCESS nor FAILURE")
        fields["result"] = result
        fields["error"] = _notification_error(payload)
        fields["management_type"] = _text(payload, "type", 32)
        fields["assignments"] = tuple(_notification_assignment(a) for a in _objects(payload, "assignments"))
        users = _objects(payload, "users") or _objects(payload, "associatedUsers")
        fields["users"] = tuple(_notification_user(u) for u in users)
    return Notification(**envelope, **fields)


def notification_envelope(body: Any) -> tuple[str, str]:
    """(notificationId, notificationType) of a body whose content may be malformed; ValueError when even the
    envelope is unusable."""
    if not isinstance(body, dict):
        raise ValueError("notification body is not a JSON object")
    raw_id, raw_type = body.get("notificationId"), body.get("notificationType")
    # An id is a string (or a number in some payloads), never true/false, a list or an object.
    notification_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else ""
    notification_type = raw_type if isinstance(raw_type, str) else ""
    if not _ID_RE.match(notification_id):
        raise ValueError("notification has no valid notificationId")
    if not notification_type or len(notification_type) > 50:
        raise ValueError("notification has no valid notificationType")
    return notification_id, notification_type
