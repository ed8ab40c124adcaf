"""The sync engine against the Apple simulator over real HTTP (T5-T12, A1, A4, A5, B8)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from applesync.sync import run_sync
from apps.models import App, AppleAssignment
from assignments.models import VPPUser
from tests import factories
from tokens.models import SyncRun, VPPToken
from tokens.sync import request_sync

pytestmark = pytest.mark.django_db

HQ = {"org_name": "Contoso Ltd", "location_name": "Contoso HQ"}


def connect(apple, *, claim: bool = True, **fields) -> VPPToken:
    """A token row for the demo HQ location, claimed by us in the simulator (as token_create would)."""
    content = apple.mint_token(**HQ)
    uid = apple.uid_of(content)
    token = factories.VPPTokenFactory(token_content=content, location_uid=uid, **fields)
    if claim:
        apple.set_mdm_info(uid, id=str(token.mdm_info_id), name="VPP Console", metadata="tests")
    return token


def sync(token, **kwargs) -> SyncRun:
    run, created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, **kwargs)
    assert created
    return run_sync(run_id=run.pk)


def apple_assignments(apple, uid) -> set[tuple[str, str, str, str]]:
    return {
        (a["adamId"], a["pricingParam"], a.get("serialNumber", ""), a.get("clientUserId", ""))
        for a in apple.location(uid, include_assignments=True)["assignments"]
    }


def mirror(token) -> set[tuple[str, str, str, str]]:
    return set(
        AppleAssignment.objects.filter(vpp_token=token).values_list(
            "adam_id", "pricing_param", "serial_number", "client_user_id"
        )
    )


def test_t6_first_full_sync_creates_every_asset_with_counts_and_metadata(apple):
    token = connect(apple)
    run = sync(token)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert run.progress == 100 and run.started_at and run.finished_at and run.full
    apple_assets = apple.location(token.location_uid)["assets"]
    assert run.assets_count == len(apple_assets) == App.objects.filter(vpp_token=token).count()
    assert run.apps_created == len(apple_assets)
    for asset in apple_assets:
        app = App.objects.get(vpp_token=token, adam_id=asset["adamId"], pricing_param=asset["pricingParam"])
        assert app.total_licenses == asset["totalCount"]
        assert app.used_licenses == asset["assignedCount"]
        assert app.available_licenses == asset["availableCount"]
        assert app.is_unlimited == asset["unlimited"]
    garageband = App.objects.get(vpp_token=token, adam_id="408709785")
    assert garageband.name == "GarageBand"
    assert garageband.bundle_id == "com.apple.mobilegarageband"
    assert garageband.version and garageband.icon_url and garageband.release_date
    assert garageband.store_url.startswith("https://apps.apple.com/us/")
    assert garageband.metadata_country == "US"
    assert garageband.platforms == ["iOS"]
    assert App.objects.get(vpp_token=token, adam_id="6478012345").is_custom_app  # A1: custom B2B app
    assert App.objects.get(vpp_token=token, adam_id="1113153706").is_unlimited
    assert mirror(token) == apple_assignments(apple, token.location_uid)
    assert run.assignments_count == len(mirror(token))
    token.refresh_from_db()
    assert token.last_sync_status == VPPToken.SyncStatus.COMPLETED
    assert token.last_sync_at and token.last_full_sync_at
    assert token.assignments_version_id


def test_a4_books_are_never_device_assignable(apple):
    token = connect(apple)
    sync(token)
    book = App.objects.get(vpp_token=token, adam_id="881256329")
    assert book.product_type == App.ProductType.BOOK
    assert not book.supports_device_licensing
    assert book.supports_user_licensing


def test_t6_incremental_sync_reads_since_the_stored_version(apple):
    token = connect(apple)
    sync(token)
    token.refresh_from_db()
    first_version = token.assignments_version_id
    # Another license is assigned at Apple, then an incremental sync.
    from tokens.apple import client_for

    with client_for(token) as client:
        client.associate_assets(["408709785"], serial_numbers=["NEWSERIAL01"])
    assert apple.wait_idle()
    run = sync(token)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert not run.full
    assert ("408709785", "STDQ", "NEWSERIAL01", "") in mirror(token)
    token.refresh_from_db()
    assert token.assignments_version_id != first_version


def test_t6_full_sync_removes_mirror_rows_apple_no_longer_has(apple):
    token = connect(apple)
    sync(token)
    AppleAssignment.objects.create(vpp_token=token, adam_id="408709785", serial_number="GONE0001")
    run = sync(token, full=True)
    assert run.full
    assert mirror(token) == apple_assignments(apple, token.location_uid)


def test_b8_sync_now_while_a_sync_runs_returns_the_running_run(apple):
    token = connect(apple)
    first, created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
    second, created_again = request_sync(token=token, trigger=SyncRun.Trigger.SCHEDULE)
    assert created and not created_again
    assert second.pk == first.pk
    assert SyncRun.objects.filter(vpp_token=token).count() == 1


def test_t5_expired_token_makes_no_call_and_fails_the_run(apple):
    token = connect(apple, expires_at=timezone.now() - timezone.timedelta(days=1))
    apple.add_fault("internal_error", count=100)  # any call to Apple would fail differently
    run = sync(token)
    assert run.status == SyncRun.Status.FAILED
    assert "no call was made" in str(run.error)
    token.refresh_from_db()
    assert token.state == VPPToken.State.EXPIRED
    assert len(apple.state.faults) == 1 and apple.state.faults[0].count == 100


def test_t8_token_revoked_mid_sync_fails_the_run_and_keeps_the_data(apple, monkeypatch):
    token = connect(apple)
    sync(token)
    before = (App.objects.filter(vpp_token=token).count(), mirror(token))
    from vpp.client import VPPClient

    original = VPPClient.lookup_metadata

    def lookup_then_revoke(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        apple.set_token_state(token.location_uid, "revoked")
        return result

    monkeypatch.setattr(VPPClient, "lookup_metadata", lookup_then_revoke)
    run = sync(token, full=True)
    assert run.status == SyncRun.Status.FAILED
    assert run.error_number == 9625
    assert (App.objects.filter(vpp_token=token).count(), mirror(token)) == before
    token.refresh_from_db()
    assert token.state == VPPToken.State.REVOKED
    assert token.last_sync_status == VPPToken.SyncStatus.FAILED


def test_rate_limited_and_503_sync_still_completes(apple):
    token = connect(apple)
    apple.add_fault("rate_limit", count=1, path="assets")
    apple.add_fault("unavailable", count=1, path="assignments")
    apple.add_fault("internal_error", count=1, path="users")
    run = sync(token)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert apple.state.faults == []
    assert mirror(token) == apple_assignments(apple, token.location_uid)


def test_apple_failing_beyond_retries_fails_with_apples_error_and_keeps_data(apple, monkeypatch):
    monkeypatch.setattr("vpp.client.BACKOFF_BASE", 0.001)  # the same bounded retries, without the waiting
    token = connect(apple)
    sync(token)
    before = mirror(token)
    apple.add_fault("internal_error", count=50, path="assignments")
    run = sync(token, full=True)
    assert run.status == SyncRun.Status.FAILED
    assert run.error_number == 9603
    assert mirror(token) == before
    token.refresh_from_db()
    assert token.state == VPPToken.State.VALID


def test_version_id_changing_mid_walk_restarts_without_duplicates(apple):
    apple.update_settings(page_size=7)
    token = connect(apple)
    apple.add_fault("bump_version", count=1, path="assignments")
    run = sync(token)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert mirror(token) == apple_assignments(apple, token.location_uid)
    assert run.assignments_count == len(mirror(token))


def test_t4_another_mdm_taking_the_token_stops_syncs_and_deletes_nothing(apple):
    token = connect(apple)
    sync(token)
    apps_before, mirror_before = App.objects.filter(vpp_token=token).count(), mirror(token)
    apple.set_mdm_info(token.location_uid, id="someone-else", name="Other MDM", metadata="mdm.example.com")
    run = sync(token)
    assert run.status == SyncRun.Status.FAILED
    assert "Other MDM" in str(run.error)
    token.refresh_from_db()
    assert token.state == VPPToken.State.ASSIGNED_TO_EXTERNAL_MDM
    assert (App.objects.filter(vpp_token=token).count(), mirror(token)) == (apps_before, mirror_before)
    # Syncs stop: the scheduled sync skips it, and a requested one fails without calling Apple.
    from tokens.tasks import sync_all_tokens

    assert sync_all_tokens() == 0
    assert sync(token).status == SyncRun.Status.FAILED


def test_t10_country_change_refreshes_metadata_and_keeps_it_for_apps_missing_from_the_new_store(apple):
    token = connect(apple)
    sync(token)
    notability = App.objects.get(vpp_token=token, adam_id="360593530")
    old_url = notability.store_url
    assert "/us/" in old_url
    token.country_or_region = "DE"
    token.save()
    run = sync(token)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    garageband = App.objects.get(vpp_token=token, adam_id="408709785")
    assert "/de/" in garageband.store_url and garageband.metadata_country == "DE"
    notability.refresh_from_db()
    assert notability.store_url == old_url
    assert notability.name.startswith("Notability")
    assert notability.metadata_country == "US"


def test_apps_apple_no_longer_lists_are_removed_and_counted(apple):
    token = connect(apple)
    sync(token)
    factories.AppFactory(vpp_token=token, adam_id="999999999")
    run = sync(token)
    assert run.apps_removed == 1
    assert not App.objects.filter(vpp_token=token, adam_id="999999999").exists()


def test_t9_only_users_this_console_created_are_synced(apple):
    token = connect(apple)
    ours = VPPUser.objects.create(
        vpp_token=token,
        user=factories.DirectoryUserFactory(),
        client_user_id="hq-user-003",
        status=VPPUser.Status.PENDING,
    )
    run = sync(token)
    assert run.users_count == 1
    ours.refresh_from_db()
    assert ours.status == VPPUser.Status.REGISTERED and ours.invite_code
    assert VPPUser.objects.filter(vpp_token=token).count() == 1  # Apple's other users were not imported


def test_t12_same_app_on_two_tokens_is_two_apps(apple):
    hq = connect(apple)
    content = apple.mint_token(org_name="Contoso Ltd", location_name="Contoso Schools")
    schools = factories.VPPTokenFactory(token_content=content, location_uid=apple.uid_of(content))
    apple.set_mdm_info(schools.location_uid, id=str(schools.mdm_info_id), name="VPP Console", metadata="t")
    sync(hq)
    sync(schools)
    assert App.objects.filter(adam_id="408709785").count() == 2
    assert {a.vpp_token_id for a in App.objects.filter(adam_id="408709785")} == {hq.pk, schools.pk}


def test_single_asset_sync_touches_only_that_asset(apple):
    token = connect(apple)
    sync(token)
    App.objects.filter(vpp_token=token).update(total_licenses=1)
    run = sync(token, adam_id="408709785")
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert run.assets_count == 1
    assert App.objects.get(vpp_token=token, adam_id="408709785").total_licenses == 50
    assert App.objects.get(vpp_token=token, adam_id="361304891").total_licenses == 1


def test_beat_schedule_names_registered_tasks(settings):
    from config.celery_app import app

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, entry["task"]


def test_sync_all_tokens_requests_a_sync_for_every_valid_token(db, django_capture_on_commit_callbacks):
    valid = factories.VPPTokenFactory()
    factories.VPPTokenFactory(state=VPPToken.State.REVOKED)
    factories.VPPTokenFactory(expires_at=timezone.now() - timezone.timedelta(days=2))
    from tokens.tasks import sync_all_tokens

    with django_capture_on_commit_callbacks() as callbacks:
        assert sync_all_tokens() == 1
    assert list(SyncRun.objects.values_list("vpp_token_id", "trigger")) == [(valid.pk, "schedule")]
    assert len(callbacks) == 1


@pytest.mark.worker
def test_b8_sync_runs_through_a_real_celery_worker(apple, celery_worker):
    import time

    token = connect(apple)
    run, _created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status not in SyncRun.ACTIVE:
            break
        time.sleep(0.05)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert App.objects.filter(vpp_token=token).count() == run.assets_count > 0


def test_large_location_syncs_in_batches(apple):
    """10,000 assignments stream through the spool file and batched upserts (the same path as a million)."""
    apple.update_settings(page_size=1000)
    content = apple.generate_location(
        org_name="Big Org", location_name="Big Campus", assets=40, assignments=10000, users=5
    )
    token = factories.VPPTokenFactory(token_content=content, location_uid=apple.uid_of(content))
    apple.set_mdm_info(token.location_uid, id=str(token.mdm_info_id), name="VPP Console", metadata="t")
    run = sync(token)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert run.assignments_count == 10000 == AppleAssignment.objects.filter(vpp_token=token).count()
    assert run.assets_count == 40


def test_b8_progress_and_stage_are_visible_while_the_run_goes(apple, monkeypatch):
    token = connect(apple)
    from vpp.client import VPPClient

    seen = []
    original = VPPClient.lookup_metadata

    def spy(self, *args, **kwargs):
        row = SyncRun.objects.filter(vpp_token=token).values("status", "progress", "stage").get()
        seen.append({**row, "stage": str(row["stage"])})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(VPPClient, "lookup_metadata", spy)
    run = sync(token)
    assert seen == [{"status": "running", "progress": 30, "stage": "Reading store metadata"}]
    token.refresh_from_db()
    assert run.progress == 100 and token.last_sync_status == VPPToken.SyncStatus.COMPLETED


def test_t5_check_all_tokens_checks_every_token_with_apple(apple):
    connect(apple)
    from tokens.tasks import check_all_tokens

    assert check_all_tokens() == 1


def test_b8_sync_now_on_a_lost_run_starts_a_new_one(apple, settings):
    """A run whose heartbeat stopped (its worker died) no longer locks the token: Sync now ends it as lost and
    queues a new run; a running run whose heartbeat is recent still locks it."""
    from datetime import timedelta

    from django.utils import timezone

    token = connect(apple)
    stuck, _ = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, full=True)
    long_ago = timezone.now() - timedelta(seconds=settings.RUN_LOST_AFTER_SECONDS + 5)
    SyncRun.objects.filter(pk=stuck.pk).update(
        status=SyncRun.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago
    )
    fresh, created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
    assert created and fresh.pk != stuck.pk
    stuck.refresh_from_db()
    assert stuck.status == SyncRun.Status.FAILED and stuck.finished_at
    assert "worker running this stopped" in str(stuck.error)
    # A running run with a recent heartbeat still locks the token.
    SyncRun.objects.filter(pk=fresh.pk).update(status=SyncRun.Status.RUNNING, heartbeat_at=timezone.now())
    again, created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
    assert not created and again.pk == fresh.pk


def test_t10_store_lookup_down_still_syncs_licenses_and_keeps_metadata(apple):
    """The metadata lookup is a separate Apple service: its failure must not stop counts and assignments."""
    token = connect(apple)
    assert sync(token).status == SyncRun.Status.COMPLETED
    garageband = App.objects.get(vpp_token=token, adam_id="408709785")
    name, total = garageband.name, garageband.total_licenses
    apple.change_count(token.location_uid, "408709785", 5)
    apple.add_fault("internal_error", count=50, path="MZStorePlatform")
    run = sync(token)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert "metadata" in str(run.warning) and "9603" in str(run.warning)
    garageband.refresh_from_db()
    assert garageband.total_licenses == total + 5
    assert garageband.name == name


def test_t8_location_with_no_mdm_info_is_claimed_again_not_called_foreign(apple):
    """No mdmInfo at Apple means nobody claims the location: the sync writes ours again and carries on."""
    token = connect(apple)
    apple.state.set_mdm_info(token.location_uid, None)
    run = sync(token)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    token.refresh_from_db()
    assert token.state == VPPToken.State.VALID
    assert apple.location(token.location_uid)["mdmInfo"]["id"] == str(token.mdm_info_id)


def _requests_of(run) -> int:
    from console.models import AuditEntry

    entry = AuditEntry.objects.filter(action="sync.complete", object_id=str(run.pk)).get()
    return entry.after["apple_requests"]


def test_t6_incremental_sync_applies_removals_apple_made_since_the_last_sync(apple):
    """Apple's deltas carry no tombstones: an asset whose count no longer matches the mirror is re-read."""
    token = connect(apple)
    sync(token)
    gone = next(a for a in mirror(token) if a[2])  # a device assignment
    from tokens.apple import client_for

    with client_for(token) as client:
        client.disassociate_assets([gone[0]], serial_numbers=[gone[2]])
    assert apple.wait_idle()
    run = sync(token)
    assert run.status == SyncRun.Status.COMPLETED, run.error
    assert not run.full
    assert gone not in mirror(token)
    assert mirror(token) == apple_assignments(apple, token.location_uid)


