"""How fast the client walks Apple's paged data (simulator over loopback HTTP, page size 1,000)."""

from __future__ import annotations

from vpp.client import VPPClient
from vpp.simulator.testing import running_simulator

ASSIGNMENTS = 100_000


def test_bench_walk_100k_assignments(benchmark):
    with running_simulator(page_size=1000) as simulator:
        token = simulator.generate_location(
            org_name="Bench", location_name="Large", assets=500, assignments=ASSIGNMENTS, users=100
        )
        client = VPPClient(token, base_url=simulator.base_url)

        def walk() -> int:
            return sum(1 for _ in client.iter_assignments())

        count = benchmark.pedantic(walk, rounds=3, iterations=1)
        assert count == ASSIGNMENTS
