"""Every write to the catalogue (`App`), its license counts and the mirror of Apple's assignments
(`AppleAssignment`) goes through these functions.

Callers are the sync engine and Apple's notifications (`applesync`) and the completion of the console's own
requests (`assignments.events`); they pass the typed values of `vpp.types`, never Apple's raw JSON.

Counts follow the mirror: a mirror row that really appears (or disappears) moves `used`/`available` by one,
so a notification, a status poll and a duplicate of either move the counts exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.models import App, AppleAssignment
from apps.signals import send_versions_changed
from apps.staging import STAGE_GONE, SWITCH_BATCH, MirrorStage, insert_rows, spool_rows, stage_line
from vpp.types import AppMetadata, Asset, Assignment

# The sync's staged write of the mirror lives in apps.staging; callers reach it here.
__all__ = ["STAGE_GONE", "SWITCH_BATCH", "MirrorStage", "insert_rows", "spool_rows", "stage_line"]

BATCH_SIZE = 2000
APPLE_PRODUCT_TYPES = {"App": "app", "Book": "book"}

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


# --- the sync: the catalogue and the mirror as Apple reports them -------------------------------------------


@dataclass(frozen=True)
class CatalogueChanges:
    created: int
    updated: int
    removed: int
    app_ids: dict[tuple[str, str], int]  # (adamId, pricingParam) → App id, after the write


def _apply_asset(app: App, asset: Asset, meta: AppMetadata | None, country: str) -> None:
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


def catalogue_sync(
    *,
    token,
    assets: dict[tuple[str, str], Asset],
    metadata: dict[str, AppMetadata],
    country: str,
    adam_id: str = "",
) -> CatalogueChanges:
    """Make the token's apps (or the one asset `adam_id`) what Apple reported; call inside the sync's
    transaction. Only apps whose counts or metadata changed are written; apps Apple no longer lists are
    deleted with their rows."""
    now = timezone.now()
    existing_qs = App.objects.filter(vpp_token=token)
    if adam_id:
        existing_qs = existing_qs.filter(adam_id=adam_id)
    existing = {(a.adam_id, a.pricing_param): a for a in existing_qs}
    created, updated = [], []
    newer: list[int] = []
    for key, asset in assets.items():
        app = existing.get(key)
        if app is None:
            app = App(vpp_token=token, adam_id=asset.adam_id, pricing_param=asset.pricing_param)
            _apply_asset(app, asset, metadata.get(asset.adam_id), country)
            created.append(app)
        else:
            before = [getattr(app, name) for name in APP_FIELDS[:-1]]
            old_version = app.version
            _apply_asset(app, asset, metadata.get(asset.adam_id), country)
            if [getattr(app, name) for name in APP_FIELDS[:-1]] == before:
                continue  # counts and metadata as Apple reports them already: no write
            app.updated_at = now
            updated.append(app)
            if old_version and app.version != old_version:
                newer.append(app.pk)
    App.objects.bulk_create(created, batch_size=BATCH_SIZE)
    App.objects.bulk_update(updated, APP_FIELDS, batch_size=BATCH_SIZE)
    if newer and token.automatic_app_updates:
        send_versions_changed(newer)  # T11: deployment pushes the update to the devices that have the app
    gone = [a.pk for key, a in existing.items() if key not in assets]
    if gone:
        App.objects.filter(pk__in=gone).delete()
    app_ids = {
        (a.adam_id, a.pricing_param): a.pk
        for a in App.objects.filter(vpp_token=token).only("id", "adam_id", "pricing_param")
    }
    return CatalogueChanges(len(created), len(updated), len(gone), app_ids)


# --- near real time: notifications and the completion of our own requests ---------------------------------


def app_for_update(*, token, adam_id: str, pricing_param: str) -> App | None:
    """The app of (token, asset), row-locked until the end of the caller's transaction."""
    return (
        App.objects.select_for_update()
        .filter(vpp_token=token, adam_id=adam_id, pricing_param=pricing_param or "STDQ")
        .first()
    )


