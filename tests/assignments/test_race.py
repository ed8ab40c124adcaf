"""B3: concurrent allocations never ask Apple for more licenses than exist (PostgreSQL row locks)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from assignments import allocation
from assignments.models import License
from tests import factories


@pytest.mark.django_db(transaction=True)
def test_b3_parallel_allocations_never_oversubscribe(postgres, apple, location, make_app):
    _token, uid = location
    app = make_app(total=10)
    batches = [factories.DeviceFactory.create_batch(3) for _ in range(8)]
    barrier = threading.Barrier(len(batches))
    errors: list[BaseException] = []

    def allocate(devices):
        try:
            barrier.wait(timeout=10)
            targets = [allocation.Target(device=d) for d in devices]
            allocation.allocate(app=app, targets=targets, license_type="device")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=allocate, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    holding = License.objects.filter(app=app, state__in=["pending", "assigned"]).count()
    assert holding == 10
    assert License.objects.filter(app=app, state="failed", error=allocation.NO_LICENSES).count() == 14
    apple.wait_idle()
    snapshot = apple.location(uid, include_assignments=True)
    assert len([a for a in snapshot["assignments"] if a["adamId"] == app.adam_id]) == 10
    asset = next(a for a in snapshot["assets"] if a["adamId"] == app.adam_id)
    assert asset["availableCount"] == 0
