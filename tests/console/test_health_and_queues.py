"""/healthz sees a stopped beat and a starved queue; tasks are routed to named queues so interactive work
never waits behind bulk work (config/queues.py)."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu import Connection

from config import queues
from console.models import Heartbeat
from tests import factories


@pytest.fixture
def beat_recent(db):
    from console.tasks import heartbeat

    heartbeat()  # what beat's schedule runs on a worker


def test_healthz_reports_database_broker_beat_and_queues(anon_web, beat_recent):
    response = anon_web.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert (body["database"], body["broker"], body["beat"], body["queues"]) == ("ok", "ok", "ok", "ok")
    assert 0 <= body["beat_age_seconds"] < 5


def test_beat_schedule_sends_the_heartbeat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["heartbeat"]
    assert entry["task"] == "console.tasks.heartbeat"
    assert entry["schedule"] == settings.HEARTBEAT_SECONDS


def test_healthz_answers_503_when_beat_never_ticked(anon_web):
    response = anon_web.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["beat"] == "error: no heartbeat yet"
    assert body["beat_age_seconds"] is None


def test_healthz_answers_503_when_beat_is_stale_but_web_scope_stays_up(anon_web, settings):
    settings.HEALTHZ_BEAT_MAX_AGE_SECONDS = 300
    Heartbeat.objects.create(name="beat", at=timezone.now() - timedelta(seconds=400))
    response = anon_web.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["beat"].startswith("error: last heartbeat 4")
    assert body["beat_age_seconds"] >= 400
    # A load balancer asking about the web node only: the database and the broker answer.
    web = anon_web.get("/healthz?scope=web")
    assert web.status_code == 200
    assert web.json() == {"status": "ok", "database": "ok", "broker": "ok", "version": web.json()["version"]}


def _publish(conn: Connection, queue: str) -> None:
    from config.celery_app import app

    with app.producer_or_acquire(app.amqp.Producer(conn, auto_declare=True)) as producer:
        app.send_task("console.tasks.heartbeat", queue=queue, producer=producer)


def test_healthz_reports_the_oldest_task_of_a_starved_queue_on_the_filesystem_broker(
    anon_web, beat_recent, settings, tmp_path
):
    from config.celery_app import app

    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "store_processed": False}
    settings.VPP_QUEUES = ["interactive", "sync"]
    settings.HEALTHZ_QUEUE_MAX_AGE_SECONDS = 600
    original = (app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.broker_url, app.conf.broker_transport_options = "filesystem://", options
    try:
        with Connection("filesystem://", transport_options=options) as conn:
            _publish(conn, "sync")
            _publish(conn, "sync")
            _publish(conn, "interactive")
        [old, *_] = sorted(p for p in folder.iterdir() if p.name.endswith(".sync.msg"))
        os.utime(old, (time.time() - 700, time.time() - 700))
        response = anon_web.get("/healthz")
    finally:
        app.conf.broker_url, app.conf.broker_transport_options = original
    assert response.status_code == 503
    body = response.json()
    assert body["queues"] == "error: starved sync"
    assert body["queue_waiting"] == {"interactive": 1, "sync": 2}
    assert body["oldest_queued_seconds"] >= 700
    assert body["beat"] == "ok"


@pytest.mark.redis
def test_healthz_reads_the_oldest_message_of_each_redis_queue(redis_url, anon_web, beat_recent, settings):
    import redis

    from config.celery_app import app

    queue = f"health-{uuid.uuid4().hex[:8]}"
    settings.VPP_QUEUES = [queue]
    settings.HEALTHZ_QUEUE_MAX_AGE_SECONDS = 1
    original = app.conf.broker_url
    app.conf.broker_url = redis_url
    try:
        with Connection(redis_url) as conn:
            _publish(conn, queue)
        fresh = anon_web.get("/healthz").json()
        time.sleep(1.5)
        with Connection(redis_url) as conn:
            _publish(conn, queue)  # newer: the age reported is the oldest's
        starved = anon_web.get("/healthz")
    finally:
        app.conf.broker_url = original
        redis.Redis.from_url(redis_url).delete(queue)
    assert fresh["queue_waiting"] == {queue: 1}
    assert 0 <= fresh["oldest_queued_seconds"] < 1
    assert fresh["queues"] == "ok"
    assert starved.status_code == 503
    assert starved.json()["queue_waiting"] == {queue: 2}
    assert starved.json()["oldest_queued_seconds"] >= 1.5
    assert starved.json()["queues"] == f"error: starved {queue}"


# --- routing ---------------------------------------------------------------------------------------------
def _completed_sync(token, assignments: int):
    from tokens.models import SyncRun

    return SyncRun.objects.create(
        vpp_token=token,
        trigger=SyncRun.Trigger.SCHEDULE,
        status=SyncRun.Status.COMPLETED,
        finished_at=timezone.now(),
        counts={"assignments_count": assignments},
    )


def _sync_now_queue(token) -> str:
    from tokens.models import SyncRun
    from tokens.sync import request_sync

    run, created = request_sync(token=token, trigger=SyncRun.Trigger.MANUAL)
    assert created
    return queues.queue_for("console.tasks.execute_run", (run.pk,), {})


def test_sync_now_of_a_small_token_goes_to_the_interactive_queue(db, settings):
    settings.VPP_INTERACTIVE_SYNC_MAX_ASSIGNMENTS = 1000
    token = factories.VPPTokenFactory()
    _completed_sync(token, assignments=1000)
    assert _sync_now_queue(token) == "interactive"


def test_sync_now_of_a_large_token_goes_to_the_sync_queue(db, settings):
    settings.VPP_INTERACTIVE_SYNC_MAX_ASSIGNMENTS = 1000
    token = factories.VPPTokenFactory()
    _completed_sync(token, assignments=1_000_000)
    assert _sync_now_queue(token) == "sync"


def test_first_and_scheduled_syncs_go_to_the_sync_queue(db):
    from tokens.models import SyncRun
    from tokens.sync import request_sync

    never_synced = factories.VPPTokenFactory()
    assert _sync_now_queue(never_synced) == "sync"  # size unknown
    small = factories.VPPTokenFactory()
    _completed_sync(small, assignments=3)
    run, _ = request_sync(token=small, trigger=SyncRun.Trigger.SCHEDULE)
    assert queues.queue_for("console.tasks.execute_run", (run.pk,), {}) == "sync"


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("tokens.tasks.process_notification", "webhooks"),
        ("deployment.tasks.apply_webhook_event", "webhooks"),
        ("console.tasks.heartbeat", "interactive"),
        ("tokens.tasks.sync_all_tokens", "sync"),
        ("assignments.tasks.reconcile_all", "sync"),
        ("assignments.tasks.poll_license_run", "licenses"),
        ("assignments.tasks.poll_license_events", "licenses"),
        ("assignments.tasks.members_added", "licenses"),
        ("deployment.tasks.deploy_app", "deploy"),
        ("console.tasks.sweep_lost_runs", "interactive"),  # every worker serves it: survives any one loss
    ],
)
def test_tasks_are_routed_to_their_named_queue(task, queue):
    assert queues.route_task(task, (), {}, {}) == {"queue": queue}


def test_every_task_the_console_defines_has_a_named_queue():
    from config.celery_app import app

    app.loader.import_default_modules()
    names = [n for n in app.tasks if not n.startswith("celery.")]
    assert "console.tasks.execute_run" in names
    for name in names:
        if name in ("console.tasks.execute_run", "tokens.tasks.sync_token"):
            continue  # by the run's kind (tests above)
        assert queues.queue_for(name) in queues.ALL


# --- Prometheus --------------------------------------------------------------------------------------------
def test_metrics_are_off_unless_configured(anon_web, settings):
    settings.PROMETHEUS_METRICS = False
    assert anon_web.get("/metrics").status_code == 404


def test_metrics_show_task_durations_queue_depth_and_beat_to_allowed_scrapers(
    anon_web, settings, beat_recent
):
    from console import metrics

    settings.PROMETHEUS_METRICS = True
    settings.PROMETHEUS_METRICS_ALLOWED_IPS = ["127.0.0.1"]
    metrics.task_started("t-1")  # what the worker's task_prerun / task_postrun signals call
    metrics.task_finished("tokens.tasks.sync_token", "t-1", "SUCCESS")
    response = anon_web.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'vpp_celery_task_duration_seconds_count{state="SUCCESS",task="tokens.tasks.sync_token"}' in text
    assert "vpp_beat_heartbeat_age_seconds" in text
    assert "vpp_queue_waiting_tasks" in text


def test_metrics_refuse_other_addresses_unless_they_bring_the_token(anon_web, settings):
    settings.PROMETHEUS_METRICS = True
    settings.PROMETHEUS_METRICS_ALLOWED_IPS = ["10.0.0.9"]
    settings.PROMETHEUS_METRICS_TOKEN = "scrape-secret-123"
    refused = anon_web.get("/metrics")
    assert refused.status_code == 403
    assert "vpp_" not in refused.content.decode()
    assert anon_web.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    allowed = anon_web.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-123")
    assert allowed.status_code == 200
    assert "vpp_beat_heartbeat_age_seconds" in allowed.content.decode()


def test_license_runs_go_to_the_licenses_queue_and_unknown_runs_to_default(db):
    from assignments.models import LicenseRun
    from console.models import Run

    token = factories.VPPTokenFactory()
    allocate = LicenseRun.objects.create(kind=LicenseRun.Kind.ALLOCATE, vpp_token=token)
    reconcile = LicenseRun.objects.create(kind=LicenseRun.Kind.RECONCILE, vpp_token=token)
    other = Run.objects.create(kind="directory_import")
    assert queues.queue_for("console.tasks.execute_run", (allocate.pk,), {}) == "licenses"
    assert queues.queue_for("console.tasks.execute_run", (reconcile.pk,), {}) == "licenses"
    assert queues.queue_for("console.tasks.execute_run", (other.pk,), {}) == "default"
    assert queues.queue_for("console.tasks.execute_run", (), {"run_id": 10**9}) == "default"
