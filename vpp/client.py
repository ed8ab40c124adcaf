"""A typed client for Apple's App and Book Management API (v2), one instance per sToken.

Every HTTP request goes through ``VPPClient._send`` (the single seam). On top of it, ``_call`` adds the
per-token rate limit and the retries; the public methods turn Apple's JSON into the dataclasses of
``vpp.types`` and Apple's errors into the exceptions of ``vpp.errors``.

Only ``service/config`` is built from the base URL; every other endpoint URL comes from that document's
``urls``, which is cached per base URL for the whole process and re-read at most every five minutes.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from itertools import zip_longest
from typing import Any, TypeVar

import requests

from . import ratelimit
from .errors import (
    AppleError,
    BadRequest,
    DataChangedDuringRead,
    RateLimited,
    ServiceUnavailable,
    TransportError,
    error_for,
)
from .types import (
    AppleUser,
    AppMetadata,
    Asset,
    AssetRef,
    Assignment,
    AssignmentRow,
    ClientConfig,
    EventResponse,
    EventStatus,
    MdmInfo,
    RequestUser,
    ServiceConfig,
    assignment_row,
    parse_apple_datetime,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "PagedResult",
    "VPPClient",
    "clear_service_config_cache",
    "default_base_url",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://vpp.itunes.apple.com/mdm/v2/"
SERVICE_CONFIG_TTL = 300.0  # Apple: re-read service/config about every five minutes
PAGE_CONCURRENCY = 5  # Apple: at most five paginated requests in parallel
MAX_RESTARTS = 3
METADATA_BATCH_SIZE = 100
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
USER_AGENT = "vpp-console/0.1"
# The v2 endpoints under the base URL (Apple's documented v2 paths), used when service/config omits one.
DOCUMENTED_PATHS = {
    "clientConfig": "client/config",
    "getAssets": "assets",
    "getAssignments": "assignments",
    "getUsers": "users",
    "createUsers": "users/create",
    "updateUsers": "users/update",
    "retireUsers": "users/retire",
    "associateAssets": "assets/associate",
    "disassociateAssets": "assets/disassociate",
    "revokeAssets": "assets/revoke",
    "eventStatus": "status",
}

T = TypeVar("T")


def default_base_url() -> str:
    """The v2 base URL: Django's ``settings.APPLE_VPP_BASE_URL`` when Django is configured, else the
    ``APPLE_VPP_BASE_URL`` environment variable, else Apple's production URL.
    """
    try:
        # Not a cycle: Django is optional for this client, so it is imported only when asked for a setting.
        from django.conf import settings

        if settings.configured and getattr(settings, "APPLE_VPP_BASE_URL", None):
            return str(settings.APPLE_VPP_BASE_URL)
    except ImportError:  # the client does not need Django
        pass
    return os.environ.get("APPLE_VPP_BASE_URL") or DEFAULT_BASE_URL


# --- service/config cache (process-wide, per base URL) ------------------------------------------------------

_config_cache: dict[str, tuple[float, ServiceConfig]] = {}
_config_locks: dict[str, threading.Lock] = {}
_config_guard = threading.Lock()


def clear_service_config_cache() -> None:
    """Forget every cached ``service/config`` (tests, or after Apple announced new limits)."""
    with _config_guard:
        _config_cache.clear()


def _config_lock(base_url: str) -> threading.Lock:
    with _config_guard:
        return _config_locks.setdefault(base_url, threading.Lock())


# --- helpers ------------------------------------------------------------------------------------------------


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _query(filters: dict[str, Any]) -> dict[str, str]:
    """Python keyword filters (``adam_id=``, ``device_assignable=True``) → Apple's query (``adamId``,
    ``true``).
    """
    params: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        params[_camel(name)] = str(value)
    return params


def _unique[T](items: Iterable[T]) -> list[T]:
    """De-duplicate keeping order (Apple rejects duplicates with 9703/9704/9705/9715)."""
    return list(dict.fromkeys(items))


def _chunks[T](items: Sequence[T], size: int) -> list[tuple[T, ...]]:
    size = max(1, size)
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def _asset_ref(asset: AssetRef | Asset | str) -> AssetRef:
    if isinstance(asset, AssetRef):
        return asset
    if isinstance(asset, Asset):
        return asset.ref
    return AssetRef(str(asset))


class _VersionChanged(Exception):
    pass


# --- paged reads --------------------------------------------------------------------------------------------


class PagedResult[T]:
    """The items of a paged ``GET`` (assets, assignments, users), fetched lazily page by page.

    Iterate once. Page 0 is read first; the remaining pages are fetched up to five at a time and yielded in
    order, so memory stays bounded to a few pages. The end is the first page without ``nextPageIndex``.

    If ``versionId`` changes during the walk (Apple wrote to the data set meanwhile), the walk restarts from
    page 0, at most ``max_restarts`` times, then ``DataChangedDuringRead`` is raised. **A restart yields items
    again**: consumers must treat items as idempotent upserts (and compute deletions only after the iteration
    completed).

    After iterating, ``version_id`` is the ``versionId`` of the first page of the walk that completed: store
    it and pass it as ``since_version_id`` next time. ``restarts`` counts the restarts; ``uid``,
    ``token_expiration`` and ``mdm_info`` come from the first page's envelope (check ``mdm_info`` to notice
    another MDM took the token). Errors of the underlying calls (after retries) propagate out of the
    iteration.
    """

    def __init__(
        self,
        fetch_page: Callable[[int], dict[str, Any]],
        parse_page: Callable[[dict[str, Any]], list[T]],
        *,
        concurrency: int = PAGE_CONCURRENCY,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        self._fetch_page = fetch_page
        self._parse_page = parse_page
        self._concurrency = max(1, concurrency)
        self._max_restarts = max_restarts
        self._started = False
        self.version_id: str | None = None
        self.restarts = 0
        self.total_pages: int | None = None
        self.uid: str | None = None
        self.token_expiration: datetime | None = None
        self.mdm_info: MdmInfo | None = None

    def __iter__(self) -> Iterator[T]:
        if self._started:
            raise RuntimeError("a PagedResult can be iterated only once; call the iter_* method again")
        self._started = True
        return self._iterate()

    def _iterate(self) -> Iterator[T]:
        while True:
            try:
                yield from self._walk()
                return
            except _VersionChanged:
                if self.restarts >= self._max_restarts:
                    raise DataChangedDuringRead(
                        None,
                        f"versionId kept changing while reading pages ({self.restarts} restarts)",
                    ) from None
                self.restarts += 1
                logger.info("versionId changed during a paged read; restarting (%d)", self.restarts)

    def _walk(self) -> Iterator[T]:
        first = self._fetch_page(0)
        version = first.get("versionId")
        self.version_id = None if version is None else str(version)
        self.total_pages = int(first.get("totalPages") or 1)
        self.uid = None if first.get("uId") is None else str(first["uId"])
        try:
            self.token_expiration = parse_apple_datetime(first.get("tokenExpirationDate"))
        except ValueError:
            self.token_expiration = None
        self.mdm_info = MdmInfo.from_api(first.get("mdmInfo"))
        yield from self._parse_page(first)
        if first.get("nextPageIndex") is None:
            return

        total = self.total_pages
        next_to_submit = int(first["nextPageIndex"])
        pending: deque[tuple[int, Future[dict[str, Any]]]] = deque()
        executor = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="vpp-page")
        try:
            while True:
                # Prefetch within the announced totalPages; past it (the set grew), one page at a time.
                while len(pending) < self._concurrency and (next_to_submit < total or not pending):
                    pending.append((next_to_submit, executor.submit(self._fetch_page, next_to_submit)))
                    next_to_submit += 1
                index, future = pending.popleft()
                page = future.result()
                if page.get("versionId") != version:
                    raise _VersionChanged()
                yield from self._parse_page(page)
                following = page.get("nextPageIndex")
                if following is None:
                    return
                if int(following) != index + 1:
                    raise _VersionChanged()
        finally:
            for _, future in pending:
                future.cancel()
            executor.shutdown(wait=True, cancel_futures=True)


# --- the client ---------------------------------------------------------------------------------------------


class VPPClient:
    """Client for one sToken (one location).

    ``stoken`` is the whole content of the ``.vpptoken`` file (the Base64 text), sent as the bearer. Retryable
    failures (``RateLimited``, ``ServiceUnavailable`` incl. ``TransportError``) are retried with exponential
    backoff and full jitter, honouring ``Retry-After``, up to ``max_retries`` retries and
    ``max_retry_seconds`` of total back-off sleep; then the last exception is raised. Token errors and
    ``BadRequest`` are raised at once. ``sleep`` is only used for the retry back-off (tests pass a recorder).
    """

    def __init__(
        self,
        stoken: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 5,
        max_retry_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        token = (stoken or "").strip()
        if not token:
            raise ValueError("an sToken is required")
        self._token = token
        base = base_url or default_base_url()
        self.base_url = base if base.endswith("/") else base + "/"
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.max_retry_seconds = max(0.0, max_retry_seconds)
        self._sleep = sleep
        self._owns_session = session is None
        self._session = session or requests.Session()
        # What this client cost: HTTP requests sent (retries included) and seconds spent waiting for room
        # under the per-token rate limit or in a retry back-off. Pages are fetched from several threads.
        self.requests_sent = 0
        self.rate_limit_wait_seconds = 0.0
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:  # never show the token
        return f"VPPClient(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> VPPClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the single HTTP seam --------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        bearer: bool = True,
        cookies: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Perform one HTTP request and return the JSON object, or raise the matching ``AppleError``.

        The body is checked for ``errorNumber`` whatever the HTTP status (Apple answers an unknown token with
        HTTP 200 + 9622). Connection errors, timeouts and non-JSON success bodies raise ``TransportError``.
        """
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if bearer:
            headers["Authorization"] = f"Bearer {self._token}"
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        try:
            response = self._session.request(
                method, url, params=params, data=data, headers=headers, cookies=cookies, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise TransportError(
                None, f"Timed out after {self.timeout}s calling {method} {_path(url)}"
            ) from exc
        except requests.RequestException as exc:
            raise TransportError(
                None, f"Could not reach Apple ({type(exc).__name__}) for {_path(url)}"
            ) from exc

        status = response.status_code
        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("errorNumber") not in (None, ""):
            try:
                number: int | None = int(payload["errorNumber"])
            except (TypeError, ValueError):
                number = None
            info = payload.get("errorInfo")
            raise error_for(
                number,
                str(payload.get("errorMessage") or response.reason or "Error"),
                http_status=status,
                error_info=info if isinstance(info, dict) else None,
                retry_after=retry_after,
            )
        if status >= 400:
            raise error_for(
                None, response.reason or f"HTTP {status}", http_status=status, retry_after=retry_after
            )
        if not isinstance(payload, dict):
            raise TransportError(
                None, f"Apple answered {_path(url)} with a body that is not a JSON object", status
            )
        return payload

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        bearer: bool = True,
        cookies: dict[str, str] | None = None,
        rate_limited: bool = True,
    ) -> dict[str, Any]:
        """``_send`` under the per-token rate limit, retried on ``RateLimited`` / ``ServiceUnavailable``."""
        slept = 0.0
        attempt = 0
        while True:
            gate: AbstractContextManager[None] = nullcontext()
            if rate_limited:
                gate = ratelimit.throttled(self._token, self._requests_per_second())
            try:
                asked = time.monotonic()
                with gate:
                    self._count(time.monotonic() - asked)
                    return self._send(method, url, params=params, body=body, bearer=bearer, cookies=cookies)
            except (RateLimited, ServiceUnavailable) as exc:
                if attempt >= self.max_retries:
                    raise
                delay = self._backoff(attempt, exc.retry_after)
                if slept + delay > self.max_retry_seconds:
                    raise
                logger.warning(
                    "Apple %s %s failed (%s); retry %d in %.2fs", method, _path(url), exc, attempt + 1, delay
                )
                self._sleep(delay)
                self._count(delay, requests=0)
                slept += delay
                attempt += 1

    def _count(self, waited: float, *, requests: int = 1) -> None:
        with self._stats_lock:
            self.requests_sent += requests
            self.rate_limit_wait_seconds += waited

    @staticmethod
    def _backoff(attempt: int, retry_after: float | None) -> float:
        """Full jitter: uniform in [0, min(cap, base·2^attempt)], but never sooner than ``Retry-After``."""
        jitter = random.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt)))
        return max(jitter, retry_after) if retry_after is not None else jitter

    # -- service config --------------------------------------------------------------------------------------

    def service_config(self) -> ServiceConfig:
        """``GET service/config`` (no token needed), cached per base URL for five minutes, process-wide.

        If a refresh fails with a retryable error while an older copy exists, the older copy is used. Raises
        ``AppleError`` subclasses when nothing usable is cached.
        """
        now = time.monotonic()
        cached = _config_cache.get(self.base_url)
        if cached and now - cached[0] < SERVICE_CONFIG_TTL:
            return cached[1]
        with _config_lock(self.base_url):
            cached = _config_cache.get(self.base_url)
            if cached and time.monotonic() - cached[0] < SERVICE_CONFIG_TTL:
                return cached[1]
            try:
                data = self._call("GET", self.base_url + "service/config", bearer=False, rate_limited=False)
            except (RateLimited, ServiceUnavailable):
                if cached:
                    logger.warning(
                        "service/config refresh failed; using the copy from %.0fs ago", now - cached[0]
                    )
                    return cached[1]
                raise
            config = ServiceConfig.from_api(data)
            with _config_guard:
                _config_cache[self.base_url] = (time.monotonic(), config)
            return config

    def _requests_per_second(self) -> int:
        return self.service_config().limits.max_request_per_second

    def _url(self, name: str) -> str:
        url = self.service_config().urls.get(name)
        if url:
            return url
        # service/config should list every endpoint; where it does not, use the documented v2 path.
        path = DOCUMENTED_PATHS.get(name)
        if path is None:
            raise BadRequest(None, f"service/config has no URL named {name!r}")
        return self.base_url + path

    # -- client config ---------------------------------------------------------------------------------------

    def client_config(self) -> ClientConfig:
        """``GET client/config``: the location behind the token (also the way to validate a new token).

        Raises ``TokenExpired``/``TokenRevoked``/``TokenInvalid`` for an unusable token, other
        ``AppleError``s.
        """
        return ClientConfig.from_api(self._call("GET", self._url("clientConfig")))

    def update_client_config(
        self,
        *,
        mdm_info: MdmInfo | None = None,
        notification_url: str | None = None,
        notification_auth_token: str | None = None,
        notification_types: Iterable[str] | None = None,
    ) -> ClientConfig:
        """``POST client/config`` with only the given fields (claim the token, set or change notifications).

        Apple requires the URL and auth token together (9710) and sends a test notification to the URL (9728
        if unreachable); those errors raise ``BadRequest``. The returned ``ClientConfig`` never holds the auth
        token.
        """
        body: dict[str, Any] = {}
        if mdm_info is not None:
            body["mdmInfo"] = mdm_info.to_api()
        if notification_url is not None:
            body["notificationUrl"] = notification_url
        if notification_auth_token is not None:
            body["notificationAuthToken"] = notification_auth_token
        if notification_types is not None:
            body["notificationTypes"] = list(notification_types)
        return ClientConfig.from_api(self._call("POST", self._url("clientConfig"), body=body))

    # -- paged reads -----------------------------------------------------------------------------------------

    def _paged(
        self, url_name: str, params: dict[str, str], parse: Callable[[dict[str, Any]], list[T]]
    ) -> PagedResult[T]:
        url = self._url(url_name)

        def fetch(index: int) -> dict[str, Any]:
            return self._call("GET", url, params={**params, "pageIndex": str(index)})

        return PagedResult(fetch, parse)

    def iter_assets(self, **filters: Any) -> PagedResult[Asset]:
        """All assets of the location (``GET assets``), as a lazy ``PagedResult``.

        Filters use Python names for Apple's query: ``adam_id``, ``product_type``, ``pricing_param``,
        ``revocable``, ``device_assignable``, ``min_assigned_count`` … ``unlimited``. With ``unlimited=True``
        the ``unlimitedAssets`` are yielded too (``Asset.unlimited`` True). Errors raise during iteration.
        """

        def parse(page: dict[str, Any]) -> list[Asset]:
            items = [Asset.from_api(a) for a in page.get("assets") or () if isinstance(a, dict)]
            items += [
                Asset.from_api(a, unlimited=True)
                for a in page.get("unlimitedAssets") or ()
                if isinstance(a, dict)
            ]
            return items

        return self._paged("getAssets", _query(filters), parse)

    def iter_assignments(
        self, *, since_version_id: str | None = None, **filters: Any
    ) -> PagedResult[Assignment]:
        """Assignments (``GET assignments``), optionally only those changed since ``since_version_id``.

        Filters: ``adam_id``, ``pricing_param``, ``client_user_id``, ``serial_number``,
        ``exclude_inactive_users``, ``include_user_state``. An unknown ``since_version_id`` raises
        ``BadRequest`` (9721) on iteration. A delta contains current records only (no tombstones): treat it as
        upserts.
        """
        params = _query({**filters, "since_version_id": since_version_id})

        def parse(page: dict[str, Any]) -> list[Assignment]:
            return [Assignment.from_api(a) for a in page.get("assignments") or () if isinstance(a, dict)]

        return self._paged("getAssignments", params, parse)

    def iter_assignment_rows(
        self, *, since_version_id: str | None = None, **filters: Any
    ) -> PagedResult[AssignmentRow]:
        """``iter_assignments`` yielding each assignment as a plain ``AssignmentRow`` tuple: same requests,
        paging, restarts and errors, without building an object per record (a sync reads up to a million)."""
        params = _query({**filters, "since_version_id": since_version_id})

        def parse(page: dict[str, Any]) -> list[AssignmentRow]:
            return [assignment_row(a) for a in page.get("assignments") or () if isinstance(a, dict)]

        return self._paged("getAssignments", params, parse)

    def iter_users(self, *, since_version_id: str | None = None, **filters: Any) -> PagedResult[AppleUser]:
        """Users (``GET users``), optionally only those changed since ``since_version_id``.

        Filters: ``active_only``, ``retired_only``, ``client_user_id``. Raises as ``iter_assignments``.
        """
        params = _query({**filters, "since_version_id": since_version_id})

        def parse(page: dict[str, Any]) -> list[AppleUser]:
            return [AppleUser.from_api(u) for u in page.get("users") or () if isinstance(u, dict)]

        return self._paged("getUsers", params, parse)

    # -- writes (asynchronous on Apple's side; each request returns an eventId) ------------------------------

    def _post_chunks(
        self, url_name: str, bodies: list[tuple[dict[str, Any], dict[str, Any]]]
    ) -> list[EventResponse]:
        """POST each (body, chunk) in turn. On failure the exception gets ``events``: the requests already
        made.
        """
        url = self._url(url_name)
        events: list[EventResponse] = []
        for body, chunk in bodies:
            try:
                data = self._call("POST", url, body=body)
            except AppleError as exc:
                exc.events = tuple(events)
                raise
            events.append(EventResponse.from_api(data, **chunk))
        return events

    def _manage_assets(
        self,
        url_name: str,
        assets: Iterable[AssetRef | Asset | str],
        serial_numbers: Iterable[str],
        client_user_ids: Iterable[str],
    ) -> list[EventResponse]:
        refs = _unique(_asset_ref(a) for a in assets)
        serials = _unique(str(s) for s in serial_numbers)
        users = _unique(str(u) for u in client_user_ids)
        if not refs or not (serials or users):
            return []
        limits = self.service_config().limits
        bodies = []
        for asset_chunk in _chunks(refs, limits.max_assets):
            pairs = zip_longest(
                _chunks(serials, limits.max_serial_numbers),
                _chunks(users, limits.max_client_user_ids),
                fillvalue=(),
            )
            for serial_chunk, user_chunk in pairs:
                body: dict[str, Any] = {"assets": [a.to_api() for a in asset_chunk]}
                if serial_chunk:
                    body["serialNumbers"] = list(serial_chunk)
                if user_chunk:
                    body["clientUserIds"] = list(user_chunk)
                chunk = {"assets": asset_chunk, "serial_numbers": serial_chunk, "client_user_ids": user_chunk}
                bodies.append((body, chunk))
        return self._post_chunks(url_name, bodies)

    def associate_assets(
        self,
        assets: Iterable[AssetRef | Asset | str],
        *,
        serial_numbers: Iterable[str] = (),
        client_user_ids: Iterable[str] = (),
    ) -> list[EventResponse]:
        """Assign licenses (``POST assets/associate``): every asset to every serial number and clientUserId.

        Duplicates are dropped; the work is split into requests of at most ``maxAssets`` assets and
        ``maxSerialNumbers`` serials / ``maxClientUserIds`` users. Returns one ``EventResponse`` per request
        (with the chunk it covered); nothing to do → ``[]``. Per-target failures such as ``NotEnoughLicenses``
        (9709) or ``UserNotFound`` (9609) arrive later in ``event_status`` / notifications. A synchronous
        error raises the ``AppleError`` with ``exc.events`` = the requests that had already been accepted.
        """
        return self._manage_assets("associateAssets", assets, serial_numbers, client_user_ids)

    def disassociate_assets(
        self,
        assets: Iterable[AssetRef | Asset | str],
        *,
        serial_numbers: Iterable[str] = (),
        client_user_ids: Iterable[str] = (),
    ) -> list[EventResponse]:
        """Release licenses (``POST assets/disassociate``); chunked and raising like ``associate_assets``."""
        return self._manage_assets("disassociateAssets", assets, serial_numbers, client_user_ids)

    def revoke_assets(
        self, *, serial_numbers: Iterable[str] = (), client_user_ids: Iterable[str] = ()
    ) -> list[EventResponse]:
        """Release all revocable licenses of devices/users (``POST assets/revoke``).

        Chunked by ``maxRevokeSerialNumbers`` / ``maxRevokeClientUserIds``; returns one ``EventResponse`` per
        request; raises like ``associate_assets``.
        """
        serials = _unique(str(s) for s in serial_numbers)
        users = _unique(str(u) for u in client_user_ids)
        if not (serials or users):
            return []
        limits = self.service_config().limits
        bodies = []
        pairs = zip_longest(
            _chunks(serials, limits.max_revoke_serial_numbers),
            _chunks(users, limits.max_revoke_client_user_ids),
            fillvalue=(),
        )
        for serial_chunk, user_chunk in pairs:
            body: dict[str, Any] = {}
            if serial_chunk:
                body["serialNumbers"] = list(serial_chunk)
            if user_chunk:
                body["clientUserIds"] = list(user_chunk)
            bodies.append((body, {"serial_numbers": serial_chunk, "client_user_ids": user_chunk}))
        return self._post_chunks("revokeAssets", bodies)

    def _manage_users(self, url_name: str, users: Iterable[RequestUser]) -> list[EventResponse]:
        by_id: dict[str, RequestUser] = {}
        for user in users:
            by_id.setdefault(user.client_user_id, user)  # Apple rejects duplicates (9715)
        if not by_id:
            return []
        limits = self.service_config().limits
        bodies = []
        for chunk in _chunks(list(by_id.values()), limits.max_users):
            body = {"users": [u.to_api() for u in chunk]}
            bodies.append((body, {"users": chunk, "client_user_ids": tuple(u.client_user_id for u in chunk)}))
        return self._post_chunks(url_name, bodies)

    def create_users(self, users: Iterable[RequestUser]) -> list[EventResponse]:
        """Register users (``POST users/create``), ``maxUsers`` per request; one ``EventResponse`` per
        request.

        An existing active clientUserId fails asynchronously (9716). Raises like ``associate_assets``.
        """
        return self._manage_users("createUsers", users)

    def update_users(self, users: Iterable[RequestUser]) -> list[EventResponse]:
        """Change users' email / managed Apple ID (``POST users/update``); chunked like ``create_users``."""
        return self._manage_users("updateUsers", users)

    def retire_users(self, client_user_ids: Iterable[str]) -> list[EventResponse]:
        """Retire users (``POST users/retire``); chunked like ``create_users``."""
        return self._manage_users("retireUsers", (RequestUser(str(c)) for c in client_user_ids))

    def event_status(self, event_id: str) -> EventStatus:
        """Progress of an asynchronous write (``GET status?eventId=``).

        Poll at most every 30 s while PENDING. An unknown event id raises ``BadRequest`` (9708); per-target
        failures are in ``EventStatus.failures`` (``failure.exception()`` gives e.g. ``NotEnoughLicenses``).
        """
        return EventStatus.from_api(self._call("GET", self._url("eventStatus"), params={"eventId": event_id}))

    # -- store metadata --------------------------------------------------------------------------------------

    def lookup_metadata(
        self, adam_ids: Iterable[str], *, country: str, platform: str
    ) -> dict[str, AppMetadata]:
        """Store metadata for apps/books via ``contentMetadataLookup``, 100 ids per request.

        ``country`` is the storefront (``countryISO2ACode`` of the location), ``platform`` the location's
        ``defaultPlatform`` (``enterprisestore``/``volumestore``). The token is sent as the ``itvt`` cookie so
        custom (B2B) apps resolve. Ids Apple does not return are simply absent from the result. Raises
        ``AppleError`` subclasses like the other calls.
        """
        ids = _unique(str(a) for a in adam_ids)
        if not ids:
            return {}
        url = self._url("contentMetadataLookup")
        found: dict[str, AppMetadata] = {}
        for batch in _chunks(ids, METADATA_BATCH_SIZE):
            params = {
                "version": "2",
                "id": ",".join(batch),
                "p": "mdm-lockup",
                "caller": "MDM",
                "platform": platform,
                "cc": country.lower(),
                "l": "en",
            }
            data = self._call("GET", url, params=params, bearer=False, cookies={"itvt": self._token})
            results = data.get("results")
            if not isinstance(results, dict):
                continue
            for adam_id, item in results.items():
                if isinstance(item, dict):
                    found[str(adam_id)] = AppMetadata.from_api(str(adam_id), item)
        return found


def _path(url: str) -> str:
    """The URL without query string, for messages (queries can carry ids, never the token)."""
    return url.split("?", 1)[0]