def count_change(*, token, adam_id: str, pricing_param: str, delta: int) -> str | None:
    """Apple bought (or took back) `delta` licenses of an asset (ASSET_COUNT). Returns a summary, or None
    when the change does not fit what we hold (unknown asset, counts below zero): then a sync is due."""
    app = app_for_update(token=token, adam_id=adam_id, pricing_param=pricing_param)
    if app is None:
        return None
    if app.is_unlimited:
        return "unlimited asset: no count change"
    if app.total_licenses + delta < 0 or app.available_licenses + delta < 0:
        return None
    App.objects.filter(pk=app.pk).update(
        total_licenses=F("total_licenses") + delta,
        available_licenses=F("available_licenses") + delta,
        updated_at=timezone.now(),
    )
    return f"{adam_id}: total {delta:+d}"


Target = tuple[str, str]  # (serial number, client user id): one of them is set


def mirror_add(
    *, token_id: int, app_id: int | None, adam_id: str, pricing_param: str, targets: Iterable[Target]
) -> int:
    """Record assignments of one asset at Apple (`app_id` None for an asset we do not hold); how many rows
    are new. A row already there (a duplicate notification, a poll after the notification, a sync) counts 0:
    one statement per hundred rows (`staging.insert_rows`), not one per assignment."""
    return insert_rows(
        token_id=token_id, app_id=app_id, adam_id=adam_id, pricing_param=pricing_param, targets=targets
    )


def mirror_remove(*, token_id: int, adam_id: str, pricing_param: str, targets: Iterable[Target]) -> int:
    """Forget assignments of one asset at Apple; how many rows went."""
    wanted = set(targets)
    serials = [serial for serial, cid in wanted if serial and not cid]
    cids = [cid for serial, cid in wanted if cid and not serial]
    match = Q(serial_number__in=serials, client_user_id="") | Q(client_user_id__in=cids, serial_number="")
    for serial, cid in wanted:  # neither or both set: not what Apple sends, matched exactly all the same
        if bool(serial) == bool(cid):
            match |= Q(serial_number=serial, client_user_id=cid)
    rows = AppleAssignment.objects.filter(vpp_token_id=token_id, adam_id=adam_id, pricing_param=pricing_param)
    return rows.filter(match).delete()[0] if wanted else 0


def mirror_apply(*, token, assignments: Iterable[Assignment], sign: int) -> Counter:
    """Add (sign 1) or remove (sign -1) the assignments Apple reported done; the count change per
    (adamId, pricingParam) implied by the rows that really appeared or disappeared. One statement per asset
    (per hundred rows), not one per assignment: a notification carries up to a hundred."""
    by_asset: dict[tuple[str, str], set[Target]] = {}
    for item in assignments:
        by_asset.setdefault((item.adam_id, item.pricing_param), set()).add(
            (item.serial_number or "", item.client_user_id or "")
        )
    deltas: Counter = Counter()
    for (adam_id, pricing_param), targets in by_asset.items():
        if sign > 0:
            app = app_for_update(token=token, adam_id=adam_id, pricing_param=pricing_param)
            changed = mirror_add(
                token_id=token.pk,
                app_id=app.pk if app else None,
                adam_id=adam_id,
                pricing_param=pricing_param,
                targets=targets,
            )
        else:
            changed = mirror_remove(
                token_id=token.pk, adam_id=adam_id, pricing_param=pricing_param, targets=targets
            )
        if changed:
            deltas[(adam_id, pricing_param)] += sign * changed
    return deltas


def counts_assigned(*, token, adam_id: str, pricing_param: str, delta: int) -> bool:
    """`delta` more licenses of an asset are in use (fewer when negative), checked against what we hold:
    False (nothing written) when the asset is unknown or a count would go negative, so a sync is due."""
    app = app_for_update(token=token, adam_id=adam_id, pricing_param=pricing_param)
    if app is None:
        return False
    used = app.used_licenses + delta
    available = app.available_licenses - delta
    if used < 0 or available < 0:
        return False
    App.objects.filter(pk=app.pk).update(
        used_licenses=used, available_licenses=available, updated_at=timezone.now()
    )
    return True


def counts_move(app_deltas: Counter) -> None:
    """+n assigned for an app id: used += n, available -= n (the reverse for negative n), never below 0."""
    for app_id, n in app_deltas.items():
        if n:
            App.objects.filter(pk=app_id).update(
                used_licenses=Greatest(F("used_licenses") + n, Value(0)),
                available_licenses=Greatest(F("available_licenses") - n, Value(0)),
            )
