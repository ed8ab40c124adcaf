"""The sync's staged write of the Apple-assignment mirror (apps.staging): the COPY path of PostgreSQL and the
batched path of SQLite make the same mirror from the same input, and a sync failing half-way leaves the
previous data as it was."""

from __future__ import annotations

import tempfile
from functools import partial
from types import SimpleNamespace

import pytest
from django.db import DatabaseError, connection

from apps.models import App, AppleAssignment
from apps.staging import STAGE_GONE, MirrorStage, stage_line
from assignments.models import License
from assignments.reconciliation import untracked_refresh_changes, untracked_refresh_from_mirror
from tests import factories
from tests.tokens.test_sync import apple_assignments, connect, mirror, sync
from tokens.models import SyncRun
from vpp.types import AssetRef, Assignment

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# Odd characters survive the spool and COPY's text format (escaped tab, newline, backslash).
APPLE = [
    Assignment("100", "STDQ", "SER-KEPT-1", ""),
    Assignment("100", "STDQ", "", "user\\with\tescapes\n"),
    Assignment("100", "PLUS", "SER-NEW-2", ""),
    Assignment("200", "STDQ", "", "client-new"),
    Assignment("200", "STDQ", "", "client-new"),  # Apple repeating a row is harmless
    Assignment("300", "STDQ", "SER-NO-APP", ""),  # an asset the catalogue does not hold: no app
]
BEFORE = [
    ("100", "STDQ", "SER-KEPT-1", ""),
    ("100", "STDQ", "SER-GONE-1", ""),
    ("200", "STDQ", "", "client-gone"),
    ("400", "STDQ", "SER-OTHER-ASSET", ""),  # not swept when only 100 and 200 are
]


def _token_with_mirror():
    token = factories.VPPTokenFactory()
    for adam_id, pricing in (("100", "STDQ"), ("100", "PLUS"), ("200", "STDQ"), ("400", "STDQ")):
        App.objects.create(vpp_token=token, adam_id=adam_id, pricing_param=pricing, name=adam_id)
    for adam_id, pricing, serial, cid in BEFORE:
        AppleAssignment.objects.create(
            vpp_token=token,
            app=App.objects.get(vpp_token=token, adam_id=adam_id, pricing_param=pricing),
            adam_id=adam_id,
            pricing_param=pricing,
            serial_number=serial,
            client_user_id=cid,
        )
    return token


def _switch(token, *, batched: bool, sweep) -> tuple[set, tuple[int, int]]:
    spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
    with spool, MirrorStage(token, batched=batched) as stage:
        spool.writelines(stage_line(item.as_row()) for item in APPLE)
        assert stage.load(spool) == len(APPLE)
        stage.sweep(sweep)
        result = stage.switch()
    rows = set(
        AppleAssignment.objects.filter(vpp_token=token).values_list(
            "adam_id", "pricing_param", "serial_number", "client_user_id", "app__adam_id"
        )
    )
    return rows, result


def _untracked(token) -> set:
    return set(
        License.objects.filter(app__vpp_token=token, state=License.State.UNTRACKED).values_list(
            "app__adam_id", "app__pricing_param", "apple_serial_number", "apple_client_user_id"
        )
    )


@pytest.mark.parametrize("batched", [False, True], ids=["copy", "batched"])
def test_untracked_licenses_from_the_switch_changes_match_a_full_refresh(batched):
    """An incremental sync refreshes the untracked licenses (T9) only for the mirror rows its switch inserted
    or deleted; the result is what a refresh over the whole mirror makes."""
    results = []
    for changes_only in (True, False):
        token = _token_with_mirror()
        untracked_refresh_from_mirror(token=token)
        assert len(_untracked(token)) == len(BEFORE)
        spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        with spool, MirrorStage(token, batched=batched) as stage:
            spool.writelines(stage_line(item.as_row()) for item in APPLE)
            stage.load(spool)
            stage.sweep(["100", "200"])
            stage.switch()
            if changes_only:
                batch = 2 if batched else None  # several batches of the gone rows and of the new ones
                counts = untracked_refresh_changes(
                    token=token, new_from_id=stage.new_from_id, gone_table=STAGE_GONE, batch=batch
                )
                assert counts == {"created": 3, "removed": 2}
            else:
                untracked_refresh_from_mirror(token=token, batch=2 if batched else None)
        results.append(_untracked(token))
    assert (
        results[0]
        == results[1]
        == {
            ("100", "STDQ", "SER-KEPT-1", ""),
            ("100", "STDQ", "", "user\\with\tescapes\n"),
            ("100", "PLUS", "SER-NEW-2", ""),
            ("200", "STDQ", "", "client-new"),
            ("400", "STDQ", "SER-OTHER-ASSET", ""),
        }
    )


