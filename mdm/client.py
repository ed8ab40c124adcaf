"""``NanoMDMClient``: NanoMDM's command API (``PUT /v1/enqueue/{ids}``, ``/v1/push/{ids}``) over HTTP.

Every request goes through ``NanoMDMClient._send`` (the one HTTP seam) and ``_request`` (bounded retries).
Many enrollment ids share one request (NanoMDM takes them comma-separated in the path); the client splits a
long list into several requests so no URL grows past what proxies accept, and merges the answers.

Answers: 200, 207 and 500 with NanoMDM's JSON are results, not errors: each id gets its ``IdStatus``.
401 raises ``MDMAuthError``; connection errors and 5xx without JSON are retried a bounded number of times,
then raise ``MDMUnavailable``; anything else raises ``MDMError``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any
from urllib.parse import quote

import requests

from .commands import Command
from .errors import MDMAuthError, MDMError, MDMUnavailable
from .types import EnqueueResult, IdStatus, PushResult, id_statuses, merged_status

__all__ = ["API_USER", "MAX_IDS_PER_REQUEST", "MAX_PATH_BYTES", "NanoMDMClient"]

logger = logging.getLogger(__name__)

API_USER = "nanomdm"  # NanoMDM's API: HTTP Basic, user "nanomdm", password = its -api key
MAX_IDS_PER_REQUEST = 200
MAX_PATH_BYTES = 6000  # the id part of the path; common proxies refuse request lines past ~8 KB
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
MAX_ERROR_TEXT = 300
USER_AGENT = "vpp-console/0.1"


class _Retryable(Exception):
    """A transient failure worth another attempt."""

    def __init__(self, message: str, status: int | None = None, *, safe_to_retry: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.safe_to_retry = safe_to_retry


def _json_body(response: requests.Response) -> Any:
    content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    # NanoMDM always sets application/json on results; be lenient with proxies that drop it.
    if "json" not in content_type and not response.content.lstrip().startswith(b"{"):
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _snippet(response: requests.Response) -> str:
    text = response.text.strip().replace("\n", " ") if response.content else ""
    return text[:MAX_ERROR_TEXT] or (response.reason or "no body")


def _consistent(http_status: int, statuses: dict[str, IdStatus]) -> dict[str, IdStatus]:
    """A 500 means every id failed: never record success for an id NanoMDM's JSON did not explain."""
    if http_status != 500:
        return statuses
    message = "NanoMDM answered HTTP 500 without an error for this id"
    return {
        i: s if not s.ok else replace(s, command_error=message, push_result=None) for i, s in statuses.items()
    }


