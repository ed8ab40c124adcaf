"""Helpers to run the simulator inside tests."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .simulator import Simulator

TEST_SETTINGS: dict[str, Any] = {
    "event_delay": 0.05,
    "page_size": 100,
    "allow_insecure_notification_urls": True,
    # Tests fire requests back to back; the faithful limit (15/s) is tested explicitly where it matters.
    "max_request_per_second": 1000,
    "notification_retry_delay": 0.05,
    "notification_timeout": 2.0,
}


@contextmanager
def running_simulator(fixture: str = "demo", **settings: Any) -> Iterator[Simulator]:
    """Start an in-process simulator on a free loopback port with test-friendly settings; stop it after.

    The signing key lives in a fresh temporary directory unless ``key_file`` is given.
    """
    with tempfile.TemporaryDirectory(prefix="vpp-sim-") as tmp:
        merged = {**TEST_SETTINGS, "key_file": str(Path(tmp) / "simulator.key"), **settings}
        simulator = Simulator(fixture=fixture, host="127.0.0.1", port=0, **merged)
        simulator.start()
        try:
            yield simulator
        finally:
            simulator.stop()
