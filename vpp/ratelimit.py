"""Process-wide request pacing: at most N requests per second per sToken (Apple's ``maxRequestPerSecond``).

A sliding one-second window of *reserved* send times per token. A caller reserves the earliest slot that keeps
every one-second window at or under the limit, releases the lock, then sleeps until its slot; so threads never
sleep while holding the lock and are served first come, first served. Tokens are keyed by a SHA-256 of the
token so the secret itself is not kept as a dict key.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindowLimiter", "acquire", "limiter_for", "reset_limiters"]

WINDOW_SECONDS = 1.0
# Apple counts requests on arrival; a little slack keeps network jitter from pushing one into the window.
SAFETY_MARGIN = 0.02


class SlidingWindowLimiter:
    """At most ``rate`` send times in any window of ``WINDOW_SECONDS``; thread-safe."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._lock = threading.Lock()
        self._slots: deque[float] = deque()
        self._clock = clock
        self._sleep = sleep

    def reserve(self, rate: int) -> float:
        """Reserve the next send time for a limit of ``rate`` per second; returns the delay to wait (≥ 0)."""
        rate = max(1, int(rate))
        with self._lock:
            now = self._clock()
            while len(self._slots) > rate:  # only the last ``rate`` reservations matter
                self._slots.popleft()
            slot = now
            if len(self._slots) == rate:
                # Slots never decrease, so the oldest kept one is the send ``rate`` requests ago: this send
                # must come at least a window after it.
                slot = max(now, self._slots.popleft() + WINDOW_SECONDS + SAFETY_MARGIN)
            self._slots.append(slot)
            return slot - now

    def acquire(self, rate: int) -> None:
        """Block until a request may be sent under ``rate`` requests per second."""
        delay = self.reserve(rate)
        if delay > 0:
            self._sleep(delay)


_limiters: dict[str, SlidingWindowLimiter] = {}
_limiters_lock = threading.Lock()


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def limiter_for(token: str) -> SlidingWindowLimiter:
    """The process-wide limiter shared by every client using ``token``."""
    key = _key(token)
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = SlidingWindowLimiter()
        return limiter


def acquire(token: str, rate: int) -> None:
    """Block until one more request with ``token`` fits under ``rate`` requests per second."""
    limiter_for(token).acquire(rate)


def reset_limiters() -> None:
    """Forget all windows (for tests)."""
    with _limiters_lock:
        _limiters.clear()
