"""A small timed work queue: device check-ins, installs finishing, enrolments, run on a pool of threads."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

logger = logging.getLogger("mdm.simulator")


class Runner:
    """Runs callables after a delay on ``workers`` threads; ``wait_idle`` waits until nothing is left."""

    def __init__(self, workers: int) -> None:
        self._heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._running = 0
        self._stopped = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mdm-sim")
        self._thread = threading.Thread(target=self._dispatch, name="mdm-sim-dispatch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        self._thread.join(timeout=2)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def schedule(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on a worker thread in ``delay`` seconds."""
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), fn, args))
            self._cond.notify_all()

    def clear(self) -> None:
        """Forget everything scheduled and not yet started."""
        with self._cond:
            self._heap.clear()
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is scheduled or running; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, fn, args = heapq.heappop(self._heap)
                self._running += 1
            try:
                self._pool.submit(self._run, fn, args)
            except RuntimeError:  # pool shut down while stopping
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()
                return

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:
            logger.exception("simulated device task failed")
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()
