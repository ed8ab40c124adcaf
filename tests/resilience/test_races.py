"""Races on PostgreSQL (B3, B4, B8, §4 "two syncs of one token never run at once"): real threads, real row
locks, the simulator over HTTP. Each thread has its own database connection, closed when it ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection

from applesync.notifications import notification_process
from applesync.sync import run_sync
from apps.models import App
from assignments import allocation
from assignments.models import License
from assignments.services import execute
from tests import factories
from tests.assignments.conftest import settle
from tests.resilience.test_fault_matrix import _apple_counts, _bodies, _listen, _our_counts
from tests.tokens.test_notifications import SECRET, envelope, post
from tests.tokens.test_sync import connect, sync
from tokens.models import SyncRun
from tokens.sync import request_sync

pytestmark = pytest.mark.django_db(transaction=True)


def _together(work: list[Callable[[], object]], timeout: float = 30) -> list[object]:
    """Run each callable in its own thread, released at the same moment; results in order, errors raised."""
    barrier = threading.Barrier(len(work))
    results: list[object] = [None] * len(work)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = job()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not errors, errors
    return results


def test_b3_parallel_allocations_for_the_last_licenses_never_oversubscribe(
    postgres, apple, location, make_app
):
    _token, uid = location
    app = make_app(total=4)
    holders = factories.DeviceFactory.create_batch(3)
    allocation.allocate(
        app=app, targets=[allocation.Target(device=d) for d in holders], license_type="device"
    )
    apple.wait_idle()
    assert License.objects.filter(app=app, state__in=License.HOLDING).count() == 3
    contenders = factories.DeviceFactory.create_batch(6)

    _together(
        [
            (
                lambda d=d: allocation.allocate(
                    app=app, targets=[allocation.Target(device=d)], license_type="device"
                )
            )
            for d in contenders
        ]
    )
    apple.wait_idle()
    winners = License.objects.filter(app=app, device__in=contenders, state__in=License.HOLDING)
    assert winners.count() == 1  # the last license, once
    assert License.objects.filter(app=app, device__in=contenders, state="failed").count() == 5
    at_apple = [
        a for a in apple.location(uid, include_assignments=True)["assignments"] if a["adamId"] == app.adam_id
    ]
    assert len(at_apple) == 4
    assert _apple_counts(apple, uid)[app.adam_id] == (4, 4, 0)


def test_b8_parallel_sync_now_makes_one_run(postgres, apple):
    token = connect(apple)
    results = _together(
        [lambda: request_sync(token=token, trigger=SyncRun.Trigger.MANUAL) for _ in range(10)]
    )
    runs = {run.pk for run, _created in results}
    assert len(runs) == 1
    assert sum(created for _run, created in results) == 1
    assert SyncRun.objects.filter(vpp_token=token).count() == 1


def test_b4_a_notification_during_a_sync_is_applied_and_the_counts_end_right(apple, client):
    """A purchase is notified while a sync walks Apple's assignments: the notification is applied at once
    (it never waits for the sync), and when the sync ends the counts are Apple's. (PostgreSQL in CI; it holds
    on SQLite as well, so it runs there too.)"""
    token = connect(apple, notification_secret=SECRET)
    assert sync(token, full=True).status == SyncRun.Status.COMPLETED
    adam_id = App.objects.filter(vpp_token=token).values_list("adam_id", flat=True)[0]
    _listen(apple, token)
    # The first request of a process loads URLconf, middleware and the broker connection: not what we time.
    assert post(client, token, envelope(token, "TEST_NOTIFICATION", {})).status_code == 200
    run, _created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, full=True)
    apple.add_fault("slow", delay=1.5, count=1, path="GET /mdm/v2/assignments")
    outcome: dict[str, object] = {}

    def notify_meanwhile():
        while apple.state.faults:  # the sync has read the assets and waits for the assignments
            time.sleep(0.02)
        apple.change_count(token.location_uid, adam_id, 7)
        (body,) = _bodies(apple, "ASSET_COUNT", set())
        started = time.monotonic()
        receipt_id = post(client, token, body).json()["id"]
        outcome["post"] = time.monotonic() - started
        receipt = notification_process(receipt_id=receipt_id)
        outcome["seconds"] = time.monotonic() - started
        outcome["result"] = receipt.result

    _together([lambda: run_sync(run_id=run.pk), notify_meanwhile])
    run.refresh_from_db()
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert outcome["seconds"] < 1.0, outcome  # applied while the sync ran, not after it
    assert "+7" in str(outcome["result"])
    # The sync's snapshot may predate the purchase; it does not write stale counts over the notification's.
    assert _our_counts(token) == _apple_counts(apple, token.location_uid)
    assert not SyncRun.objects.filter(vpp_token=token, status__in=SyncRun.ACTIVE).exists()


def test_d6_a_webhook_burst_during_an_allocation_is_recorded_once_and_applied(
    postgres, apple, allocation, settings, client
):
    """NanoMDM posts a burst of enrolments (some twice) while an allocation waits for Apple: every event is
    answered at once, recorded once and applied; the allocation ends with exactly its licenses."""
    from deployment import services as deployment_services
    from deployment.models import WebhookEvent
    from directory.models import Device
    from tests.deployment.conftest import HMAC_KEY, authenticate, post_event

    settings.NANOMDM_URL = "http://127.0.0.1:9"
    settings.NANOMDM_API_KEY = "test-api-key"
    settings.NANOMDM_WEBHOOK_HMAC_KEY = HMAC_KEY
    _token, uid, app, _assignment, run, devices = allocation
    events = [authenticate(f"UDID-BURST-{n}", f"SN-BURST-{n}") for n in range(30)]
    apple.add_fault("slow", delay=1.0, count=1, path="POST /mdm/v2/assets/associate")
    answers: list[int] = []

    def burst():
        from django.test import Client

        web = Client()
        for event in events + events[:10]:  # NanoMDM may deliver twice
            started = time.monotonic()
            response = post_event(web, event)
            answers.append(response.status_code)
            assert time.monotonic() - started < 1.0  # answered fast, never behind the allocation
        deployment_services.apply_pending_events()

    _together([lambda: execute(run), burst])
    settle(apple, run)
    assert answers.count(200) == 40
    assert WebhookEvent.objects.count() == 30
    assert Device.objects.filter(serial_number__startswith="SN-BURST-", mdm_enrolled=True).count() == 30
    assert License.objects.filter(app=app, state="assigned").count() == len(devices)
    assert _apple_counts(apple, uid)[app.adam_id][1] == len(devices)
