"""Syncing one token with Apple (T6-T12, A1, A4, A5, B8): the run row, the Apple reads, one final write.

`request_sync` is the one way to start a sync (page, API, schedule, notification, upload): it creates the
queued `SyncRun` under the per-token lock (the partial unique constraint `one_active_sync_per_token`) and
enqueues `tokens.tasks.sync_token` after commit. `run_sync` does the work:

1. refuse an unusable token without calling Apple (T5);
2. `GET client/config`: another MDM, a revoked, invalid or expired token fails the run and updates the token's
   state, deleting nothing (T4, T8);
3. all assets, store metadata from the token's country store (T10), assignments (full, or incremental with
   `sinceVersionId`) and the users this console created (T9);
4. everything read is applied in ONE transaction at the end, so a failure anywhere leaves the previous data
   as it was. Assignments are spooled to a temporary file while Apple is read, so memory stays bounded for a
   million of them, and written in batches.

Progress and stage are written outside that transaction (plain autocommit updates) so the token page can show
them while the run is going.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import IO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from assignments.reconciliation import untracked_refresh
from console import audit
from tokens.apple import claim_if_unclaimed, client_for, state_from_client_config, state_from_error
from tokens.models import SyncRun, VPPToken
from vpp.errors import AppleError, BadRequest
from vpp.types import AppMetadata, Asset

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
# Apple's "unknown versionId" (sinceVersionId too old or from another data set): read everything instead.
UNKNOWN_VERSION_ID = 9721
PROGRESS_EVERY_SECONDS = 0.5


class SyncFailed(Exception):
    """The run cannot go on; `number`/`message` are Apple's when Apple said why."""

    def __init__(self, message: str, number: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.number = number


# --- starting a sync --------------------------------------------------------------------------------------


def request_sync(
    *, token: VPPToken, trigger: str, actor=None, full: bool = False, adam_id: str = ""
) -> tuple[SyncRun, bool]:
    """Queue a sync of `token` and enqueue it after commit; `(run, True)`.

    Two syncs of one token never run at once: if a run is already queued or running, that run is returned with
    `False` and nothing is enqueued (the caller shows it, e.g. "a sync is already running").
    """
    requested_by = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    from tokens.tasks import sync_token

    run = None
    for _attempt in range(3):
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(
                    vpp_token=token,
                    trigger=trigger,
                    full=full,
                    adam_id=adam_id or "",
                    requested_by=requested_by,
                )
            break
        except IntegrityError:
            existing = SyncRun.objects.filter(vpp_token=token, status__in=SyncRun.ACTIVE).first()
            if existing is not None and not _abandon_if_stale(existing):
                return existing, False
            # The active run finished between our insert and our read: try again.
    if run is None:  # pragma: no cover - three races in a row
        raise RuntimeError("could not queue a sync run")
    audit.record(
        actor=actor,
        action="sync.request",
        obj=run,
        after={"trigger": trigger, "full": full, "adam_id": adam_id or ""},
    )
    transaction.on_commit(partial(sync_token.delay, run.pk))
    return run, True


def _abandon_if_stale(run: SyncRun) -> bool:
    """End a run whose worker is gone (older than the task time limit), so the token is not locked forever."""
    stale_after = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 300)
    if timezone.now() - (run.started_at or run.created_at) < stale_after:
        return False
    return bool(
        SyncRun.objects.filter(pk=run.pk, status__in=SyncRun.ACTIVE).update(
            status=SyncRun.Status.FAILED,
            finished_at=timezone.now(),
            error=_("The run stopped without finishing (its worker was lost); a new sync was requested."),
        )
    )


# --- progress (committed at once, outside the data transaction) ----------------------------------------


