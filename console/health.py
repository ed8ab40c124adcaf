"""What /healthz reports: the database, the broker, the age of beat's last heartbeat and the oldest task
waiting in each named queue (Redis: the oldest message's publish time; filesystem broker: the oldest file).

A stale heartbeat (beat stopped, or no worker serves the `interactive` queue) or a task waiting longer than
HEALTHZ_QUEUE_MAX_AGE_SECONDS (a starved queue) makes the answer 503, as does a database or broker that does
not answer. `scope="web"` checks only the database and the broker (what a web node needs to serve pages).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

BEAT = "beat"
SENT_AT_HEADER = "vpp_sent_at"  # stamped by config.queues.stamp_sent_at on every published task


def record_heartbeat(name: str = BEAT) -> None:
    from console.models import Heartbeat

    Heartbeat.objects.update_or_create(name=name, defaults={"at": timezone.now()})


def _error(exc: Exception) -> str:
    return f"error: {exc.__class__.__name__}"


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return _error(exc)
    return "ok"


def check_broker() -> str:
    from celery import current_app

    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return _error(exc)
    return "ok"


def beat_age_seconds() -> float | None:
    """Seconds since beat's last heartbeat ran; None when it never ran."""
    from console.models import Heartbeat

    at = Heartbeat.objects.filter(name=BEAT).values_list("at", flat=True).first()
    return None if at is None else max(0.0, (timezone.now() - at).total_seconds())


def queue_report() -> dict[str, dict[str, Any]]:
    """{queue: {"waiting": n, "oldest_seconds": s or None}} for every named queue; {} when the broker
    cannot be inspected (the in-memory broker of the tests)."""
    from celery import current_app

    url = current_app.conf.broker_url or ""
    if url.startswith(("redis://", "rediss://")):
        return _redis_queues(current_app)
    if url.startswith("filesystem://"):
        folder = (current_app.conf.broker_transport_options or {}).get("data_folder_in")
        return _filesystem_queues(Path(folder)) if folder else {}
    return {}


def _redis_queues(app) -> dict[str, dict[str, Any]]:
    now = time.time()
    report: dict[str, dict[str, Any]] = {}
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        client = channel.client
        for queue in settings.VPP_QUEUES:
            keys = [channel._q_for_pri(queue, pri) for pri in channel.priority_steps]
            keys = list(dict.fromkeys(keys))
            pipe = client.pipeline()
            for key in keys:
                pipe.llen(key)
                pipe.lindex(key, -1)  # LPUSH in, BRPOP out: the oldest message is the last
            answers = pipe.execute()
            waiting = sum(answers[0::2])
            sent = [s for s in (_sent_at(raw) for raw in answers[1::2] if raw) if s is not None]
            report[queue] = {
                "waiting": waiting,
                "oldest_seconds": round(max(0.0, now - min(sent)), 1) if sent else None,
            }
    return report


def _sent_at(raw: bytes) -> float | None:
    try:
        value = json.loads(raw).get("headers", {}).get(SENT_AT_HEADER)
        return float(value) if value is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def _filesystem_queues(folder: Path) -> dict[str, dict[str, Any]]:
    now = time.time()
    queues = settings.VPP_QUEUES
    report: dict[str, dict[str, Any]] = {q: {"waiting": 0, "oldest_seconds": None} for q in queues}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return report
    for entry in entries:
        # kombu's filesystem transport names messages <ms>_<uuid>.<queue>.msg
        name = entry.name
        if not name.endswith(".msg"):
            continue
        queue = name[: -len(".msg")].split(".", 1)[-1]
        if queue not in report:
            continue
        try:
            age = max(0.0, now - entry.stat().st_mtime)
        except OSError:  # taken by a worker meanwhile
            continue
        item = report[queue]
        item["waiting"] += 1
        if item["oldest_seconds"] is None or age > item["oldest_seconds"]:
            item["oldest_seconds"] = round(age, 1)
    return report


def report(scope: str = "all") -> tuple[bool, dict[str, Any]]:
    """(healthy, body) for /healthz."""
    body: dict[str, Any] = {"database": check_database(), "broker": check_broker()}
    healthy = body["database"] == "ok" and body["broker"] == "ok"
    if scope == "web":
        return healthy, body
    if body["database"] == "ok":
        age = beat_age_seconds()
        body["beat_age_seconds"] = None if age is None else round(age, 1)
        limit = settings.HEALTHZ_BEAT_MAX_AGE_SECONDS
        if age is None:
            body["beat"] = "error: no heartbeat yet"
        elif limit and age > limit:
            body["beat"] = f"error: last heartbeat {int(age)} s ago"
        else:
            body["beat"] = "ok"
        healthy = healthy and (body["beat"] == "ok" or not limit)
    if body["broker"] == "ok":
        try:
            queues = queue_report()
        except Exception as exc:
            body["queues"] = _error(exc)
            return False, body
        ages = [q["oldest_seconds"] for q in queues.values() if q["oldest_seconds"] is not None]
        body["oldest_queued_seconds"] = max(ages) if ages else None
        body["queue_waiting"] = {name: q["waiting"] for name, q in queues.items()}
        limit = settings.HEALTHZ_QUEUE_MAX_AGE_SECONDS
        starved = sorted(name for name, q in queues.items() if limit and (q["oldest_seconds"] or 0) > limit)
        body["queues"] = f"error: starved {', '.join(starved)}" if starved else "ok"
        healthy = healthy and not starved
    return healthy, body
