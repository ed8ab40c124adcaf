"""One run model, one runner (B8): every background run is a `console.models.Run` row with status, progress,
counts that add up, durations in words, Apple's error number on failure; sync-runs/ and license-runs/ keep
their shape; a directory import is a recorded run; runs whose worker was lost are ended and started again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from applesync.sync import run_sync
from assignments.models import LicenseRun
from console import runs
from console.durations import duration_text
from console.models import Run
from directory.models import DirectoryUser
from tests import factories
from tests.tokens.test_sync import connect
from tokens.models import SyncRun, VPPToken
from tokens.sync import request_sync

pytestmark = pytest.mark.django_db

SYNC_RUN_FIELDS = {
    "id",
    "vpp_token",
    "trigger",
    "status",
    "progress",
    "stage",
    "full",
    "created_at",
    "started_at",
    "finished_at",
    "error",
    "error_number",
    "warning",
    "assets_count",
    "apps_created",
    "apps_updated",
    "apps_removed",
    "assignments_count",
    "users_count",
}
LICENSE_RUN_FIELDS = {
    "id",
    "kind",
    "status",
    "progress",
    "vpp_token",
    "app",
    "user",
    "device",
    "assignment",
    "total",
    "succeeded",
    "failed",
    "summary",
    "error_number",
    "error",
    "requested_by",
    "created_at",
    "started_at",
    "finished_at",
}


# --- failures carry Apple's error number -----------------------------------------------------------------


def test_b8_failing_sync_ends_the_run_failed_with_apples_error_number(
    apple, admin_api, admin_web, monkeypatch
):
    monkeypatch.setattr("vpp.client.BACKOFF_BASE", 0.001)  # the same bounded retries, without the waiting
    token = connect(apple)
    apple.add_fault("internal_error", count=50, path="assignments")
    queued, created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, full=True)
    assert created and queued.status == Run.Status.QUEUED and queued.heartbeat_at
    run = run_sync(run_id=queued.pk)

    row = Run.objects.get(pk=run.pk)
    assert (row.kind, row.status, row.error_number) == ("sync", Run.Status.FAILED, 9603)
    assert row.error and row.started_at and row.finished_at >= row.started_at
    assert str(row.stage) == "Failed" and not row.is_active
    token.refresh_from_db()
    assert token.last_sync_status == VPPToken.SyncStatus.FAILED
    body = admin_api.get(f"/api/v1/sync-runs/{run.pk}/").json()
    assert (body["status"], body["error_number"], body["full"]) == ("failed", 9603, True)
    assert body["error"] == str(row.error)
    page = admin_web.get(reverse("run", args=[run.pk])).content.decode()
    assert "Apple error 9603" in page and "hx-trigger" not in page
    # The token is not locked by the failed run: the next sync starts.
    _next, created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
    assert created


def test_b8_a_crash_in_the_work_fails_the_run_instead_of_leaving_it_running(apple, monkeypatch):
    token = connect(apple)

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("applesync.sync._apply", explode)
    queued, _created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
    run = run_sync(run_id=queued.pk)
    assert run.status == Run.Status.FAILED and run.error == "RuntimeError: disk full"
    assert run.error_number is None and run.finished_at


# --- durations in words ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "english", "chinese"),
    [
        (0.05605, "under 1 s", "不到 1 秒"),
        (12, "12 s", "12 秒"),
        (64, "1 min 4 s", "1 分 4 秒"),
        (180, "3 min", "3 分"),
        (3900, "1 h 5 min", "1 小时 5 分"),
        (7200, "2 h", "2 小时"),
        (90000, "1 d 1 h", "1 天 1 小时"),
    ],
)
def test_b8_durations_read_as_people_read_them(seconds, english, chinese):
    with translation.override("en"):
        assert duration_text(timedelta(seconds=seconds)) == english
    with translation.override("zh-hans"):
        assert duration_text(timedelta(seconds=seconds)) == chinese
    assert duration_text(None) == ""


def test_b8_run_pages_show_the_duration_in_words_in_both_languages(admin_web):
    token = factories.VPPTokenFactory(name="Durations")
    started = timezone.now() - timedelta(minutes=5)
    run = SyncRun.objects.create(
        vpp_token=token,
        trigger="manual",
        status="completed",
        progress=100,
        started_at=started,
        finished_at=started + timedelta(seconds=64, microseconds=56050),
    )
    for url in (
        reverse("run", args=[run.pk]),
        reverse("tokens:sync-run", args=[run.pk]),
        reverse("tokens:detail", args=[token.pk]),
        reverse("tokens:sync-runs"),
        reverse("runs"),
    ):
        page = admin_web.get(url).content.decode()
        assert "1 min 4 s" in page, url
        assert "0:01:04" not in page, url
    csv = b"".join(admin_web.get(reverse("runs") + "?export=csv").streaming_content).decode()
    assert "1 min 4 s" in csv
    admin_web.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = admin_web.get(reverse("run", args=[run.pk])).content.decode()
    assert "1 分 4 秒" in page


# --- counts that add up ----------------------------------------------------------------------------------


def test_b8_a_run_shows_what_is_not_done_yet_as_pending():
    run = LicenseRun.objects.create(kind="revoke_app", status="running", total=31, failed=8, skipped=3)
    assert run.pending == 20
    from django.template.loader import render_to_string

    with translation.override("en"):
        html = render_to_string("console/partials/run_progress.html", {"run": run})
    assert "Total 31 · Succeeded 0 · Failed 8 · Skipped 3 · Pending 20" in " ".join(html.split())


# --- directory imports are runs --------------------------------------------------------------------------


def _csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("import.csv", text.encode(), content_type="text/csv")


def test_b8_directory_import_is_recorded_as_a_run_with_its_counts(admin_api, administrator, admin_web):
    factories.DirectoryUserFactory(user_principal_name="old@example.com", display_name="Old")
    content = (
        "user_principal_name,display_name\nold@example.com,Old\nnew@example.com,New\nnext@example.com,Next\n"
    )
    response = admin_api.post(
        "/api/v1/users/import/", {"file": _csv(content), "confirm": "true"}, format="multipart"
    )
    assert response.status_code == 201, response.content
    run = Run.objects.get(kind="directory_import")
    assert response.json()["run"] == run.pk
    assert run.status == Run.Status.COMPLETED and run.requested_by == administrator
    assert (run.total, run.succeeded, run.failed, run.skipped) == (3, 2, 0, 1)
    assert run.counts == {"create": 2, "update": 0, "add": 0, "unchanged": 1}
    assert run.summary == {"import": "users"} and run.trigger == "manual"
    assert run.started_at and run.finished_at
    page = admin_web.get(reverse("run", args=[run.pk])).content.decode()
    assert "Directory import" in page and "Created 2" in page and "Unchanged 1" in page
    assert DirectoryUser.objects.count() == 3


def test_b8_a_refused_import_is_recorded_failed_and_imports_nothing(admin_api):
    content = "serial_number,platform\nSN1,iPadOS\nSN2,Android\n"
    response = admin_api.post(
        "/api/v1/devices/import/", {"file": _csv(content), "confirm": "true"}, format="multipart"
    )
    assert response.status_code == 400
    run = Run.objects.get(kind="directory_import")
    assert run.status == Run.Status.FAILED and "Row 3:" in str(run.error)
    assert (run.total, run.failed, run.succeeded) == (2, 1, 0)
    assert run.counts == {}
    from directory.models import Device

    assert not Device.objects.exists()


def test_b8_import_through_the_page_is_recorded_too(admin_web):
    url = reverse("directory:import")
    admin_web.post(
        url, {"kind": "users", "file": _csv("user_principal_name,display_name\nu@example.com,U\n")}
    )
    admin_web.post(url, {"confirm": "1"})
    assert DirectoryUser.objects.filter(user_principal_name="u@example.com").exists()
    run = Run.objects.get(kind="directory_import")
    assert run.status == "completed" and run.succeeded == 1


# --- the API keeps its shapes ------------------------------------------------------------------------------


def test_b8_sync_runs_api_keeps_its_fields_and_values(apple, admin_api):
    token = connect(apple)
    run = run_sync(run_id=request_sync(token=token, trigger=SyncRun.Trigger.MANUAL, full=True)[0].pk)
    assert run.status == "completed", run.error
    LicenseRun.objects.create(kind="reconcile", vpp_token=token)  # not a sync: not listed
    body = admin_api.get("/api/v1/sync-runs/").json()
    assert body["count"] == 1
    item = body["results"][0]
    assert set(item) == SYNC_RUN_FIELDS
    assert item["id"] == run.pk and item["vpp_token"] == token.pk
    assert (item["trigger"], item["status"], item["progress"], item["full"]) == (
        "manual",
        "completed",
        100,
        True,
    )
    assert item["assets_count"] == run.assets_count == len(apple.location(token.location_uid)["assets"])
    assert item["apps_created"] == item["assets_count"] and item["apps_updated"] == 0
    assert item["assignments_count"] == run.counts["assignments_count"] > 0
    assert item["error"] == "" and item["error_number"] is None and item["finished_at"]
    assert admin_api.get("/api/v1/sync-runs/?trigger=manual&status=completed").json()["count"] == 1
    response = admin_api.post(f"/api/v1/vpp-tokens/{token.pk}/sync/")
    assert response.status_code == 202 and set(response.json()) == SYNC_RUN_FIELDS
    assert response.json()["status"] == "queued" and response.json()["full"] is False


def test_b8_license_runs_api_keeps_its_fields_and_values(admin_api, administrator):
    app = factories.AppFactory()
    run = LicenseRun.objects.create(
        kind="revoke_app",
        app=app,
        vpp_token=app.vpp_token,
        status="completed",
        total=4,
        succeeded=3,
        failed=1,
        summary={"events": []},
        requested_by=administrator,
    )
    SyncRun.objects.create(vpp_token=app.vpp_token, trigger="manual")  # not a license run: not listed
    body = admin_api.get("/api/v1/license-runs/").json()
    assert body["count"] == 1
    item = body["results"][0]
    assert set(item) == LICENSE_RUN_FIELDS
    assert (item["id"], item["kind"], item["status"], item["app"], item["vpp_token"]) == (
        run.pk,
        "revoke_app",
        "completed",
        app.pk,
        app.vpp_token_id,
    )
    assert (item["total"], item["succeeded"], item["failed"]) == (4, 3, 1)
    assert item["summary"] == {"events": []} and item["requested_by"] == administrator.pk
    assert admin_api.get("/api/v1/license-runs/?kind=revoke_app").json()["count"] == 1
    assert admin_api.get(f"/api/v1/sync-runs/{run.pk}/").status_code == 404


# --- query-count guards ------------------------------------------------------------------------------------


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _mixed_runs(n: int) -> None:
    for _ in range(n):
        token = factories.VPPTokenFactory()
        app = factories.AppFactory(vpp_token=token)
        SyncRun.objects.create(vpp_token=token, trigger="schedule", status="completed")
        LicenseRun.objects.create(kind="revoke_app", app=app, vpp_token=token, status="failed", error="x")
        Run.objects.create(kind="directory_import", status="completed", trigger="manual")


@pytest.mark.parametrize(
    "url", ["/runs/", "/runs/?kind=sync", "/assignments/runs/", "/tokens/sync-runs/", "/api/v1/license-runs/"]
)
def test_b8_run_lists_query_count_is_flat(url, admin_web, admin_api):
    client = admin_api if url.startswith("/api/") else admin_web
    _mixed_runs(2)
    few = _queries(client, url)
    _mixed_runs(12)
    assert _queries(client, url) == few


def test_b8_runs_page_lists_every_kind_and_filters_by_kind(admin_web, helpdesk_web, anon_web):
    _mixed_runs(1)
    page = admin_web.get("/runs/").content.decode()
    assert (
        "Sync with Apple" in page and "Revoke all licenses of an app" in page and "Directory import" in page
    )
    only = b"".join(admin_web.get("/runs/?kind=directory_import&export=csv").streaming_content).decode()
    assert "Directory import" in only and "Sync with Apple" not in only and len(only.splitlines()) == 2
    assert helpdesk_web.get("/runs/").status_code == 200
    assert anon_web.get("/runs/").status_code == 302


# --- runs whose worker was lost ----------------------------------------------------------------------------


def _lose(run: Run, settings) -> None:
    """What a worker killed mid-run leaves behind: running, heartbeat stopped long enough ago."""
    long_ago = timezone.now() - timedelta(seconds=settings.RUN_LOST_AFTER_SECONDS + 1)
    Run.objects.filter(pk=run.pk).update(status="running", started_at=long_ago, heartbeat_at=long_ago)


def test_b8_sweep_ends_a_lost_sync_and_starts_it_again_full_stays_full(
    apple, settings, django_capture_on_commit_callbacks
):
    token = connect(apple)
    lost, _created = request_sync(token=token, trigger=SyncRun.Trigger.UPLOAD, full=True)
    _lose(lost, settings)
    with django_capture_on_commit_callbacks() as sent:
        assert runs.sweep_lost() == {"lost": 1, "requeued": 1, "resent": 0}
    assert len(sent) == 1  # the new run goes to a worker
    lost.refresh_from_db()
    assert lost.status == "failed" and "worker running this stopped" in str(lost.error) and lost.finished_at
    again = SyncRun.objects.get(status="queued")
    assert f"#{again.pk}" in str(lost.error)
    assert (again.vpp_token, again.trigger, again.full) == (token, "upload", True)
    assert again.summary["retry_of"] == lost.pk
    done = run_sync(run_id=again.pk)
    assert done.status == "completed" and done.full, done.error
    assert runs.sweep_lost() == {"lost": 0, "requeued": 0, "resent": 0}


def test_b8_sweep_ends_a_lost_license_run_without_starting_it_again(settings):
    app = factories.AppFactory()
    run = LicenseRun.objects.create(kind="revoke_app", app=app, vpp_token=app.vpp_token)
    _lose(run, settings)
    assert runs.sweep_lost() == {"lost": 1, "requeued": 0, "resent": 0}
    run.refresh_from_db()
    assert run.status == "failed" and LicenseRun.objects.count() == 1


def test_b8_a_running_run_with_a_recent_heartbeat_is_not_lost(settings):
    token = factories.VPPTokenFactory()
    run = SyncRun.objects.create(
        vpp_token=token, trigger="manual", status="running", heartbeat_at=timezone.now()
    )
    assert runs.sweep_lost()["lost"] == 0
    run.refresh_from_db()
    assert run.status == "running"


def test_b8_a_license_run_waiting_for_apples_events_is_not_lost_between_polls(settings):
    from datetime import UTC, datetime

    app = factories.AppFactory()
    run = LicenseRun.objects.create(
        kind="revoke_app", app=app, vpp_token=app.vpp_token, summary={"events": ["e"]}
    )
    _lose(run, settings)
    runs.beat(run, waiting=True)  # what each poll of its events does
    assert runs.sweep_lost()["lost"] == 0
    run.refresh_from_db()
    assert run.status == "running"
    # A poll chain that stopped for good is ended once the waiting grace has passed too.
    Run.objects.filter(pk=run.pk).update(heartbeat_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert runs.sweep_lost()["lost"] == 1


def test_b8_a_queued_run_whose_message_was_lost_is_sent_again(settings, django_capture_on_commit_callbacks):
    token = factories.VPPTokenFactory()
    run = SyncRun.objects.create(
        vpp_token=token,
        trigger="manual",
        heartbeat_at=timezone.now() - timedelta(seconds=settings.RUN_LOST_AFTER_SECONDS + 1),
    )
    with django_capture_on_commit_callbacks() as sent:
        assert runs.sweep_lost() == {"lost": 0, "requeued": 0, "resent": 1}
    assert len(sent) == 1
    run.refresh_from_db()
    assert run.status == "queued" and run.heartbeat_at > timezone.now() - timedelta(seconds=5)


def test_b8_the_runner_claims_a_queued_run_once(apple):
    """A redelivered message finds its run taken and does nothing."""
    token = connect(apple)
    queued, _created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
    first = runs.execute(queued.pk)
    finished_at = first.finished_at
    again = runs.execute(queued.pk)
    assert again.status == first.status == "completed" and again.finished_at == finished_at


@pytest.mark.django_db(transaction=True)
def test_b8_heartbeat_is_beaten_while_the_work_runs(settings, monkeypatch):
    """The runner's heartbeat thread keeps a long run alive between progress updates."""
    import time

    from console import run_kinds

    settings.RUN_HEARTBEAT_SECONDS = 0.05
    beats: list = []

    def slow_work(run):
        first = Run.objects.get(pk=run.pk).heartbeat_at
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not beats:
            current = Run.objects.get(pk=run.pk).heartbeat_at
            if current != first:
                beats.append(current)
            time.sleep(0.02)

    monkeypatch.setitem(
        run_kinds._KINDS, "test_slow", run_kinds.RunKind(name="test_slow", label="Slow", work=slow_work)
    )
    run = Run.objects.create(kind="test_slow")
    assert runs.execute(run.pk).status == "completed"
    assert beats, "no heartbeat was written while the work ran"


