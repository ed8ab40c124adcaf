"""Process-wide request pacing: at most N requests per second per sToken (Apple's ``maxRequestPerSecond``).

Apple counts a request when it *arrives*, which the client only knows lies between sending it and receiving
the answer. So a request counts as "inside the window" from the moment it is sent until one second after its
answer arrived; a new request goes out only while fewer than N requests are inside the window. This holds
whatever the network or server delays, for sequential and concurrent callers alike (a request still in flight
counts until it finishes). The price is a little throughput: the window is measured from answers, not sends.

Tokens are keyed by a SHA-256 of the token so the secret itself is not kept as a dict key.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

__all__ = ["SlidingWindowLimiter", "limiter_for", "reset_limiters", "throttled"]

WINDOW_SECONDS = 1.0
_IN_FLIGHT_POLL = 0.05  # upper bound on a wait for an in-flight request, in case a notify is missed


class _Mark:
    """One request: in flight until ``done``; then it counts until ``at`` + the window."""

    __slots__ = ("at", "done")

    def __init__(self, at: float) -> None:
        self.at = at
        self.done = False


class SlidingWindowLimiter:
    """At most ``rate`` requests inside any window of ``WINDOW_SECONDS``; thread-safe."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._marks: list[_Mark] = []
        self._clock = clock
        self._sleep = sleep

    def acquire(self, rate: int) -> _Mark:
        """Block until one more request fits under ``rate`` per second; returns its mark for ``release``."""
        rate = max(1, int(rate))
        while True:
            with self._cond:
                now = self._clock()
                self._marks = [m for m in self._marks if not m.done or m.at > now - WINDOW_SECONDS]
                if len(self._marks) < rate:
                    mark = _Mark(now)
                    self._marks.append(mark)
                    return mark
                in_flight = sum(1 for m in self._marks if not m.done)
                if in_flight >= rate:
                    self._cond.wait(_IN_FLIGHT_POLL)
                    continue
                finished = sorted((m.at for m in self._marks if m.done), reverse=True)
                # Enough finished requests must leave the window for this one to be the rate-th inside it.
                delay = finished[rate - in_flight - 1] + WINDOW_SECONDS - now
            self._sleep(max(delay, 0.0))

    def release(self, mark: _Mark) -> None:
        """The answer to ``mark``'s request arrived: from now on it counts until a window from now."""
        with self._cond:
            mark.at = max(mark.at, self._clock())
            mark.done = True
            self._cond.notify_all()

    @contextmanager
    def slot(self, rate: int) -> Iterator[None]:
        """Wait for room under ``rate`` per second, run the request in the ``with`` block, record its end."""
        mark = self.acquire(rate)
        try:
            yield
        finally:
            self.release(mark)


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


def throttled(token: str, rate: int) -> AbstractContextManager[None]:
    """Context manager: wait until one more request with ``token`` fits under ``rate`` per second, run it."""
    return limiter_for(token).slot(rate)


def reset_limiters() -> None:
    """Forget all windows (for tests)."""
    with _limiters_lock:
        _limiters.clear()
