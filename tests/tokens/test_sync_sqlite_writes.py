"""SQLite has one writer at a time: a sync applies its write in short transactions (staged rows, batches of
the difference, a short final switch), so a concurrent write (a person's PATCH, an Apple notification) waits
well under a second instead of failing with "database is locked" after 30 s."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from applesync.sync import run_sync
from directory.models import DirectoryUser
from tests import factories
from tokens.models import SyncRun
from tokens.sync import request_sync


@pytest.mark.django_db(transaction=True)
def test_sqlite_a_concurrent_write_waits_under_a_second_while_a_sync_applies(apple):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's single writer (PostgreSQL writes the mirror in one transaction with row locks)")
    apple.update_settings(page_size=1000)
    content = apple.generate_location(
        org_name="Big Org", location_name="Big Campus", assets=40, assignments=40000, users=5
    )
    token = factories.VPPTokenFactory(token_content=content, location_uid=apple.uid_of(content))
    apple.set_mdm_info(token.location_uid, id=str(token.mdm_info_id), name="VPP Console", metadata="t")
    person = factories.DirectoryUserFactory()
    run, _created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
    done = threading.Event()

    def sync() -> None:
        try:
            run_sync(run_id=run.pk)
        finally:
            connection.close()
            done.set()

    worker = threading.Thread(target=sync)
    worker.start()
    waits: list[float] = []
    while_saving: list[float] = []
    while not done.is_set():
        progress = SyncRun.objects.filter(pk=run.pk).values_list("progress", flat=True).get()
        started = time.monotonic()
        with transaction.atomic():  # BEGIN IMMEDIATE: takes SQLite's write lock, as a PATCH does
            DirectoryUser.objects.filter(pk=person.pk).update(display_name=f"edit {len(waits)}")
        waited = time.monotonic() - started
        waits.append(waited)
        if progress >= 90:  # the sync is writing
            while_saving.append(waited)
        time.sleep(0.01)
    worker.join(60)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert run.assignments_count == 40000
    assert len(while_saving) >= 5, "the writes must overlap the sync's own writing"
    # About a second: one batch plus SQLite's busy-handler back-off, with margin for a loaded CI machine
    # (a single transaction for the whole write waited for the whole apply, here several seconds).
    assert max(waits) < 1.5, f"a write waited {max(waits):.2f}s on the sync"
    person.refresh_from_db()
    assert person.display_name == f"edit {len(waits) - 1}"
