"""Apple's v2 endpoints: validation, paging, versioning and the asynchronous event processing.

Handlers receive the authenticated location and token and return the JSON body without the envelope; the HTTP
layer (``server.py``) adds ``uId``/``tokenExpirationDate``/``mdmInfo``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from .errors import ERROR_MESSAGES, AppleError, error_body
from .notifications import chunks, envelope, post_json
from .state import Asset, Event, Location, SimulatorState, TokenRecord, User, assignment_to_api, make_id_hash

NOTIFICATION_TYPES = [
    "ASSET_MANAGEMENT",
    "USER_MANAGEMENT",
    "USER_ASSOCIATED",
    "ASSET_COUNT",
    "SUBSCRIPTION_MANAGEMENT",
    "SUBSCRIPTION_COUNT",
    "UNLIMITED_ASSET",
    "TEST_NOTIFICATION",
]
SERVICE_NOTIFICATION_TYPES = ["ASSET_MANAGEMENT", "USER_MANAGEMENT", "USER_ASSOCIATED", "ASSET_COUNT"]
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL_NAMES = {
    "clientConfig": "client/config",
    "createUsers": "users/create",
    "updateUsers": "users/update",
    "retireUsers": "users/retire",
    "getUsers": "users",
    "getAssets": "assets",
    "getAssignments": "assignments",
    "associateAssets": "assets/associate",
    "disassociateAssets": "assets/disassociate",
    "revokeAssets": "assets/revoke",
    "eventStatus": "status",
}
# errorCodes of service/config: the synchronous table plus the asynchronous codes.
SERVICE_ERROR_CODES = [9601, 9602, 9603, 9609, 9621, 9625, 9646, 9650, *range(9700, 9730)]


# ------------------------------------------------------------------------------------------ query parsing


def q_bool(query: dict[str, str], name: str) -> bool | None:
    """A boolean query parameter (``true``/``false``/``1``/``0``) or None; anything else is 9602."""
    value = query.get(name)
    if value is None or value == "":
        return None
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise AppleError(9602)


def q_int(query: dict[str, str], name: str) -> int | None:
    """An integer query parameter or None; anything else is 9602."""
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise AppleError(9602) from None


def page_bounds(count: int, page_index: int, page_size: int) -> tuple[int, int, int]:
    """(start, end, totalPages) of a page; 9650 when the index is out of range.

    An empty result still has one (empty) page 0, so "last page index = totalPages - 1" always holds.
    """
    total_pages = max(1, math.ceil(count / page_size))
    if page_index < 0 or page_index >= total_pages:
        raise AppleError(9650)
    start = page_index * page_size
    return start, min(count, start + page_size), total_pages


def page_fields(page_index: int, total_pages: int, size: int, version_id: str) -> dict[str, Any]:
    """Paging fields; ``nextPageIndex`` only when more pages follow."""
    data: dict[str, Any] = {"currentPageIndex": page_index, "size": size, "totalPages": total_pages}
    if page_index + 1 < total_pages:
        data["nextPageIndex"] = page_index + 1
    data["versionId"] = version_id
    return data


def _unique(items: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


class AppleApi:
    """The v2 endpoints over a ``SimulatorState``."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        # Filtered assignment walks are cached per dataset version so paging a million rows is O(page).
        self._assignment_cache: OrderedDict[tuple[Any, ...], list[tuple[Asset, str]]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def limits(self) -> dict[str, int]:
        """Current ``limits``."""
        return self.state.settings.effective_limits()

    # ------------------------------------------------------------------------------------ service/config

    def service_config(self, base: str) -> dict[str, Any]:
        """``ServiceConfigResponse`` with absolute URLs pointing at this simulator."""
        urls = {name: f"{base}/mdm/v2/{path}" for name, path in URL_NAMES.items()}
        urls["invitationEmail"] = (
            f"{base}/WebObjects/MZFinance.woa/wa/associateVPPUserWithITSAccount?inviteCode=%25inviteCode%25&mt=8"
        )
        urls["contentMetadataLookup"] = f"{base}/WebObjects/MZStorePlatform.woa/wa/lookup"
        for name in self.state.settings.omit_service_urls:
            urls.pop(name, None)
        return {
            "errorCodes": [error_body(n) for n in SERVICE_ERROR_CODES if n in ERROR_MESSAGES],
            "limits": self.limits,
            "notificationTypes": list(SERVICE_NOTIFICATION_TYPES),
            "urls": urls,
        }

    # ------------------------------------------------------------------------------------ client/config

    def get_client_config(self, location: Location, token: TokenRecord) -> dict[str, Any]:
        """``GET client/config``."""
        return location.client_config(token)

    def post_client_config(
        self, location: Location, token: TokenRecord, body: dict[str, Any]
    ) -> dict[str, Any]:
        """``POST client/config``: mdmInfo, webhook and subscription; a TEST_NOTIFICATION must get a 2xx."""
        limits = self.limits
        mdm_info = body.get("mdmInfo")
        if "mdmInfo" in body and mdm_info is not None:
            if not isinstance(mdm_info, dict) or not all(
                isinstance(mdm_info.get(k), str) and mdm_info.get(k) for k in ("id", "name", "metadata")
            ):
                raise AppleError(9723)
            if len(mdm_info["id"]) > limits["maxMdmIdLength"]:
                raise AppleError(9724)
            if len(mdm_info["name"]) > limits["maxMdmNameLength"]:
                raise AppleError(9725)
            if len(mdm_info["metadata"]) > limits["maxMdmMetadataLength"]:
                raise AppleError(9713)
        has_url = "notificationUrl" in body
        has_auth = "notificationAuthToken" in body
        if has_url != has_auth:
            raise AppleError(9710)
        url = body.get("notificationUrl")
        auth = body.get("notificationAuthToken")
        if has_url:
            if not isinstance(url, str) or not isinstance(auth, str) or bool(url) != bool(auth):
                raise AppleError(9710)
            if len(url) > limits["maxNotificationLength"] or len(auth) > limits["maxNotificationLength"]:
                raise AppleError(9711)
            if url:
                parts = urlsplit(url)
                schemes = (
                    ("https", "http") if self.state.settings.allow_insecure_notification_urls else ("https",)
                )
                if parts.scheme not in schemes or not parts.netloc:
                    raise AppleError(9712)
        types = body.get("notificationTypes")
        if types is not None and (
            not isinstance(types, list) or any(t not in NOTIFICATION_TYPES for t in types)
        ):
            raise AppleError(9602)
        if url and auth:
            # Apple rejects the whole configuration when the test delivery fails, so this
            # happens before anything is stored, outside the state lock.
            test = envelope(location.uid, "TEST_NOTIFICATION", {})
            status = post_json(url, auth, test, self.state.settings.notification_timeout)
            self.state.sent_notifications.append(
                {"url": url, "body": test, "mode": "sync", "status": status, "attempts": 1}
            )
            if not 200 <= status < 300:
                raise AppleError(9728)
        with self.state.lock:
            if "mdmInfo" in body:
                location.mdm_info = dict(mdm_info) if mdm_info else None
            if has_url:
                location.notification_url = url or None
                location.notification_auth_token = auth or None
            if types is not None:
                location.notification_types = _unique(types)
            self.state.mark_changed()
            return location.client_config(token)

    # ------------------------------------------------------------------------------------ assets

    def get_assets(self, location: Location, token: TokenRecord, query: dict[str, str]) -> dict[str, Any]:
        """``GET assets`` with Apple's filters and page-index paging."""
        page_index = q_int(query, "pageIndex") or 0
        adam_id = query.get("adamId") or None
        product_type = query.get("productType") or None
        pricing_param = query.get("pricingParam") or None
        revocable = q_bool(query, "revocable")
        device_assignable = q_bool(query, "deviceAssignable")
        unlimited = q_bool(query, "unlimited")
        bounds = {
            name: q_int(query, name)
            for name in ("minAssignedCount", "maxAssignedCount", "minAvailableCount", "maxAvailableCount")
        }
        if product_type is not None and product_type not in ("App", "Book"):
            raise AppleError(9602)
        with self.state.lock:
            selected = []
            for asset in location.assets.values():
                if adam_id is not None and asset.adam_id != adam_id:
                    continue
                if product_type is not None and asset.product_type != product_type:
                    continue
                if pricing_param is not None and asset.pricing_param != pricing_param:
                    continue
                if revocable is not None and asset.revocable != revocable:
                    continue
                if device_assignable is not None and asset.device_assignable != device_assignable:
                    continue
                if unlimited is False and asset.unlimited:
                    continue
                assigned, available = asset.assigned, asset.available
                if bounds["minAssignedCount"] is not None and assigned < bounds["minAssignedCount"]:
                    continue
                if bounds["maxAssignedCount"] is not None and assigned > bounds["maxAssignedCount"]:
                    continue
                if bounds["minAvailableCount"] is not None and available < bounds["minAvailableCount"]:
                    continue
                if bounds["maxAvailableCount"] is not None and available > bounds["maxAvailableCount"]:
                    continue
                selected.append(asset)
            start, end, total_pages = page_bounds(len(selected), page_index, self.state.settings.page_size)
            page = selected[start:end]
            data: dict[str, Any] = {"assets": [asset.to_api() for asset in page]}
            if unlimited:
                data["unlimitedAssets"] = [asset.to_api_unlimited() for asset in page if asset.unlimited]
            data.update(page_fields(page_index, total_pages, len(page), location.versions["assets"].current))
            return data

    # ------------------------------------------------------------------------------------ assignments

    def get_assignments(
        self, location: Location, token: TokenRecord, query: dict[str, str]
    ) -> dict[str, Any]:
        """``GET assignments`` with filters, ``sinceVersionId`` deltas and paging."""
        page_index = q_int(query, "pageIndex") or 0
        adam_id = query.get("adamId") or None
        pricing_param = query.get("pricingParam") or None
        client_user_id = query.get("clientUserId") or None
        serial = query.get("serialNumber") or None
        exclude_inactive = bool(q_bool(query, "excludeInactiveUsers"))
        include_state = bool(q_bool(query, "includeUserState"))
        since = query.get("sinceVersionId") or None
        page_size = self.state.settings.page_size
        with self.state.lock:
            versions = location.versions["assignments"]
            since_seq = None
            if since is not None:
                since_seq = versions.seq_of(since)
                if since_seq is None:
                    raise AppleError(9721)
            assets = [
                asset
                for asset in location.assets.values()
                if (adam_id is None or asset.adam_id == adam_id)
                and (pricing_param is None or asset.pricing_param == pricing_param)
            ]
            if client_user_id is None and serial is None and not exclude_inactive and since_seq is None:
                total = sum(asset.assigned for asset in assets)
                start, end, total_pages = page_bounds(total, page_index, page_size)
                rows = list(self._slice_segments(assets, start, end))
            else:
                matching = self._filtered_assignments(
                    location, assets, client_user_id, serial, exclude_inactive, since_seq
                )
                start, end, total_pages = page_bounds(len(matching), page_index, page_size)
                rows = matching[start:end]
            items = []
            for asset, target in rows:
                item = assignment_to_api(asset, target)
                if include_state and target[0] == "u":
                    user = location.active_users.get(target[2:]) or self._latest_user(location, target[2:])
                    if user is not None:
                        item["userStatus"] = user.status
                        if user.id_hash:
                            item["idHash"] = user.id_hash
                items.append(item)
            data: dict[str, Any] = {"assignments": items}
            data.update(page_fields(page_index, total_pages, len(items), versions.current))
            return data

    @staticmethod
    def _slice_segments(assets: list[Asset], start: int, end: int) -> Iterable[tuple[Asset, str]]:
        """Rows ``start:end`` of the concatenated assignment dicts without materialising the whole list."""
        offset = 0
        for asset in assets:
            size = asset.assigned
            if offset + size <= start:
                offset += size
                continue
            if offset >= end:
                break
            lo = max(0, start - offset)
            hi = min(size, end - offset)
            for target in itertools.islice(asset.assignments, lo, hi):
                yield asset, target
            offset += size

    @staticmethod
    def _latest_user(location: Location, client_user_id: str) -> User | None:
        for user in reversed(location.users):
            if user.client_user_id == client_user_id:
                return user
        return None

    def _filtered_assignments(
        self,
        location: Location,
        assets: list[Asset],
        client_user_id: str | None,
        serial: str | None,
        exclude_inactive: bool,
        since_seq: int | None,
    ) -> list[tuple[Asset, str]]:
        key = (
            location.uid,
            location.versions["assignments"].seq,
            location.versions["users"].seq,
            tuple(asset.key for asset in assets) if len(assets) < 50 else len(assets),
            client_user_id,
            serial,
            exclude_inactive,
            since_seq,
        )
        with self._cache_lock:
            cached = self._assignment_cache.get(key)
            if cached is not None:
                self._assignment_cache.move_to_end(key)
                return cached
        if client_user_id is not None or serial is not None:
            # Direct lookups: one dict probe per asset instead of a scan of every assignment.
            wanted = f"u:{client_user_id}" if client_user_id is not None else f"s:{serial}"
            if client_user_id is not None and serial is not None:
                return []
            rows = [(asset, wanted) for asset in assets if wanted in asset.assignments]
        elif since_seq is not None:
            # A delta: compare each assignment's version in place instead of listing every assignment first.
            rows = [
                (asset, target)
                for asset in assets
                for target, seq in asset.assignments.items()
                if seq > since_seq
            ]
        else:
            rows = [(asset, target) for asset in assets for target in asset.assignments]
        if since_seq is not None:
            rows = [(asset, target) for asset, target in rows if asset.assignments[target] > since_seq]
        if exclude_inactive:
            active = location.active_users
            rows = [(asset, target) for asset, target in rows if target[0] == "s" or target[2:] in active]
        with self._cache_lock:
            self._assignment_cache[key] = rows
            while len(self._assignment_cache) > 4:
                self._assignment_cache.popitem(last=False)
        return rows

    # ------------------------------------------------------------------------------------ users

    def get_users(self, location: Location, token: TokenRecord, query: dict[str, str]) -> dict[str, Any]:
        """``GET users`` with ``activeOnly``/``retiredOnly``/``clientUserId``/``sinceVersionId``."""
        page_index = q_int(query, "pageIndex") or 0
        active_only = bool(q_bool(query, "activeOnly"))
        retired_only = bool(q_bool(query, "retiredOnly"))
        client_user_id = query.get("clientUserId") or None
        since = query.get("sinceVersionId") or None
        if active_only and retired_only:
            raise AppleError(9602)
        with self.state.lock:
            versions = location.versions["users"]
            since_seq = None
            if since is not None:
                since_seq = versions.seq_of(since)
                if since_seq is None:
                    raise AppleError(9721)
            users = [
                user
                for user in location.users
                if (client_user_id is None or user.client_user_id == client_user_id)
                and (not active_only or user.active)
                and (not retired_only or user.status == "Retired")
                and (since_seq is None or user.seq > since_seq)
            ]
            start, end, total_pages = page_bounds(len(users), page_index, self.state.settings.page_size)
            page = users[start:end]
            data: dict[str, Any] = {"users": [user.to_api() for user in page]}
            data.update(page_fields(page_index, total_pages, len(page), versions.current))
            return data

    # ------------------------------------------------------------------------------------ writes

    def _targets(self, body: dict[str, Any], *, revoke: bool) -> tuple[list[str], list[str]]:
        users = body.get("clientUserIds") or []
        serials = body.get("serialNumbers") or []
        if not isinstance(users, list) or not isinstance(serials, list):
            raise AppleError(9602)
        if any(not isinstance(v, str) or not v for v in [*users, *serials]):
            raise AppleError(9602)
        if not users and not serials:
            raise AppleError(9719)
        limits = self.limits
        max_users = limits["maxRevokeClientUserIds" if revoke else "maxClientUserIds"]
        max_serials = limits["maxRevokeSerialNumbers" if revoke else "maxSerialNumbers"]
        if len(set(users)) > max_users:
            raise AppleError(9701)
        if len(set(serials)) > max_serials:
            raise AppleError(9702)
        return users, serials

    def manage_assets(
        self, location: Location, token: TokenRecord, body: dict[str, Any], event_type: str
    ) -> dict[str, Any]:
        """``POST assets/associate|disassociate``: validate synchronously, then queue an event."""
        raw_assets = body.get("assets")
        if not raw_assets:
            raise AppleError(9718)
        if not isinstance(raw_assets, list) or any(
            not isinstance(a, dict) or not isinstance(a.get("adamId"), str | int) or not str(a.get("adamId"))
            for a in raw_assets
        ):
            raise AppleError(9602)
        # pricingParam omitted in some of Apple's examples: default STDQ as v1 did.
        keys = [(str(a["adamId"]), str(a.get("pricingParam") or "STDQ")) for a in raw_assets]
        users, serials = self._targets(body, revoke=False)
        if len(set(keys)) > self.limits["maxAssets"]:
            raise AppleError(9700)
        if len(set(keys)) != len(keys):
            raise AppleError(9703)
        if len(set(users)) != len(users):
            raise AppleError(9704)
        if len(set(serials)) != len(serials):
            raise AppleError(9705)
        with self.state.lock:
            for key in keys:
                asset = location.assets.get(key)
                if asset is None:
                    if event_type == "ASSOCIATE" and self.state.settings.unknown_asset_error == "sync":
                        raise AppleError(
                            9602, error_info={"assets": [{"adamId": key[0], "pricingParam": key[1]}]}
                        )
                    continue
                if event_type == "ASSOCIATE" and serials and not asset.device_assignable:
                    raise AppleError(
                        9707, error_info={"assets": [{"adamId": key[0], "pricingParam": key[1]}]}
                    )
                if event_type == "DISASSOCIATE" and not asset.revocable:
                    raise AppleError(
                        9706, error_info={"assets": [{"adamId": key[0], "pricingParam": key[1]}]}
                    )
            request = {"assets": keys, "clientUserIds": users, "serialNumbers": serials}
            event = self._submit(location, event_type, request, len(keys) * (len(users) + len(serials)))
            return {"eventId": event.event_id}

    def revoke_assets(self, location: Location, token: TokenRecord, body: dict[str, Any]) -> dict[str, Any]:
        """``POST assets/revoke``: release every revocable licence of the given users/devices."""
        users, serials = self._targets(body, revoke=True)
        if len(set(users)) != len(users):
            raise AppleError(9704)
        if len(set(serials)) != len(serials):
            raise AppleError(9705)
        with self.state.lock:
            request = {"clientUserIds": users, "serialNumbers": serials}
            event = self._submit(location, "REVOKE", request, len(users) + len(serials))
            return {"eventId": event.event_id}

    def manage_users(
        self, location: Location, token: TokenRecord, body: dict[str, Any], event_type: str
    ) -> dict[str, Any]:
        """``POST users/create|update|retire``."""
        users = body.get("users")
        if not users:
            raise AppleError(9720)
        if not isinstance(users, list) or any(
            not isinstance(u, dict) or not isinstance(u.get("clientUserId"), str) or not u["clientUserId"]
            for u in users
        ):
            raise AppleError(9602)
        if len(users) > self.limits["maxUsers"]:
            raise AppleError(9714)
        ids = [u["clientUserId"] for u in users]
        if len(set(ids)) != len(ids):
            raise AppleError(9715)
        cleaned = []
        for user in users:
            email = user.get("email")
            if email is not None and (not isinstance(email, str) or not EMAIL_RE.match(email)):
                raise AppleError(9717)
            managed = user.get("managedAppleId")
            if managed is not None and not isinstance(managed, str):
                raise AppleError(9602)
            cleaned.append({"clientUserId": user["clientUserId"], "email": email, "managedAppleId": managed})
        with self.state.lock:
            event = self._submit(location, event_type, {"users": cleaned}, len(cleaned))
            return {"eventId": event.event_id}

    def _submit(self, location: Location, event_type: str, request: dict[str, Any], count: int) -> Event:
        event = Event(
            event_id=str(uuid.uuid4()),
            uid=location.uid,
            event_type=event_type,
            request=request,
            num_requested=count,
        )
        self.state.events[event.event_id] = event
        self.state.mark_changed()
        if self.state.schedule_event is not None:
            self.state.schedule_event(event)
        return event

    # ------------------------------------------------------------------------------------ status

    def get_status(self, location: Location, token: TokenRecord, query: dict[str, str]) -> dict[str, Any]:
        """``GET status?eventId=``."""
        event_id = query.get("eventId")
        if not event_id:
            raise AppleError(9602)
        with self.state.lock:
            event = self.state.events.get(event_id)
            if event is None or event.uid != location.uid:
                raise AppleError(9708)
            data: dict[str, Any] = {
                "eventStatus": event.status,
                "eventType": event.event_type,
                "numCompleted": event.num_completed,
                "numRequested": event.num_requested,
            }
            if event.failures:
                data["failures"] = [dict(f) for f in event.failures]
            return data

    # ------------------------------------------------------------------------------------ event processing

    def process_event(self, event: Event) -> None:
        """Carry out a queued event (called by the worker thread), then notify."""
        with self.state.lock:
            self.state.mark_changed()
            location = self.state.locations.get(event.uid)
            if location is None:
                event.status = "FAILED"
                return
            if event.event_type in ("ASSOCIATE", "DISASSOCIATE"):
                self._process_manage(location, event)
            elif event.event_type == "REVOKE":
                self._process_revoke(location, event)
            else:
                self._process_users(location, event)

    def _process_manage(self, location: Location, event: Event) -> None:
        request = event.request
        targets = [f"u:{u}" for u in request["clientUserIds"]] + [f"s:{s}" for s in request["serialNumbers"]]
        idempotent = self.state.settings.idempotent_assignments
        seq: int | None = None
        done: list[dict[str, Any]] = []
        failed: dict[int, list[dict[str, Any]]] = {}
        for adam_id, pricing_param in request["assets"]:
            asset = location.assets.get((adam_id, pricing_param))
            for target in targets:
                item: dict[str, Any] = {"adamId": adam_id, "pricingParam": pricing_param}
                item["clientUserId" if target[0] == "u" else "serialNumber"] = target[2:]
                error: int | None = None
                if event.event_type == "ASSOCIATE":
                    if asset is None:
                        error = 9709
                    elif target[0] == "u" and target[2:] not in location.active_users:
                        error = 9609
                    elif target in asset.assignments:
                        error = None if idempotent else 9616
                    elif asset.available < 1:
                        error = 9709
                    else:
                        if seq is None:
                            seq = location.versions["assignments"].bump()
                        asset.assignments[target] = seq
                elif asset is not None and target in asset.assignments:
                    del asset.assignments[target]
                    if seq is None:
                        seq = location.versions["assignments"].bump()
                elif not idempotent:
                    error = 9619
                if error is None:
                    done.append(item)
                else:
                    failed.setdefault(error, []).append(item)
        if seq is not None:
            location.versions["assets"].bump()
        self._finish(location, event, len(done), failed)
        self._notify_results(location, event, "ASSET_MANAGEMENT", "assignments", done, failed)

    def _process_revoke(self, location: Location, event: Event) -> None:
        request = event.request
        targets = [f"u:{u}" for u in request["clientUserIds"]] + [f"s:{s}" for s in request["serialNumbers"]]
        removed = self._release(location, targets)
        self._finish(location, event, len(targets), {})
        self._notify_results(location, event, "ASSET_MANAGEMENT", "assignments", removed, {})

    def _release(self, location: Location, targets: list[str]) -> list[dict[str, Any]]:
        """Remove every revocable assignment of the targets; returns them as ``Assignment`` objects."""
        removed = []
        for asset in location.assets.values():
            if not asset.revocable:
                continue
            for target in targets:
                if target in asset.assignments:
                    removed.append(assignment_to_api(asset, target))
                    del asset.assignments[target]
        if removed:
            location.versions["assignments"].bump()
            location.versions["assets"].bump()
        return removed

    def _process_users(self, location: Location, event: Event) -> None:
        done_users: list[User] = []
        failed: dict[int, list[dict[str, Any]]] = {}
        seq: int | None = None
        released: list[str] = []
        for item in event.request["users"]:
            client_user_id = item["clientUserId"]
            current = location.active_users.get(client_user_id)
            error: int | None = None
            if event.event_type == "CREATE":
                if current is not None:
                    error = 9716
                else:
                    user = User(
                        client_user_id=client_user_id,
                        email=item["email"],
                        managed_apple_id=item["managedAppleId"],
                        status="Registered",
                        invite_code=secrets.token_hex(16),
                    )
                    if item["managedAppleId"]:
                        user.status = "Associated"
                        user.invite_code = None
                        user.id_hash = make_id_hash(location.uid, item["managedAppleId"])
                    location.add_user(user)
                    current = user
            elif current is None:
                error = 9609
            elif event.event_type == "UPDATE":
                if item["email"] is not None:
                    current.email = item["email"]
                if item["managedAppleId"]:
                    current.managed_apple_id = item["managedAppleId"]
                    if current.status == "Registered":
                        current.status = "Associated"
                        current.id_hash = make_id_hash(location.uid, item["managedAppleId"])
            else:  # RETIRE
                current.status = "Retired"
                current.invite_code = None
                del location.active_users[client_user_id]
                released.append(f"u:{client_user_id}")
            if error is None and current is not None:
                if seq is None:
                    seq = location.versions["users"].bump()
                current.seq = seq
                done_users.append(current)
            else:
                failed.setdefault(error or 9603, []).append(
                    {k: v for k, v in (("clientUserId", client_user_id), ("email", item["email"])) if v}
                )
        if released and self.state.settings.retire_releases_licenses:
            # v1 released the revocable licences of a retired user; assumed for v2.
            self._release(location, released)
        self._finish(location, event, len(done_users), failed)
        self._notify_results(
            location, event, "USER_MANAGEMENT", "users", [u.to_api() for u in done_users], failed
        )

    def _finish(
        self, location: Location, event: Event, completed: int, failed: dict[int, list[dict[str, Any]]]
    ) -> None:
        event.num_completed = completed
        event.failures = []
        for number, items in failed.items():
            info: dict[str, Any] = {}
            assets = _unique(
                {"adamId": i["adamId"], "pricingParam": i["pricingParam"]} for i in items if "adamId" in i
            )
            users = _unique(i["clientUserId"] for i in items if "clientUserId" in i)
            serials = _unique(i["serialNumber"] for i in items if "serialNumber" in i)
            if assets:
                info["assets"] = assets
            if users:
                info["clientUserIds"] = users
            if serials:
                info["serialNumbers"] = serials
            event.failures.append(error_body(number, info))
        event.status = "FAILED" if failed else "COMPLETE"

    def _notify_results(
        self,
        location: Location,
        event: Event,
        notification_type: str,
        key: str,
        done: list[dict[str, Any]],
        failed: dict[int, list[dict[str, Any]]],
    ) -> None:
        """One notification per ≤100 elements and per error kind."""
        base = {"type": event.event_type, "eventId": event.event_id}
        if done or not failed:
            for chunk in chunks(done) or [[]]:
                self.state.notify(location, notification_type, base | {"result": "SUCCESS", key: chunk})
        for number, items in failed.items():
            error = error_body(number)
            for chunk in chunks(items):
                self.state.notify(
                    location, notification_type, base | {"result": "FAILURE", key: chunk, "error": error}
                )


class EventWorker:
    """Processes queued events after ``event_delay`` seconds, so ``PENDING`` can be observed."""

    def __init__(self, api: AppleApi) -> None:
        self.api = api
        self._cond = threading.Condition()
        self._pending: list[tuple[float, int, Event]] = []
        self._counter = itertools.count()
        self._stopped = False
        self._busy = 0
        self.thread = threading.Thread(target=self._run, name="vpp-simulator-events", daemon=True)
        api.state.schedule_event = self.schedule

    def start(self) -> None:
        """Start the worker thread."""
        self.thread.start()

    def stop(self) -> None:
        """Stop the worker thread."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def schedule(self, event: Event) -> None:
        """Queue an event for processing after the configured delay."""
        due = time.monotonic() + float(self.api.state.settings.event_delay)
        with self._cond:
            heapq.heappush(self._pending, (due, next(self._counter), event))
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    now = time.monotonic()
                    if self._pending and self._pending[0][0] <= now:
                        break
                    self._cond.wait(self._pending[0][0] - now if self._pending else None)
                if self._stopped:
                    return
                _due, _n, event = heapq.heappop(self._pending)
                self._busy += 1
            try:
                self.api.process_event(event)
            except Exception:  # an unexpected bug must not kill the worker; the event reports 9603
                logging.getLogger("vpp.simulator").exception("event %s failed", event.event_id)
                with self.api.state.lock:
                    event.status = "FAILED"
                    event.failures = [error_body(9603)]
                    self.api.state.mark_changed()
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no event is pending or running (used by tests)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True