class NanoMDMClient:
    """A client for one NanoMDM server (``base_url`` is the API root, e.g. ``https://mdm.example.com``).

    Usable as a context manager; ``close()`` releases the HTTP session when the client made it.
    ``max_retries`` bounds the extra attempts after a transient failure; ``timeout`` is per request.
    ``sleep`` replaces ``time.sleep`` between retries (tests).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        max_retries: int = 3,
        timeout: float = 10,
        session: requests.Session | None = None,
        max_ids_per_request: int = MAX_IDS_PER_REQUEST,
        max_path_bytes: int = MAX_PATH_BYTES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        if max_retries < 0 or max_ids_per_request < 1 or max_path_bytes < 64:
            raise ValueError("max_retries, max_ids_per_request and max_path_bytes must be positive")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.timeout = timeout
        self.max_ids_per_request = max_ids_per_request
        self.max_path_bytes = max_path_bytes
        self._sleep = sleep
        self._own_session = session is None
        self.session = session or requests.Session()
        self._auth = (API_USER, api_key)

    def __repr__(self) -> str:  # never show the key
        return f"NanoMDMClient({self.base_url!r})"

    # ------------------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session:
            self.session.close()

    def __enter__(self) -> NanoMDMClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------------------ public API

    def version(self) -> str:
        """NanoMDM's version (`GET /version`, no key needed): the cheapest proof that the server answers.

        Raises `MDMUnavailable` when it cannot be reached (after the bounded retries), `MDMError` otherwise.
        """
        data, _status = self._request("GET", f"{self.base_url}/version", idempotent=True)
        return str(data.get("version", ""))

    def enqueue(
        self, enrollment_ids: Sequence[str], command: Command, *, no_push: bool = False
    ) -> EnqueueResult:
        """Queue ``command`` for every enrollment id (and push, unless ``no_push``); a result per id.

        The ids are split into as few requests as the URL limits allow; the results are merged and
        ``http_status`` is what NanoMDM would answer for the whole list (200 / 207 / 500). The first request
        uses ``command.command_uuid``, each further one a fresh UUID (NanoMDM's SQL storage refuses a command
        UUID it already holds): read each id's ``IdStatus.command_uuid``.

        Duplicate ids are sent once. Raises ``MDMAuthError`` (401), ``MDMUnavailable`` after the retries
        (``unsent_ids``: the ids without an answer; ``partial``: the merged result of the requests answered
        before, if any) or ``MDMError`` (any other unexpected answer); ValueError for an id that cannot be
        addressed (empty, or containing a comma or a slash).
        """
        ids = self._clean_ids(enrollment_ids)
        statuses: dict[str, IdStatus] = {}
        requests_made = 0
        query = "?nopush=1" if no_push else ""
        for index, batch in enumerate(self._batches(ids)):
            sent = command if index == 0 else replace(command, command_uuid=str(uuid.uuid4()).upper())
            url = f"{self.base_url}/v1/enqueue/{self._path(batch)}{query}"
            try:
                data, status = self._request("PUT", url, body=sent.to_plist(), idempotent=False)
            except MDMUnavailable as exc:
                partial = (
                    self._enqueue_result(command, statuses, no_push, requests_made, order=list(statuses))
                    if requests_made
                    else None
                )
                unsent = tuple(i for i in ids if i not in statuses)
                raise MDMUnavailable(exc.message, exc.status, partial=partial, unsent_ids=unsent) from None
            requests_made += 1
            statuses.update(_consistent(status, id_statuses(data, batch, sent.command_uuid)))
        return self._enqueue_result(command, statuses, no_push, requests_made, order=ids)

    def push(self, enrollment_ids: Sequence[str]) -> PushResult:
        """Send APNs pushes so the devices check in and fetch their queued commands; a result per id.

        Raises like ``enqueue`` (pushing again is harmless, so every transient failure is retried).
        """
        ids = self._clean_ids(enrollment_ids)
        statuses: dict[str, IdStatus] = {}
        for batch in self._batches(ids):
            url = f"{self.base_url}/v1/push/{self._path(batch)}"
            data, status = self._request("POST", url, idempotent=True)
            statuses.update(_consistent(status, id_statuses(data, batch)))
        ordered = {i: statuses[i] for i in ids}
        return PushResult(http_status=merged_status(list(ordered.values())), ids=ordered)

    # ------------------------------------------------------------------------------ helpers

    @staticmethod
    def _clean_ids(enrollment_ids: Sequence[str]) -> list[str]:
        if isinstance(enrollment_ids, str):
            raise ValueError("enrollment_ids must be a sequence of ids, not one string")
        seen: dict[str, None] = {}
        for value in enrollment_ids:
            if not isinstance(value, str) or not value.strip():
                raise ValueError("an enrollment id must be a non-empty string")
            if "," in value or "/" in value:
                raise ValueError(f"enrollment id {value!r} cannot be addressed in NanoMDM's API path")
            seen.setdefault(value, None)
        return list(seen)

    @staticmethod
    def _path(batch: Sequence[str]) -> str:
        return ",".join(quote(i, safe="") for i in batch)

    def _batches(self, ids: Sequence[str]) -> Iterator[list[str]]:
        batch: list[str] = []
        size = 0
        for enrollment_id in ids:
            length = len(quote(enrollment_id, safe="")) + 1
            if batch and (len(batch) >= self.max_ids_per_request or size + length > self.max_path_bytes):
                yield batch
                batch, size = [], 0
            batch.append(enrollment_id)
            size += length
        if batch:
            yield batch

    @staticmethod
    def _enqueue_result(
        command: Command,
        statuses: dict[str, IdStatus],
        no_push: bool,
        requests_made: int,
        *,
        order: Sequence[str],
    ) -> EnqueueResult:
        ordered = {i: statuses[i] for i in order if i in statuses}
        return EnqueueResult(
            command_uuid=command.command_uuid,
            request_type=command.request_type,
            http_status=merged_status(list(ordered.values())),
            ids=ordered,
            no_push=no_push,
            requests=requests_made,
        )

    def _request(
        self, method: str, url: str, *, body: bytes | None = None, idempotent: bool
    ) -> tuple[dict[str, Any], int]:
        """One API call with bounded retries; NanoMDM's JSON result and the HTTP status."""
        attempt = 0
        while True:
            try:
                return self._attempt(method, url, body)
            except _Retryable as exc:
                if attempt >= self.max_retries or not (idempotent or exc.safe_to_retry):
                    raise MDMUnavailable(exc.message, exc.status) from None
                delay = min(BACKOFF_CAP, BACKOFF_BASE * (2**attempt))
                logger.warning(
                    "NanoMDM %s failed (%s); retry %d in %.1fs", method, exc.message, attempt + 1, delay
                )
                attempt += 1
                self._sleep(delay)

    def _attempt(self, method: str, url: str, body: bytes | None) -> tuple[dict[str, Any], int]:
        try:
            response = self._send(method, url, body)
        except requests.ConnectTimeout as exc:
            raise _Retryable(f"connection timed out: {type(exc).__name__}") from None
        except requests.Timeout:
            # The request reached NanoMDM: an enqueue may have been queued, so it is not sent twice.
            raise _Retryable("no answer within the timeout", safe_to_retry=False) from None
        except requests.ConnectionError:
            raise _Retryable("cannot connect") from None
        except requests.RequestException as exc:
            raise MDMError(f"request failed: {type(exc).__name__}") from None
        status = response.status_code
        if status == 401:
            raise MDMAuthError("the API key was refused", status)
        data = _json_body(response)
        if status in (200, 207, 500) and isinstance(data, dict):
            return data, status
        if status >= 500:
            raise _Retryable(_snippet(response), status)
        raise MDMError(_snippet(response), status)

    def _send(self, method: str, url: str, body: bytes | None) -> requests.Response:
        """The single HTTP seam: every request to NanoMDM goes out here."""
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/xml"
        return self.session.request(
            method, url, data=body, headers=headers, auth=self._auth, timeout=self.timeout
        )