def test_t6_incremental_sync_reads_users_since_the_stored_version(apple):
    """The users' versionId is passed back: an unchanged location costs one page of users, not all of them."""
    apple.update_settings(page_size=2)
    token = connect(apple)
    for cid in ["hq-user-001", "hq-user-002", "hq-user-003"]:
        VPPUser.objects.create(
            vpp_token=token, user=factories.DirectoryUserFactory(), client_user_id=cid, status="registered"
        )
    sync(token)
    full = sync(token, full=True)  # the baseline: the service config is cached by now, as for the next one
    token.refresh_from_db()
    assert token.users_version_id
    users_pages = -(-len(apple.location(token.location_uid)["users"]) // 2)
    assert users_pages >= 2
    incremental = sync(token)
    assert incremental.status == SyncRun.Status.COMPLETED, incremental.error
    assert not incremental.full
    # The same asset pages and lookups; one (empty) page of assignments and one of users instead of all.
    assignment_pages = -(-len(mirror(token)) // 2)
    assert _requests_of(full) - _requests_of(incremental) == (assignment_pages - 1) + (users_pages - 1)
    at_apple = {
        u["clientUserId"]: u["status"].lower()
        for u in apple.location(token.location_uid)["users"]
        if u["status"] != "Retired"
    }
    ours = dict(VPPUser.objects.filter(vpp_token=token).values_list("client_user_id", "status"))
    assert ours == {cid: at_apple[cid] for cid in ours}