def _counts(token) -> set:
    return set(App.objects.filter(vpp_token=token).values_list("adam_id", "pricing_param", "used_licenses"))


@pytest.mark.parametrize("sweep", [None, ["100", "200"]], ids=["full", "two-assets"])
def test_copy_path_converges_to_the_batched_path_including_deletions(postgres, sweep):
    copy_rows, copy_counts = _switch(_token_with_mirror(), batched=False, sweep=sweep)
    batched_rows, batched_counts = _switch(_token_with_mirror(), batched=True, sweep=sweep)
    assert copy_rows == batched_rows
    assert copy_counts == batched_counts
    expected = {
        ("100", "STDQ", "SER-KEPT-1", "", "100"),
        ("100", "STDQ", "", "user\\with\tescapes\n", "100"),
        ("100", "PLUS", "SER-NEW-2", "", "100"),
        ("200", "STDQ", "", "client-new", "200"),
        ("300", "STDQ", "SER-NO-APP", "", None),
    }
    if sweep is not None:
        expected.add(("400", "STDQ", "SER-OTHER-ASSET", "", "400"))
    assert copy_rows == expected
    assert copy_counts == (4, 3 if sweep is None else 2)


def test_copy_path_sync_failing_between_switch_and_commit_leaves_previous_data(postgres, apple, monkeypatch):
    """The seam: the users are applied after the mirror's switch in the same transaction; failing there must
    undo the switch (and the catalogue) too."""
    token = connect(apple)
    sync(token)
    before = (mirror(token), _counts(token))
    gone = next(a for a in mirror(token) if a[2])
    from tokens.apple import client_for

    with client_for(token) as client:
        client.disassociate_assets([gone[0]], serial_numbers=[gone[2]])
    assert apple.wait_idle()

    def fail(*args, **kwargs):
        raise RuntimeError("injected after the switch")

    monkeypatch.setattr("assignments.events.vpp_users_apply", fail)
    run = sync(token, full=True)
    assert run.status == SyncRun.Status.FAILED and "injected" in str(run.error)
    after = (mirror(token), _counts(token))
    assert after == before
    monkeypatch.undo()
    assert sync(token).status == SyncRun.Status.COMPLETED
    assert mirror(token) == apple_assignments(apple, token.location_uid)


def test_copy_path_sync_failing_mid_read_leaves_previous_data(postgres, apple, monkeypatch):
    monkeypatch.setattr("vpp.client.BACKOFF_BASE", 0.001)
    apple.update_settings(page_size=5)
    token = connect(apple)
    sync(token)
    before = mirror(token)
    AppleAssignment.objects.filter(vpp_token=token).first().delete()  # something a good sync would restore
    damaged = mirror(token)
    apple.add_fault("internal_error", count=50, path="users")  # after every assignment page was staged
    run = sync(token, full=True)
    assert run.status == SyncRun.Status.FAILED
    assert mirror(token) == damaged != before