class _Progress:
    def __init__(self, run: SyncRun) -> None:
        self.run = run
        self._last = 0.0

    def set(self, progress: int, stage: str | None = None, *, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_EVERY_SECONDS:
            return
        self._last = now
        fields = {"progress": max(0, min(100, int(progress)))}
        if stage is not None:
            fields["stage"] = str(stage)[:100]
        for name, value in fields.items():
            setattr(self.run, name, value)
        SyncRun.objects.filter(pk=self.run.pk).update(**fields)


# --- what was read from Apple ---------------------------------------------------------------------------


@dataclass
class _Snapshot:
    config_state: str = ""
    assets: dict[tuple[str, str], Asset] | None = None
    metadata: dict[str, AppMetadata] | None = None
    assignments_file: IO[str] | None = None
    assignments_count: int = 0
    assignments_full: bool = True
    assignments_version_id: str | None = None
    users: dict[str, tuple[str, str, str]] | None = None  # clientUserId → (status, invite code, id hash)
    users_version_id: str | None = None


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
        run.warning = (
            _("Store metadata could not be read (%(error)s); names and icons were kept.") % {"error": exc}
        )[:500]
        SyncRun.objects.filter(pk=run.pk).update(warning=run.warning)
        return {}


def _check_mdm(token: VPPToken, mdm_info) -> None:
    """Apple returns mdmInfo on every token-scoped answer: stop as soon as it is not ours (T8)."""
    if mdm_info is not None and mdm_info.id != str(token.mdm_info_id):
        raise _ExternalMdm(f"{mdm_info.name} ({mdm_info.metadata})")


class _ExternalMdm(Exception):
    pass


def _full_assignments_due(token: VPPToken, run: SyncRun) -> bool:
    if run.full or not token.assignments_version_id or token.last_full_sync_at is None:
        return True
    return timezone.now() - token.last_full_sync_at >= timedelta(hours=settings.VPP_FULL_SYNC_EVERY_HOURS)


def _spool_assignments(
    paged, spool: IO[str], progress: _Progress, start: int, end: int, expected: int
) -> int:
    """Write every assignment of a paged walk to `spool` (tab-separated); restarts rewind the file."""
    count = 0
    restarts = 0
    for item in paged:
        if paged.restarts != restarts:  # versionId changed: the walk started over, so must the spool
            restarts = paged.restarts
            spool.seek(0)
            spool.truncate()
            count = 0
        spool.write(
            "\t".join(
                (
                    item.adam_id,
                    item.pricing_param,
                    _clean(item.serial_number),
                    _clean(item.client_user_id),
                )
            )
            + "\n"
        )
        count += 1
        if expected:
            progress.set(start + (end - start) * min(1.0, count / expected), force=False)
    spool.flush()
    return count


def _clean(value: str | None) -> str:
    return (value or "").replace("\t", " ").replace("\n", " ")


def _read_spool(spool: IO[str]) -> Iterator[tuple[str, str, str, str]]:
    spool.seek(0)
    for line in spool:
        adam_id, pricing_param, serial, client_user_id = line.rstrip("\n").split("\t")
        yield adam_id, pricing_param, serial, client_user_id


def _read_apple(token: VPPToken, run: SyncRun, progress: _Progress, spool: IO[str]) -> _Snapshot:
    """Every Apple read of the run; writes nothing but progress and the token's state.

    Raises AppleError, SyncFailed or _ExternalMdm.
    """
    snap = _Snapshot()
    with client_for(token) as client:
        progress.set(5, _("Checking the token with Apple"))
        config = client.client_config()
        state, detail = state_from_client_config(token, config)
        _save_token_state(token, state, detail, config=config)
        if state != VPPToken.State.VALID:
            raise SyncFailed(detail or _("The token is %(state)s.") % {"state": token.get_state_display()})
        claim_if_unclaimed(client, token, config)

        progress.set(10, _("Reading assets"))
        filters = {"adam_id": run.adam_id} if run.adam_id else {}
        paged_assets = client.iter_assets(**filters)
        assets: dict[tuple[str, str], Asset] = {}
        for asset in paged_assets:
            # The first record of an asset wins: an `unlimitedAssets` copy carries no counts.
            assets.setdefault((asset.adam_id, asset.pricing_param), asset)
        _check_mdm(token, paged_assets.mdm_info)
        snap.assets = assets

        progress.set(30, _("Reading store metadata"))
        adam_ids = sorted({adam_id for adam_id, _pricing in assets})
        platform = token.default_platform or (
            "volumestore" if token.account_type == VPPToken.AccountType.EDUCATION else "enterprisestore"
        )
        snap.metadata = _lookup_metadata(client, run, adam_ids, token.country_or_region, platform)

        progress.set(40, _("Reading assignments"))
        expected = sum(a.assigned_count for a in assets.values())
        if run.adam_id:
            snap.assignments_full = True
            paged = client.iter_assignments(adam_id=run.adam_id)
            snap.assignments_count = _spool_assignments(paged, spool, progress, 40, 80, expected)
        else:
            snap.assignments_full = _full_assignments_due(token, run)
            paged = None
            if not snap.assignments_full:
                paged = client.iter_assignments(since_version_id=token.assignments_version_id)
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
                paged = client.iter_assignments()
                snap.assignments_count = _spool_assignments(paged, spool, progress, 40, 80, expected)
            snap.assignments_version_id = paged.version_id
            _check_mdm(token, paged.mdm_info)
        snap.assignments_file = spool

        if not run.adam_id:
            progress.set(82, _("Reading users"))
            snap.users, snap.users_version_id = _read_users(client, token)
    return snap


def _read_users(client, token: VPPToken) -> tuple[dict[str, tuple[str, str, str]], str | None]:
    """Apple's records of the users this console created (T9); other products' users are skipped unread."""
    from assignments.models import VPPUser

    ours = set(VPPUser.objects.filter(vpp_token=token).values_list("client_user_id", flat=True))
    found: dict[str, tuple[str, str, str]] = {}
    paged = client.iter_users()
    for user in paged:
        if user.client_user_id not in ours:
            continue
        record = (user.status, user.invite_code or "", user.id_hash or "")
        previous = found.get(user.client_user_id)
        # Retired copies stay in Apple's history beside the one active record: the active one wins.
        if previous is None or previous[0] == "Retired":
            found[user.client_user_id] = record
    return found, paged.version_id


# --- applying (one transaction) -------------------------------------------------------------------------


APPLE_PRODUCT_TYPES = {"App": "app", "Book": "book"}
VPP_USER_STATUS = {"Registered": "registered", "Associated": "associated", "Retired": "retired"}


def _apply_asset(app, asset: Asset, meta: AppMetadata | None, country: str) -> None:
    from apps.models import App

    is_book = APPLE_PRODUCT_TYPES.get(asset.product_type, "app") == App.ProductType.BOOK
    app.product_type = App.ProductType.BOOK if is_book else App.ProductType.APP
    app.total_licenses = max(0, asset.total_count)
    app.used_licenses = max(0, asset.assigned_count)
    app.available_licenses = max(0, asset.available_count)
    app.retired_licenses = max(0, asset.retired_count)
    app.is_unlimited = asset.unlimited
    # A4: books are never assigned to devices.
    app.supports_device_licensing = bool(asset.device_assignable) and not is_book
    app.supports_user_licensing = True
    app.revocable = bool(asset.revocable) and not is_book
    platforms = list(asset.supported_platforms)
    if meta is not None:
        # T10: only an app found in the (new) store gets new metadata; otherwise the old metadata stays.
        app.name = meta.name[:300] or app.name
        app.bundle_id = (meta.bundle_id or app.bundle_id)[:300]
        app.version = (meta.version or app.version)[:100]
        app.icon_url = (meta.icon_url or app.icon_url)[:500]
        app.store_url = (meta.store_url or app.store_url)[:500]
        app.release_date = meta.release_date or app.release_date
        app.publisher = str(meta.raw.get("artistName") or app.publisher)[:300]
        app.is_custom_app = meta.is_custom_b2b
        app.metadata_country = country.upper()[:2]
        if not platforms:
            platforms = list(meta.platforms)
    if platforms:
        app.platforms = platforms


APP_FIELDS = [
    "product_type",
    "total_licenses",
    "used_licenses",
    "available_licenses",
    "retired_licenses",
    "is_unlimited",
    "supports_device_licensing",
    "supports_user_licensing",
    "revocable",
    "platforms",
    "name",
    "bundle_id",
    "version",
    "icon_url",
    "store_url",
    "release_date",
    "publisher",
    "is_custom_app",
    "metadata_country",
    "updated_at",
]


def _apply(token: VPPToken, run: SyncRun, snap: _Snapshot, progress: _Progress) -> dict[str, int]:
    """Write the whole snapshot; called inside one transaction."""
    from apps.models import App, AppleAssignment

    assert snap.assets is not None and snap.metadata is not None
    now = timezone.now()
    existing_qs = App.objects.filter(vpp_token=token)
    if run.adam_id:
        existing_qs = existing_qs.filter(adam_id=run.adam_id)
    existing = {(a.adam_id, a.pricing_param): a for a in existing_qs}
    created, updated = [], []
    for key, asset in snap.assets.items():
        app = existing.get(key)
        if app is None:
            app = App(vpp_token=token, adam_id=asset.adam_id, pricing_param=asset.pricing_param)
            _apply_asset(app, asset, snap.metadata.get(asset.adam_id), token.country_or_region)
            created.append(app)
        else:
            _apply_asset(app, asset, snap.metadata.get(asset.adam_id), token.country_or_region)
            app.updated_at = now
            updated.append(app)
    App.objects.bulk_create(created, batch_size=BATCH_SIZE)
    App.objects.bulk_update(updated, APP_FIELDS, batch_size=BATCH_SIZE)
    gone = [a.pk for key, a in existing.items() if key not in snap.assets]
    if gone:
        App.objects.filter(pk__in=gone).delete()

    app_ids = {
        (a.adam_id, a.pricing_param): a.pk
        for a in App.objects.filter(vpp_token=token).only("id", "adam_id", "pricing_param")
    }

    # Mirror of Apple's assignments: upserts in batches; a full read then sweeps what Apple no longer has.
    sweep_before = timezone.now()
    batch: list[AppleAssignment] = []

    def flush() -> None:
        AppleAssignment.objects.bulk_create(
            batch,
            update_conflicts=True,
            unique_fields=["vpp_token", "adam_id", "pricing_param", "serial_number", "client_user_id"],
            update_fields=["app", "updated_at"],
        )
        batch.clear()

    assert snap.assignments_file is not None
    for adam_id, pricing_param, serial, client_user_id in _read_spool(snap.assignments_file):
        batch.append(
            AppleAssignment(
                vpp_token=token,
                app_id=app_ids.get((adam_id, pricing_param)),
                adam_id=adam_id,
                pricing_param=pricing_param,
                serial_number=serial,
                client_user_id=client_user_id,
            )
        )
        if len(batch) >= BATCH_SIZE:
            flush()
    if batch:
        flush()
    if snap.assignments_full:
        stale = AppleAssignment.objects.filter(vpp_token=token, updated_at__lt=sweep_before)
        if run.adam_id:
            stale = stale.filter(adam_id=run.adam_id)
        stale.delete()

    users_count = _apply_users(token, snap.users or {})

    token.last_sync_at = timezone.now()
    token.last_sync_status = VPPToken.SyncStatus.COMPLETED
    fields = ["last_sync_at", "last_sync_status", "updated_at"]
    if not run.adam_id:
        if snap.assignments_version_id:
            token.assignments_version_id = snap.assignments_version_id
            fields.append("assignments_version_id")
        if snap.users_version_id:
            token.users_version_id = snap.users_version_id
            fields.append("users_version_id")
        if snap.assignments_full:
            token.last_full_sync_at = token.last_sync_at
            fields.append("last_full_sync_at")
    token.save(update_fields=fields)
    return {
        "assets_count": len(snap.assets),
        "apps_created": len(created),
        "apps_updated": len(updated),
        "apps_removed": len(gone),
        "assignments_count": snap.assignments_count,
        "users_count": users_count,
    }


def _apply_users(token: VPPToken, found: dict[str, tuple[str, str, str]]) -> int:
    from assignments.models import VPPUser

    if not found:
        return 0
    changed = []
    for vpp_user in VPPUser.objects.filter(vpp_token=token, client_user_id__in=list(found)):
        status, invite_code, id_hash = found[vpp_user.client_user_id]
        new_status = VPP_USER_STATUS.get(status)
        if new_status is None:
            continue
        if vpp_user.status == VPPUser.Status.RETIRED and new_status != VPPUser.Status.RETIRED:
            continue  # we retired it; an active record at Apple is Apple lagging, not a new user
        vpp_user.status = new_status
        vpp_user.invite_code = invite_code or vpp_user.invite_code
        vpp_user.id_hash = id_hash or vpp_user.id_hash
        changed.append(vpp_user)
    VPPUser.objects.bulk_update(
        changed, ["status", "invite_code", "id_hash", "updated_at"], batch_size=BATCH_SIZE
    )
    return len(found)


# --- token state -----------------------------------------------------------------------------------------


def _save_token_state(token: VPPToken, state: str, detail: str, *, config=None) -> None:
    before = audit.snapshot(token, ["state", "state_detail", "expires_at", "location_name"])
    token.state = state
    token.state_detail = (detail or "")[:500]
    fields = ["state", "state_detail", "updated_at"]
    if config is not None:
        if config.token_expiration:
            token.expires_at = config.token_expiration
        token.location_name = (config.location_name or token.location_name)[:200]
        token.default_platform = (config.default_platform or token.default_platform)[:32]
        token.website_url = config.website_url or token.website_url
        fields += ["expires_at", "location_name", "default_platform", "website_url"]
    token.save(update_fields=fields)
    after = audit.snapshot(token, ["state", "state_detail", "expires_at", "location_name"])
    if before != after:
        old, new = audit.changed(before, after)
        audit.record(actor=None, action="token.state", obj=token, before=old, after=new)


# --- running a sync ---------------------------------------------------------------------------------------


def run_sync(*, run_id: int) -> SyncRun:
    """Do the sync run `run_id` (the task calls this; tests may call it directly). Never raises for Apple
    errors: the run ends `completed` or `failed` with Apple's error number and message.
    """
    run = SyncRun.objects.select_related("vpp_token").get(pk=run_id)
    if run.status not in SyncRun.ACTIVE:
        return run  # already done (a redelivered task)
    token = run.vpp_token
    run.status = SyncRun.Status.RUNNING
    run.started_at = timezone.now()
    run.save(update_fields=["status", "started_at"])
    VPPToken.objects.filter(pk=token.pk).update(last_sync_status=VPPToken.SyncStatus.IN_PROGRESS)
    progress = _Progress(run)

    if not token.is_usable:
        # T5: an expired (or otherwise unusable) token makes no call at all.
        if token.state == VPPToken.State.VALID:
            _save_token_state(token, VPPToken.State.EXPIRED, "")
        return _fail(
            run,
            token,
            _("The token cannot be used (%(state)s); no call was made to Apple.")
            % {"state": token.get_state_display()},
        )

    spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8", prefix="vpp-sync-")  # noqa: SIM115
    try:
        snap = _read_apple(token, run, progress, spool)
        progress.set(90, _("Saving"))
        run.full = (snap.assignments_full and not run.adam_id) or run.full
        with transaction.atomic():
            counts = _apply(token, run, snap, progress)
            untracked_refresh(token=token)  # T9: untracked licenses follow Apple's assignments
    except _ExternalMdm as exc:
        detail = f"Managed by another MDM: {exc}"
        _save_token_state(token, VPPToken.State.ASSIGNED_TO_EXTERNAL_MDM, detail)
        return _fail(run, token, detail)
    except SyncFailed as exc:
        return _fail(run, token, exc.message, exc.number)
    except AppleError as exc:
        implied = state_from_error(exc)
        if implied is not None:
            _save_token_state(token, *implied)
        return _fail(run, token, exc.message or str(exc), exc.number)
    except Exception as exc:  # any fault ends the run visibly; the data stays as it was
        logger.exception("sync run %s failed", run.pk)
        return _fail(run, token, f"{type(exc).__name__}: {exc}")
    finally:
        spool.close()

    for name, value in counts.items():
        setattr(run, name, value)
    run.status = SyncRun.Status.COMPLETED
    run.progress = 100
    run.stage = _("Completed")
    run.finished_at = timezone.now()
    run.save(update_fields=[*counts, "status", "progress", "stage", "finished_at", "full"])
    audit.record(actor=None, action="sync.complete", obj=run, after=counts)
    return run


def _fail(run: SyncRun, token: VPPToken, message: str, number: int | None = None) -> SyncRun:
    run.status = SyncRun.Status.FAILED
    run.error = message
    run.error_number = number
    run.stage = _("Failed")
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "error_number", "stage", "finished_at", "full"])
    VPPToken.objects.filter(pk=token.pk).update(
        last_sync_status=VPPToken.SyncStatus.FAILED, last_sync_at=run.finished_at
    )
    audit.record(actor=None, action="sync.fail", obj=run, after={"error_number": number, "error": message})
    return run


def active_run(token: VPPToken) -> SyncRun | None:
    """The queued or running sync of `token`, if any."""
    return SyncRun.objects.filter(vpp_token=token, status__in=SyncRun.ACTIVE).first()


__all__: Iterable[str] = ["SyncFailed", "active_run", "request_sync", "run_sync"]
