"""A Required, device-licensed assignment at scale (issue 13), on whatever DATABASE_URL says: a device group
of BENCH_ALLOC_DEVICES devices, one app with BENCH_ALLOC_LICENSES device licenses at Apple (small defaults;
100,000 / 60,000 for the issue's case).

- decide: from `assignment_create` until every target has its License row (pending up to the licenses, failed
  "No licenses available" beyond) and every associate request is sent, by the real worker; the associate
  calls must be exactly ⌈licenses / 1,000⌉ (one Apple event each).
- settle: Apple (the simulator, in a process of its own) posts its ASSET_MANAGEMENT notifications over HTTP to
  the console's notification endpoint (a live server); the worker applies them. Measured until every license
  is `assigned` and the run has ended: after the decision, after the first and after the last notification
  the console received. Status polls are put an hour away (POLL_SECONDS), so only the notifications can
  settle the licenses within the bench.

    make bench PYTEST_ARGS="-k allocation_scale -s"
    BENCH_ALLOC_DEVICES=100000 BENCH_ALLOC_LICENSES=60000 make bench PYTEST_ARGS="-k allocation_scale -s"
"""

from __future__ import annotations

import math
import os
import time

import pytest
from django.db import connection
from django.db.models import Max, Min

from apps.models import App
from assignments import runs as license_runs
from assignments import services
from assignments.models import License, LicenseRun
from benchmarks.test_bench_sync_scale import _current_rss_mb, _RssSampler, _simulator_process
from directory.models import Device, Group, GroupMembership
from tests import factories
from tokens.apple import client_for
from tokens.models import NotificationReceipt
from tokens.services import NOTIFICATION_TYPES, notification_url

pytestmark = pytest.mark.django_db(transaction=True)

DEVICES = int(os.environ.get("BENCH_ALLOC_DEVICES", "10000"))
LICENSES = int(os.environ.get("BENCH_ALLOC_LICENSES", "6000"))
ADAM_ID = "955000001"
SECRET = "bench-notification-secret"
TIMEOUT = float(os.environ.get("BENCH_ALLOC_TIMEOUT", "900"))


def _device_group(size: int) -> Group:
    """A device group of `size` new devices, written in bulk (members join in device order)."""
    group = Group.objects.create(name="Bench allocation", group_type=Group.GroupType.DEVICE)
    Device.objects.bulk_create(
        (
            Device(serial_number=f"BENCHA{n:07d}", name=f"iPad {n}", platform="iPadOS", supervised=True)
            for n in range(size)
        ),
        batch_size=5000,
    )
    ids = (
        Device.objects.filter(serial_number__startswith="BENCHA").order_by("id").values_list("pk", flat=True)
    )
    GroupMembership.objects.bulk_create(
        (GroupMembership(group=group, device_id=pk) for pk in ids.iterator(chunk_size=5000)), batch_size=5000
    )
    if connection.vendor == "postgresql":  # as autovacuum would have long done for an existing directory
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE directory_device")
            cursor.execute("ANALYZE directory_groupmembership")
    return group