def test_batched_path_sync_failing_mid_switch_leaves_only_apple_rows_and_the_next_sync_finishes(
    apple, monkeypatch
):
    """The known limitation of the batched (SQLite) switch, bounded: a sync failing between two of its short
    transactions has applied some of Apple's changes, not all. Every row of the mirror then is one the
    previous sync or Apple holds (never a row of neither), the token's versions stay where they were, and
    the next sync completes the mirror. (The batched switch is forced, so this runs on PostgreSQL too.)"""
    token = connect(apple)
    sync(token)
    before = mirror(token)
    token.refresh_from_db()
    versions = (token.assignments_version_id, token.users_version_id)
    assert all(versions)
    asset = next(a for a in apple.location(token.location_uid)["assets"] if a["availableCount"] >= 4)
    from tokens.apple import client_for

    with client_for(token) as client:
        client.associate_assets(
            [AssetRef(asset["adamId"], asset["pricingParam"])],
            serial_numbers=[f"SER-MID-SWITCH-{i}" for i in range(4)],
        )
    assert apple.wait_idle()
    at_apple = apple_assignments(apple, token.location_uid)
    assert len(at_apple - before) == 4

    # One row per batch; the gap after the second batch fails (the process stopped, the database went away).
    monkeypatch.setattr("applesync.sync.app_services.MirrorStage", partial(MirrorStage, batched=True))
    monkeypatch.setattr("apps.staging.SWITCH_BATCH", 1)
    gaps = iter(range(100))

    def gap(seconds):
        if next(gaps) == 1:
            raise RuntimeError("injected between two batches of the switch")

    monkeypatch.setattr("apps.staging.time", SimpleNamespace(sleep=gap))
    run = sync(token, full=True)
    assert run.status == SyncRun.Status.FAILED and "injected" in run.error
    partly = mirror(token)
    assert before < partly < at_apple | before  # some of Apple's rows applied, not all
    assert partly <= before | at_apple
    token.refresh_from_db()
    assert (token.assignments_version_id, token.users_version_id) == versions

    monkeypatch.undo()  # the next sync on this database's own path (batched on SQLite)
    assert sync(token).status == SyncRun.Status.COMPLETED
    assert mirror(token) == at_apple


def _refresh_sql_fails(execute, sql, params, many, context):
    """Fail the statement that creates untracked licenses (after the refresh's DELETE has run)."""
    if sql.startswith("INSERT INTO") and "'untracked'" in sql:
        raise DatabaseError("injected: the untracked refresh failed")
    return execute(sql, params, many, context)


def test_untracked_refresh_after_the_mirror_commit_converges(apple):
    """T9 after the sync's write: the untracked licenses are those of the committed mirror, and the token
    says `completed` only once they are."""
    token = connect(apple)
    run = sync(token)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    token.refresh_from_db()
    assert token.last_sync_status == "completed"
    untracked = _untracked(token)
    assert untracked  # the demo location's targets are unknown to the console
    assert untracked == {row for row in mirror(token) if row[2] or row[3]}
    assert untracked_refresh_from_mirror(token=token) == {"created": 0, "removed": 0}


def test_untracked_refresh_failing_after_the_commit_keeps_the_mirror_and_the_next_sync_converges(apple):
    """The refresh runs after the mirror is committed, in its own transaction(s): when it fails, the run
    fails saying so, the mirror holds Apple's rows, the untracked licenses are still rows of the previous or
    the new state (on PostgreSQL exactly the previous ones: one transaction), and the next sync, though
    incremental with nothing new at Apple, refreshes them all."""
    token = connect(apple)
    sync(token)
    before = _untracked(token)
    gone = next(a for a in mirror(token) if a[2] and a in before)
    from tokens.apple import client_for

    with client_for(token) as client:
        client.disassociate_assets([gone[0]], serial_numbers=[gone[2]])
        client.associate_assets([AssetRef(gone[0], gone[1])], serial_numbers=["SER-AFTER-COMMIT"])
    assert apple.wait_idle()
    added = (gone[0], gone[1], "SER-AFTER-COMMIT", "")
    at_apple = apple_assignments(apple, token.location_uid)
    assert added in at_apple and gone not in at_apple

    with connection.execute_wrapper(_refresh_sql_fails):
        run = sync(token)
    assert run.status == SyncRun.Status.FAILED
    assert "assignments were saved" in str(run.error) and "untracked licenses" in str(run.error)
    assert mirror(token) == at_apple  # committed before the refresh
    token.refresh_from_db()
    assert token.last_sync_status == "failed"
    partly = _untracked(token)
    assert added not in partly  # the INSERT failed
    if connection.vendor == "postgresql":
        assert partly == before  # the DELETE went back with it
    else:
        assert partly <= before  # committed batches of the DELETE: rows of the previous state only

    run = sync(token)  # incremental, nothing changed at Apple since: still refreshes every untracked row
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert not run.full
    after = _untracked(token)
    assert added in after and gone not in after
    assert after == (before - {gone}) | {added}
    assert untracked_refresh_from_mirror(token=token) == {"created": 0, "removed": 0}
    token.refresh_from_db()
    assert token.last_sync_status == "completed"
