"""Helpers to run the NanoMDM simulator inside tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .simulator import NanoMDMSimulator

TEST_SETTINGS: dict[str, Any] = {
    "api_key": "test-api-key",
    "checkin_delay": 0.0,
    "install_delay": 0.05,
    "webhook_timeout": 2.0,
    "workers": 4,
}


@contextmanager
def running_mdm_simulator(**settings: Any) -> Iterator[NanoMDMSimulator]:
    """An in-process NanoMDM simulator on a free loopback port with test-friendly settings, stopped after."""
    simulator = NanoMDMSimulator(host="127.0.0.1", port=0, **{**TEST_SETTINGS, **settings})
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()