def _wait(condition, what: str, step: float = 0.1) -> float:
    """Poll `condition` until true; the monotonic time it first held."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)
    return time.monotonic()


def test_bench_allocation_scale_decide_and_settle_by_notification(
    benchmark, settings, live_server, celery_worker, monkeypatch
):
    # A status poll would come an hour later: whatever settles within the bench was settled by notifications.
    monkeypatch.setattr(license_runs, "POLL_SECONDS", 3600)
    settings.PUBLIC_BASE_URL = live_server.url
    with _simulator_process() as simulator:
        settings.APPLE_VPP_BASE_URL = simulator.base_url
        content = simulator.mint_token(org_name="Bench", location_name="Allocation scale")
        (uid,) = [x["uId"] for x in simulator.locations() if x["locationName"] == "Allocation scale"]
        token = factories.VPPTokenFactory(token_content=content, location_uid=uid, notification_secret=SECRET)
        simulator.set_mdm_info(uid, id=str(token.mdm_info_id), name="VPP Console", metadata="bench")
        # The licenses are bought before notifications are set up (else an ASSET_COUNT would add them twice).
        simulator.add_asset(uid, ADAM_ID, totalCount=LICENSES, deviceAssignable=True, productType="App")
        with client_for(token) as client:
            client.update_client_config(
                notification_url=notification_url(token),
                notification_auth_token=SECRET,
                notification_types=NOTIFICATION_TYPES,
            )
        app = factories.AppFactory(
            vpp_token=token, adam_id=ADAM_ID, total_licenses=LICENSES, available_licenses=LICENSES
        )
        started = time.monotonic()
        group = _device_group(DEVICES)
        generated = time.monotonic() - started
        admin = factories.AdministratorFactory()
        licenses = License.objects.filter(app=app)
        state: dict = {}

        def allocate() -> LicenseRun:
            sampler = _RssSampler()
            sampler.start()
            state["resident_before"] = _current_rss_mb()
            state["start"] = time.monotonic()
            assignment = services.assignment_create(
                app=app, group=group, intent="required", license_type="device", actor=admin
            )
            state["created"] = time.monotonic()
            run = LicenseRun.objects.get(assignment=assignment, kind="allocate")
            # Decided: the worker's run recorded every target's license and sent every associate request.
            state["decided"] = _wait(
                lambda: "requested" in (LicenseRun.objects.get(pk=run.pk).summary or {}), "the decision"
            )
            state["settled"] = _wait(
                lambda: licenses.filter(state="assigned").count() >= LICENSES, "the licenses", step=0.25
            )
            state["ended"] = _wait(
                lambda: LicenseRun.objects.get(pk=run.pk).status != "running", "the end of the run", 0.05
            )
            state["resident_peak"] = sampler.stop()
            run.refresh_from_db()
            return run

        run = benchmark.pedantic(
            allocate, rounds=1, iterations=1
        )  # so `make bench` (--benchmark-only) runs it

        calls = licenses.exclude(event_id="").values("event_id").distinct().count()
        receipts = NotificationReceipt.objects.filter(vpp_token=token, notification_type="ASSET_MANAGEMENT")
        received = receipts.aggregate(first=Min("received_at"), last=Max("received_at"))
        notes = receipts.count()
        by_state = {s: licenses.filter(state=s).count() for s in ("assigned", "failed", "pending")}

    expected_calls = math.ceil(LICENSES / 1000)
    assert run.status == "completed", run.error
    assert (run.succeeded, run.failed) == (LICENSES, DEVICES - LICENSES)
    assert by_state == {"assigned": LICENSES, "failed": DEVICES - LICENSES, "pending": 0}
    assert calls == expected_calls
    assert len(run.summary["done_events"]) == expected_calls and run.summary["events"] == []
    assert notes >= math.ceil(LICENSES / 100)  # Apple: at most 100 assignments per notification
    assert App.objects.get(pk=app.pk).used_licenses == LICENSES
    # The wall clock of the first and last notification the console received, on this process's clock.
    wall_to_mono = time.monotonic() - time.time()
    first_note = received["first"].timestamp() + wall_to_mono
    last_note = received["last"].timestamp() + wall_to_mono
    decide = state["decided"] - state["start"]
    print(
        f"\n[allocation-scale] db={connection.vendor} devices={DEVICES} licenses={LICENSES}"
        f" (group generated in {generated:.1f}s)"
        f"\n  decide {decide:.2f}s (assignment_create {state['created'] - state['start']:.2f}s),"
        f" associate calls {calls} (expected {expected_calls})"
        f"\n  settle: all {LICENSES} assigned {state['settled'] - state['decided']:.2f}s after the decision,"
        f" {state['settled'] - first_note:.2f}s after the first / {state['settled'] - last_note:.2f}s after"
        f" the last of {notes} ASSET_MANAGEMENT notifications"
        f" (received over {last_note - first_note:.2f}s); run ended {state['ended'] - state['settled']:.2f}s"
        f" after that, {state['ended'] - state['start']:.2f}s after the start"
        f"\n  resident memory (this process: test, live server, worker):"
        f" before {state['resident_before']:.0f} MB,"
        f" peak {state['resident_peak']:.0f} MB"
    )
