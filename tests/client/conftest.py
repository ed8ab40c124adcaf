"""Fixtures for the client tests: a fresh simulator per test, a location of its own, a client that records its
back-off sleeps instead of sleeping (so retry tests take milliseconds)."""

import itertools
import threading

import pytest

from vpp import ratelimit
from vpp.client import VPPClient, clear_service_config_cache
from vpp.simulator.testing import running_simulator

_names = itertools.count()


class SleepRecorder:
    """Stands in for time.sleep in the retry loop: records each delay, returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.delays.append(seconds)

    @property
    def total(self) -> float:
        return sum(self.delays)


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """service/config cache and rate windows are process-wide: start and end every test without them."""
    clear_service_config_cache()
    ratelimit.reset_limiters()
    yield
    clear_service_config_cache()
    ratelimit.reset_limiters()


@pytest.fixture
def sim():
    with running_simulator() as simulator:
        yield simulator


@pytest.fixture
def token(sim):
    return sim.mint_token(org_name="Acme Corp", location_name=f"Client test {next(_names)}")


@pytest.fixture
def uid(sim, token):
    return sim.uid_of(token)


@pytest.fixture
def sleeps():
    return SleepRecorder()


@pytest.fixture
def make_client(sim, sleeps):
    clients = []

    def make(stoken, **kwargs):
        kwargs.setdefault("base_url", sim.base_url)
        kwargs.setdefault("sleep", sleeps)
        kwargs.setdefault("timeout", 5.0)
        client = VPPClient(stoken, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client, token):
    return make_client(token)
