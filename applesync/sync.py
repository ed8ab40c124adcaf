"""Syncing one token with Apple (T6-T12, A1, A4, A5, B8): the Apple reads, then one final write.

`tokens.sync.request_sync` queues a `SyncRun` (the `sync` kind of console.models.Run); the runner
(console.runs, registered in `applesync.apps`) calls `sync_work`, which does the work:

1. refuse an unusable token without calling Apple (T5);
2. `GET client/config`: another MDM, a revoked, invalid or expired token fails the run and updates the token's
   state, deleting nothing (T4, T8);
3. all assets, store metadata from the token's country store (T10), assignments (full, or incremental with
   `sinceVersionId`) and the users this console created (T9, incremental with the stored users `versionId`).
   Assignments are spooled to a temporary file while Apple is read and staged beside the mirror
   (`apps.services.MirrorStage`: COPY on PostgreSQL, bounded batches on SQLite), so memory stays bounded for
   a million of them. Apple's deltas carry no removals: after an incremental read, every asset whose
   `assignedCount` differs from what the mirror would hold is read again in full and swept;
4. the write, through the services of the apps owning the tables (`apps.services` for the catalogue and the
   assignment mirror, `assignments.events` for the users, `tokens.services` for the token), applies only the
   difference with set-based SQL. On PostgreSQL it is ONE transaction, so a failure anywhere leaves the
   previous data as it was; on SQLite the catalogue, then the mirror in batches, then the rest are short
   transactions of their own so that no other write waits on a sync (SQLite has a single writer).

Progress and stage are written outside that transaction (plain autocommit updates) so the token page can show
them while the run is going.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from applesync.messages import METADATA_UNREADABLE, TOKEN_STATE, TOKEN_UNUSABLE, UNTRACKED_NOT_REFRESHED
from apps import selectors as app_selectors
from apps import services as app_services
from assignments import events as assignment_events
from assignments.reconciliation import untracked_refresh_changes, untracked_refresh_from_mirror
from console import audit, runs
from console.messages import Message, apple_exception, term
from tokens import selectors as token_selectors
from tokens import services as token_services
from tokens.apple import (
    claim_if_unclaimed,
    client_for,
    external_mdm,
    state_from_client_config,
    state_from_error,
)
from tokens.models import SyncRun, VPPToken
from vpp.errors import AppleError, BadRequest
from vpp.types import AppleUser, AppMetadata, Asset, parse_notification

logger = logging.getLogger(__name__)

# Apple's "unknown versionId" (sinceVersionId too old or from another data set): read everything instead.
UNKNOWN_VERSION_ID = 9721
PROGRESS_EVERY_SECONDS = 0.5
# Assets read again after an incremental read: this many walks at once, each held in memory up to this size
# (a larger asset streams to the spool on its own).
REREAD_CONCURRENCY = 4
REREAD_IN_MEMORY_MAX = 20_000


class SyncFailed(Exception):
    """The run cannot go on; `number`/`message` are Apple's when Apple said why."""

    def __init__(self, message: Message | str, number: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.number = number


# --- progress (committed at once, outside the data transaction) ----------------------------------------


class _Progress:
    def __init__(self, run: SyncRun) -> None:
        self.run = run
        self._last = 0.0

    def set(self, progress: float, stage: Promise | None = None, *, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_EVERY_SECONDS:
            return
        self._last = now
        runs.progress(self.run, progress, stage)  # also beats the run's heartbeat


# --- what was read from Apple ---------------------------------------------------------------------------


@dataclass
class _Snapshot:
    config_state: str = ""
    assets: dict[tuple[str, str], Asset] | None = None
    metadata: dict[str, AppMetadata] | None = None
    assignments_count: int = 0
    assets_reread: int = 0  # assets read again in full because an incremental read cannot carry removals
    assignments_full: bool = True
    assignments_version_id: str | None = None
    users: dict[str, AppleUser] | None = None  # clientUserId → Apple's record
    users_version_id: str | None = None
    apple_requests: int = 0
    rate_limit_wait_seconds: float = 0.0


def _lookup_metadata(client, run: SyncRun, adam_ids: list[str], country: str, platform: str):
    """Store metadata for `adam_ids`, best effort.

    The lookup is a separate Apple service (and optional in service/config): when it fails, apps keep the
    metadata they had (as for an app missing from the store, T10) and the run still updates licenses and
    assignments, noting the problem as a warning.
    """
    try:
        return client.lookup_metadata(adam_ids, country=country, platform=platform)
    except AppleError as exc:
        logger.warning("metadata lookup failed for sync run %s: %s", run.pk, exc)
        runs.warn(run, METADATA_UNREADABLE(error=apple_exception(exc)))
        return {}


def _check_mdm(token: VPPToken, mdm_info) -> None:
    """Apple returns mdmInfo on every token-scoped answer: stop as soon as it is not ours (T8)."""
    if mdm_info is not None and mdm_info.id != str(token.mdm_info_id):
        raise _ExternalMdm(mdm_info.name, mdm_info.metadata)


class _ExternalMdm(Exception):
    pass


def _full_assignments_due(token: VPPToken, run: SyncRun) -> bool:
    if run.full or not token.assignments_version_id or token.last_full_sync_at is None:
        return True
    return timezone.now() - token.last_full_sync_at >= timedelta(hours=settings.VPP_FULL_SYNC_EVERY_HOURS)


def _spool_assignments(
    paged, spool: IO[str], progress: _Progress, start: int, end: int, expected: int
) -> int:
    """Write every assignment of a paged walk to `spool` (`spool_rows`), the run's progress moving from
    `start` to `end` as the `expected` rows arrive."""

    def advance(count: int) -> None:
        if expected:
            progress.set(start + (end - start) * min(1.0, count / expected), force=False)

    return app_services.spool_rows(paged, spool, on_batch=advance)


def _read_apple(
    token: VPPToken, run: SyncRun, progress: _Progress, spool: IO[str], stage: app_services.MirrorStage
) -> _Snapshot:
    """Every Apple read of the run, the assignments staged in `stage`; writes nothing else but progress and
    the token's state.

    Raises AppleError, SyncFailed or _ExternalMdm.
    """
    snap = _Snapshot()
    with client_for(token) as client:
        try:
            _read_into(client, snap, token, run, progress, spool, stage)
        finally:
            snap.apple_requests = client.requests_sent
            snap.rate_limit_wait_seconds = client.rate_limit_wait_seconds
    return snap


def _read_into(client, snap: _Snapshot, token, run, progress: _Progress, spool: IO[str], stage) -> None:
    progress.set(5, gettext_lazy("Checking the token with Apple"))
    config = client.client_config()
    state, detail = state_from_client_config(token, config)
    _save_token_state(token, state, detail, config=config)
    if state != VPPToken.State.VALID:
        raise SyncFailed(detail or TOKEN_STATE(state=term(VPPToken.State(token.state).label)))
    claim_if_unclaimed(client, token, config)

    progress.set(10, gettext_lazy("Reading assets"))
    filters = {"adam_id": run.adam_id} if run.adam_id else {}
    paged_assets = client.iter_assets(**filters)
    assets: dict[tuple[str, str], Asset] = {}
    for asset in paged_assets:
        # The first record of an asset wins: an `unlimitedAssets` copy carries no counts.
        assets.setdefault((asset.adam_id, asset.pricing_param), asset)
    _check_mdm(token, paged_assets.mdm_info)
    snap.assets = assets

    progress.set(30, gettext_lazy("Reading store metadata"))
    adam_ids = sorted({adam_id for adam_id, _pricing in assets})
    platform = token.default_platform or (
        "volumestore" if token.account_type == VPPToken.AccountType.EDUCATION else "enterprisestore"
    )
    snap.metadata = _lookup_metadata(client, run, adam_ids, token.country_or_region, platform)

    progress.set(40, gettext_lazy("Reading assignments"))
    expected = sum(a.assigned_count for a in assets.values())
    if run.adam_id:
        snap.assignments_full = True
        paged = client.iter_assignment_rows(adam_id=run.adam_id)
        snap.assignments_count = _spool_assignments(paged, spool, progress, 40, 80, expected)
        stage.sweep([run.adam_id])
    else:
        snap.assignments_full = _full_assignments_due(token, run)
        paged = None
        if not snap.assignments_full:
            paged = client.iter_assignment_rows(since_version_id=token.assignments_version_id)
            try:
                snap.assignments_count = _spool_assignments(paged, spool, progress, 40, 80, 0)
            except BadRequest as exc:
                if exc.number != UNKNOWN_VERSION_ID:
                    raise
                logger.info("sinceVersionId unknown to Apple for token %s; reading everything", token.pk)
                snap.assignments_full = True
                spool.seek(0)
                spool.truncate()
                paged = None
        if paged is None:
            paged = client.iter_assignment_rows()
            snap.assignments_count = _spool_assignments(paged, spool, progress, 40, 80, expected)
            stage.sweep(None)
        snap.assignments_version_id = paged.version_id
        _check_mdm(token, paged.mdm_info)
    progress.set(80, gettext_lazy("Staging assignments"))
    stage.load(spool)
    if not snap.assignments_full:
        _reread_removals(client, token, snap, stage, spool)

    if not run.adam_id:
        progress.set(85, gettext_lazy("Reading users"))
        snap.users, snap.users_version_id = _read_users(
            client, token, since=None if snap.assignments_full else token.users_version_id
        )


def _reread_removals(client, token: VPPToken, snap: _Snapshot, stage, spool: IO[str]) -> None:
    """An incremental read lists what Apple added or changed, never what it removed. One GROUP BY tells the
    assets whose mirror, once the delta is applied, would not hold Apple's `assignedCount` rows: exactly those
    are read again in full and swept, so the cost follows the changes, not the location. The GROUP BY counts
    only the assets with a staged change or whose `assignedCount` differs from the count the console holds
    (an asset with neither lost no assignment since; the next full sync settles any older drift)."""
    assert snap.assets is not None
    assigned = {key: asset.assigned_count for key, asset in snap.assets.items()}
    held = app_selectors.assigned_counts(token)
    candidates = {key[0] for key in set(assigned) | set(held) if assigned.get(key) != held.get(key)}
    after = stage.counts_after(candidates)
    # Assets not counted keep the count the console holds (which Apple's equals).
    after = {**{key: n for key, n in held.items() if key[0] not in candidates}, **after}
    differ = sorted(
        {
            adam_id
            for key in set(after) | set(assigned)
            if after.get(key, 0) != assigned.get(key, 0)
            for adam_id in [key[0]]
        }
    )
    spool.seek(0)
    spool.truncate()
    sizes = {adam_id: n for (adam_id, _pricing), n in assigned.items()}
    small = [adam_id for adam_id in differ if sizes.get(adam_id, 0) <= REREAD_IN_MEMORY_MAX]
    for adam_id in differ:
        if adam_id not in small:  # a large asset streams into the spool, alone
            app_services.spool_rows(client.iter_assignment_rows(adam_id=adam_id), spool)
    # The others are read several at a time (each walk is mostly one page): a window of walks in flight.
    with ThreadPoolExecutor(max_workers=REREAD_CONCURRENCY, thread_name_prefix="vpp-reread") as pool:
        pending: deque[Future[list[str]]] = deque()
        queue = iter(small)
        while True:
            while len(pending) < 2 * REREAD_CONCURRENCY and (adam_id := next(queue, None)) is not None:
                pending.append(pool.submit(_asset_lines, client, adam_id))
            if not pending:
                break
            spool.writelines(pending.popleft().result())
    stage.load(spool)
    stage.sweep(differ)
    snap.assets_reread = len(differ)


def _asset_lines(client, adam_id: str) -> list[str]:
    """Every assignment of one asset at Apple, as spool lines (a restarted walk starts its list over)."""
    paged = client.iter_assignment_rows(adam_id=adam_id)
    lines: list[str] = []
    restarts = 0
    for item in paged:
        if paged.restarts != restarts:
            restarts = paged.restarts
            lines.clear()
        lines.append(app_services.stage_line(item))
    return lines


def _read_users(
    client, token: VPPToken, *, since: str | None = None
) -> tuple[dict[str, AppleUser], str | None]:
    """Apple's records of the users this console created (T9); other products' users are skipped unread.
    With `since` (the stored users versionId) only the users Apple changed since; an unknown version reads
    everything."""
    ours = assignment_events.vpp_client_user_ids(token)
    found: dict[str, AppleUser] = {}
    paged = client.iter_users(since_version_id=since) if since else client.iter_users()
    try:
        for user in paged:
            if user.client_user_id not in ours:
                continue
            previous = found.get(user.client_user_id)
            # Retired copies stay in Apple's history beside the one active record: the active one wins.
            if previous is None or previous.status == "Retired":
                found[user.client_user_id] = user
    except BadRequest as exc:
        if not since or exc.number != UNKNOWN_VERSION_ID:
            raise
        return _read_users(client, token)
    return found, paged.version_id


# --- applying ---------------------------------------------------------------------------------------------


def _apply(
    token: VPPToken, run: SyncRun, snap: _Snapshot, stage: app_services.MirrorStage, *, refresh_all: bool
) -> dict[str, int]:
    """Write the snapshot through the owners' services: one transaction on PostgreSQL; on SQLite (a batched
    stage) the catalogue, the mirror's batches and the rest each commit on their own. The untracked licenses
    follow once that is committed (`_refresh_untracked`); the token's sync status says `completed` only then.
    """
    assert snap.assets is not None and snap.metadata is not None
    if stage.batched:
        with transaction.atomic():
            catalogue = _apply_catalogue(token, run, snap)
        stage.switch()
        with transaction.atomic():
            users_count = _apply_rest(token, run, snap)
    else:
        with transaction.atomic():
            catalogue = _apply_catalogue(token, run, snap)
            stage.switch()
            users_count = _apply_rest(token, run, snap)
    _refresh_untracked(token, stage, refresh_all=refresh_all)
    token_services.token_sync_status(token=token, status=VPPToken.SyncStatus.COMPLETED)
    return {
        "assets_count": len(snap.assets),
        "apps_created": catalogue.created,
        "apps_updated": catalogue.updated,
        "apps_removed": catalogue.removed,
        "assignments_count": snap.assignments_count,
        "users_count": users_count,
    }


def _refresh_untracked(token: VPPToken, stage: app_services.MirrorStage, *, refresh_all: bool) -> None:
    """T9: untracked licenses follow Apple's assignments, derived from the mirror once it is committed (in
    the mirror's transaction they would double its write and its foreign-key checks at commit). A full sync,
    or any sync after one that did not complete (`refresh_all`: its refresh may not have run), refreshes them
    all (targets that became known since go too); otherwise only the mirror rows this sync inserted or
    deleted are looked at, so an incremental sync costs what changed. On PostgreSQL the refresh is one
    transaction of its own (the previous untracked rows or the new ones, never half); on SQLite short
    batches. A failure fails the run with the mirror saved: the next sync, or a reconciliation, refreshes
    every untracked license."""
    batch = app_services.SWITCH_BATCH if stage.batched else None
    try:
        with transaction.atomic() if batch is None else nullcontext():
            if refresh_all or stage.full or stage.relinked:
                untracked_refresh_from_mirror(token=token, batch=batch)
            else:
                untracked_refresh_changes(
                    token=token,
                    new_from_id=stage.new_from_id,
                    gone_table=app_services.STAGE_GONE,
                    batch=batch,
                )
    except DatabaseError as exc:
        logger.exception("Untracked licenses of token %s not refreshed after its sync", token.pk)
        raise SyncFailed(UNTRACKED_NOT_REFRESHED) from exc


def _apply_catalogue(token: VPPToken, run: SyncRun, snap: _Snapshot):
    assert snap.assets is not None and snap.metadata is not None
    return app_services.catalogue_sync(
        token=token,
        assets=snap.assets,
        metadata=snap.metadata,
        country=token.country_or_region,
        adam_id=run.adam_id,
    )


def _apply_rest(token: VPPToken, run: SyncRun, snap: _Snapshot) -> int:
    users = snap.users or {}
    assignment_events.vpp_users_apply(token, users.values())
    versions: dict[str, str | None] = {}
    if not run.adam_id:
        versions = {
            "assignments_version_id": snap.assignments_version_id,
            "users_version_id": snap.users_version_id,
        }
    token_services.token_sync_finished(
        token=token, versions=versions, full=snap.assignments_full and not run.adam_id, settled=False
    )
    return len(users)


def _save_token_state(token: VPPToken, state: str, detail: Message | str, *, config=None) -> None:
    token_services.token_set_state(token=token, state=state, detail=detail, config=config)


# --- running a sync ---------------------------------------------------------------------------------------


def run_sync(*, run_id: int) -> SyncRun:
    """Do the queued sync run `run_id` through the runner (tests call this; the worker runs
    console.tasks.execute_run). Never raises for Apple errors: the run ends `completed` or `failed` with
    Apple's error number and message.
    """
    return runs.execute(SyncRun.objects.select_related("vpp_token").get(pk=run_id))


def sync_work(run: SyncRun) -> None:
    """The work of a `sync` run (registered in applesync.apps): read Apple, then write everything in one
    transaction. Raises RunFailed (or AppleError) after recording the token's state and last sync status."""
    token = run.vpp_token
    assert token is not None  # a sync run always acts on its token (deleting the token deletes its runs)
    # A previous sync that did not complete may have saved its mirror without refreshing the untracked
    # licenses from it (or died doing so): this one refreshes them all.
    refresh_all = token.last_sync_status != VPPToken.SyncStatus.COMPLETED
    token_services.token_sync_status(token=token, status=VPPToken.SyncStatus.IN_PROGRESS)
    try:
        counts = _sync(run, token, refresh_all=refresh_all)
    except Exception as exc:
        token_services.token_sync_status(token=token, status=VPPToken.SyncStatus.FAILED, at=timezone.now())
        number = getattr(exc, "number", None)
        audit.record(
            actor=None,
            action="sync.fail",
            obj=run,
            after={
                "error_number": number,
                "error": apple_exception(exc) if isinstance(exc, AppleError) else str(exc),
            },
        )
        raise
    run.counts = counts
    audit.record(actor=None, action="sync.complete", obj=run, after=counts)


def _sync(run: SyncRun, token: VPPToken, *, refresh_all: bool) -> dict[str, int]:
    progress = _Progress(run)
    if not token.is_usable:
        # T5: an expired (or otherwise unusable) token makes no call at all.
        if token.state == VPPToken.State.VALID:
            _save_token_state(token, VPPToken.State.EXPIRED, "")
        raise runs.RunFailed(TOKEN_UNUSABLE(state=term(VPPToken.State(token.state).label)))

    spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8", prefix="vpp-sync-")  # noqa: SIM115
    try:
        with app_services.MirrorStage(token) as stage:
            snap = _read_apple(token, run, progress, spool, stage)
            _reread_notified_counts(token, run, snap)
            progress.set(90, gettext_lazy("Saving"))
            run.full = (snap.assignments_full and not run.adam_id) or run.full
            counts = _apply(token, run, snap, stage, refresh_all=refresh_all)
        # What the run cost: Apple requests, time waiting on Apple's rate limit, and what the write changed.
        return {
            **counts,
            "apple_requests": snap.apple_requests,
            "rate_limit_wait_ms": round(snap.rate_limit_wait_seconds * 1000),
            "assets_reread": snap.assets_reread,
            "mirror_inserted": stage.inserted,
            "mirror_deleted": stage.deleted,
        }
    except _ExternalMdm as exc:
        detail = external_mdm(*exc.args)
        _save_token_state(token, VPPToken.State.ASSIGNED_TO_EXTERNAL_MDM, detail)
        raise runs.RunFailed(detail) from exc
    except SyncFailed as exc:
        raise runs.RunFailed(exc.message, exc.number) from exc
    except AppleError as exc:
        implied = state_from_error(exc)
        if implied is not None:
            _save_token_state(token, *implied)
        raise
    finally:
        spool.close()


# Notifications that change counts; a sync's snapshot may predate what they applied.
_CHANGING = ("ASSET_COUNT", "ASSET_MANAGEMENT")
# Beyond this many assets notified during one run, the next sync brings their counts.
REREAD_MAX_ASSETS = 50


def _reread_notified_counts(token: VPPToken, run: SyncRun, snap: _Snapshot) -> None:
    """Read again the counts of the assets Apple notified about while this run read Apple (B4).

    Those notifications were applied at once; the run's snapshot was read before or after the change at
    Apple, nobody can tell which, and saving it would write its counts over theirs. Apple's answer now
    includes the change, so the save writes counts that are right. (Assignments a notification added during a
    full walk that had already passed them come back with the next incremental sync.)
    """
    if not snap.assets or run.started_at is None:
        return
    payloads = token_selectors.notifications_processed_since(
        token=token, since=run.started_at, types=_CHANGING
    )
    adam_ids: set[str] = set()
    for payload in payloads:
        try:
            notification = parse_notification(payload)
        except ValueError:
            continue
        adam_ids.add(notification.adam_id)
        adam_ids.update(a.adam_id for a in notification.assignments)
    adam_ids &= {adam_id for adam_id, _pricing in snap.assets}
    if not adam_ids:
        return
    with client_for(token) as client:
        for adam_id in sorted(adam_ids)[:REREAD_MAX_ASSETS]:
            fresh: dict[tuple[str, str], Asset] = {}
            for asset in client.iter_assets(adam_id=adam_id):
                fresh.setdefault((asset.adam_id, asset.pricing_param), asset)
            for key, asset in fresh.items():
                if key in snap.assets:
                    snap.assets[key] = asset