# --- the migration ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_b8_migration_carries_existing_sync_and_license_runs_over():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    graph = executor.loader.graph

    def parent_of(app: str, suffix: str) -> tuple[str, str]:
        """The migration of `app` just before the one named ...`suffix` (whatever its number)."""
        node = next(key for key in graph.nodes if key[0] == app and key[1].endswith(suffix))
        return next(parent.key for parent in graph.node_map[node].parents if parent.key[0] == app)

    before = [
        parent_of("console", "_run"),
        parent_of("tokens", "_sync_run_becomes_console_run"),
        parent_of("assignments", "_license_run_becomes_console_run"),
    ]
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old = MigrationExecutor(connection).loader.project_state(before).apps

    def create_old(label: str, built, **overrides):
        """Save a factory-built row through the model as it was before (later columns do not exist yet)."""
        model = old.get_model(*label.split("."))
        values = {
            f.attname: getattr(built, f.attname)
            for f in model._meta.concrete_fields
            if f.attname != "id" and hasattr(built, f.attname)
        }
        return model.objects.create(**{**values, **overrides})

    token = create_old("tokens.VPPToken", factories.VPPTokenFactory.build())
    app = create_old("apps.App", factories.AppFactory.build(vpp_token=None), vpp_token_id=token.pk)
    t0 = timezone.now() - timedelta(days=2)
    old_sync = old.get_model("tokens", "SyncRun").objects.create(
        vpp_token_id=token.pk,
        trigger="schedule",
        status="completed",
        progress=100,
        full=True,
        assets_count=7,
        users_count=2,
        error_number=None,
        started_at=t0,
        finished_at=t0 + timedelta(seconds=64),
    )
    old.get_model("assignments", "LicenseRun").objects.create(
        kind="revoke_app",
        status="failed",
        app_id=app.pk,
        vpp_token_id=token.pk,
        total=31,
        succeeded=0,
        failed=8,
        summary={"events": ["e1"]},
        error="Apple said no",
        error_number=9632,
    )
    old.get_model("tokens", "SyncRun").objects.filter(pk=old_sync.pk).update(created_at=t0)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(latest)

    sync = SyncRun.objects.get()
    assert (sync.kind, sync.vpp_token_id, sync.trigger, sync.status, sync.full) == (
        "sync",
        token.pk,
        "schedule",
        "completed",
        True,
    )
    assert sync.assets_count == 7 and sync.users_count == 2 and sync.created_at == t0
    assert sync.duration == timedelta(seconds=64)
    lic = LicenseRun.objects.get()
    assert (lic.kind, lic.status, lic.app_id, lic.total, lic.failed, lic.error_number) == (
        "revoke_app",
        "failed",
        app.pk,
        31,
        8,
        9632,
    )
    assert lic.summary == {"events": ["e1"]} and str(lic.error) == "Apple said no" and lic.trigger == "system"
    assert Run.objects.count() == 2 and not Run.objects.exclude(pk__in=[sync.pk, lic.pk]).exists()
