"""Delivery of Apple's webhook notifications: bearer secret, envelope, retries, chunking."""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import Location, SimulatorState

logger = logging.getLogger("vpp.simulator.notifications")

MAX_ELEMENTS = 100  # Apple: at most 100 elements per notification


def chunks(items: list[Any], size: int = MAX_ELEMENTS) -> list[list[Any]]:
    """Split ``items`` into lists of at most ``size`` elements."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def post_json(url: str, auth_token: str, body: dict[str, Any], timeout: float) -> int:
    """POST one notification; returns the HTTP status (0 when the URL could not be reached)."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {auth_token}",
            "User-Agent": "vpp-simulator",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return 0


def envelope(uid: str, notification_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``{notificationId, notificationType, uId, notification}``."""
    return {
        "notificationId": str(uuid.uuid4()),
        "notificationType": notification_type,
        "uId": uid,
        "notification": payload,
    }


class Notifier:
    """A background thread posting queued notifications, up to ``notification_attempts`` tries each."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        # (due, tie-breaker, url, auth, record, attempt); a heap so retries wait without blocking others.
        self._heap: list[tuple[float, int, str, str, dict[str, Any], int]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._in_flight = 0
        self.idle = threading.Event()
        self.idle.set()
        self.thread = threading.Thread(target=self._run, name="vpp-simulator-notifier", daemon=True)

    def start(self) -> None:
        """Start the delivery thread."""
        self.thread.start()

    def stop(self) -> None:
        """Ask the delivery thread to end."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def enqueue(self, location: Location, notification_type: str, payload: dict[str, Any]) -> None:
        """Queue a notification for the location's current webhook (call with the state lock held)."""
        assert location.notification_url and location.notification_auth_token is not None
        body = envelope(location.uid, notification_type, payload)
        mode = self.state.settings.notification_mode
        record: dict[str, Any] = {
            "url": location.notification_url,
            "body": body,
            "mode": mode,
            "status": None,
            "attempts": 0,
        }
        self.state.sent_notifications.append(record)
        if mode == "drop":
            return
        for _ in range(2 if mode == "duplicate" else 1):
            self._push(
                time.monotonic(), location.notification_url, location.notification_auth_token, record, 1
            )

    def _push(self, due: float, url: str, auth: str, record: dict[str, Any], attempt: int) -> None:
        with self._cond:
            self.idle.clear()
            heapq.heappush(self._heap, (due, next(self._counter), url, auth, record, attempt))
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
                if self._stopped:
                    return
                _due, _n, url, auth, record, attempt = heapq.heappop(self._heap)
                self._in_flight += 1
            status = post_json(url, auth, record["body"], self.state.settings.notification_timeout)
            record["status"] = status
            record["attempts"] = attempt
            ok = 200 <= status < 300
            if not ok and attempt < self.state.settings.notification_attempts:
                retry_at = time.monotonic() + self.state.settings.notification_retry_delay
                self._push(retry_at, url, auth, record, attempt + 1)
            elif not ok:
                logger.info(
                    "notification %s dropped after %d attempts", record["body"]["notificationId"], attempt
                )
            with self._cond:
                self._in_flight -= 1
                if not self._heap and not self._in_flight:
                    self.idle.set()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued notification has been delivered or given up (used by tests)."""
        return self.idle.wait(timeout)
