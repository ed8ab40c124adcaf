"""A first SCIM provisioning through HTTP, as Entra ID does it: look each user up by userName, create them,
create the groups, then add members in PATCH batches. Measures the IdP's view (request latency) and checks
the heavy effects are left to workers: one task per membership batch, none per user, no Apple call inside a
request. Scale with BENCH_SCIM_USERS / BENCH_SCIM_GROUPS (the issue's first provisioning: 50000 / 2000)."""

from __future__ import annotations

import os
import statistics
import time

import pytest
import requests
from celery.signals import before_task_publish

from directory.models import DirectoryUser, Group, GroupMembership
from scim import services

pytestmark = pytest.mark.django_db(transaction=True)

USERS = int(os.environ.get("BENCH_SCIM_USERS", "500"))
GROUPS = int(os.environ.get("BENCH_SCIM_GROUPS", "20"))
BATCH = int(os.environ.get("BENCH_SCIM_BATCH", "100"))  # members per PATCH
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_bench_scim_first_provisioning(benchmark, live_server):
    _client, token = services.scim_client_create(name="Bench IdP", actor=None)
    base = live_server.url.replace("://localhost", "://127.0.0.1") + "/scim/v2/"
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    latencies: dict[str, list[float]] = {
        "lookup": [],
        "create user": [],
        "create group": [],
        "add members": [],
    }
    tasks: list[str] = []

    def published(sender=None, **kwargs):
        tasks.append(str(sender))

    def call(kind: str, method: str, path: str, body=None, params=None) -> dict:
        start = time.perf_counter()
        response = session.request(method, base + path, json=body, params=params, timeout=60)
        latencies[kind].append(time.perf_counter() - start)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def provision() -> None:
        ids = []
        for n in range(USERS):
            upn = f"user{n}@bench.example"
            call("lookup", "GET", "Users", params={"filter": f'userName eq "{upn}"'})
            body = {
                "schemas": [USER],
                "userName": upn,
                "displayName": f"User {n}",
                "active": True,
                "externalId": f"oid-{n}",
                "emails": [{"primary": True, "type": "work", "value": upn}],
            }
            ids.append(call("create user", "POST", "Users", body)["id"])
        for g in range(GROUPS):
            group_id = call(
                "create group", "POST", "Groups", {"schemas": [GROUP], "displayName": f"Group {g}"}
            )["id"]
            members = ids[g::GROUPS]  # every user in one group
            for start in range(0, len(members), BATCH):
                value = [{"value": m} for m in members[start : start + BATCH]]
                call(
                    "add members",
                    "PATCH",
                    f"Groups/{group_id}",
                    {"schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": value}]},
                )

    before_task_publish.connect(published, weak=False)
    try:
        benchmark.pedantic(provision, rounds=1, iterations=1)
    finally:
        before_task_publish.disconnect(published)
        session.close()

    assert DirectoryUser.objects.count() == USERS and Group.objects.count() == GROUPS
    assert GroupMembership.objects.count() == USERS
    # Heavy effects are tasks for the workers: one per membership batch, none per user.
    assert len(latencies["add members"]) == len(tasks) and set(tasks) == {"assignments.tasks.members_added"}
    for kind, values in latencies.items():
        values.sort()
        p95 = values[int(len(values) * 0.95) - 1] if len(values) > 1 else values[0]
        print(
            f"{kind}: {len(values)} requests, median {statistics.median(values) * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms, max {values[-1] * 1000:.0f} ms"
        )
        benchmark.extra_info[kind] = {"requests": len(values), "median_ms": statistics.median(values) * 1000}
