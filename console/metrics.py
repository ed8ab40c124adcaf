"""Optional Prometheus metrics (`PROMETHEUS_METRICS=1`, README, Running in production): `/metrics` shows
django-prometheus's request metrics (latency, counts by view and status, database), Celery task durations, and
at each scrape the depth and oldest task of every named queue and the age of beat's heartbeat.

`/metrics` answers only addresses in PROMETHEUS_METRICS_ALLOWED_IPS or a request carrying
`Authorization: Bearer <PROMETHEUS_METRICS_TOKEN>`. Several gunicorn or Celery processes on one machine share
their figures through PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import hmac
import os
import time

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

TASK_DURATION = Histogram(
    "vpp_celery_task_duration_seconds",
    "Time Celery tasks took, by task name and final state.",
    ["task", "state"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
_started: dict[str, float] = {}


def task_started(task_id: str) -> None:
    """Celery `task_prerun`."""
    if settings.PROMETHEUS_METRICS:
        _started[task_id] = time.monotonic()


def task_finished(task_name: str, task_id: str, state: str | None) -> None:
    """Celery `task_postrun`."""
    began = _started.pop(task_id, None)
    if began is not None:
        TASK_DURATION.labels(task=task_name, state=state or "UNKNOWN").observe(time.monotonic() - began)


class _BrokerCollector:
    """Read at scrape time: the queues and beat, as /healthz sees them."""

    def collect(self):
        from console import health

        waiting = GaugeMetricFamily(
            "vpp_queue_waiting_tasks", "Tasks waiting in each named queue.", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "vpp_queue_oldest_task_age_seconds",
            "Age of the oldest waiting task of each queue.",
            labels=["queue"],
        )
        try:
            queues = health.queue_report()
        except Exception:  # a broker that does not answer shows as no queue figures (and /healthz says why)
            queues = {}
        for name, queue in queues.items():
            waiting.add_metric([name], queue["waiting"])
            oldest.add_metric([name], queue["oldest_seconds"] or 0)
        yield waiting
        yield oldest
        age = health.beat_age_seconds()
        beat = GaugeMetricFamily("vpp_beat_heartbeat_age_seconds", "Seconds since beat's last heartbeat ran.")
        beat.add_metric([], age if age is not None else float("inf"))
        yield beat


def _allowed(request) -> bool:
    token = settings.PROMETHEUS_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    return request.META.get("REMOTE_ADDR", "") in settings.PROMETHEUS_METRICS_ALLOWED_IPS


@never_cache
def metrics_view(request):
    if not settings.PROMETHEUS_METRICS:
        raise Http404
    if not _allowed(request):
        return HttpResponseForbidden("Metrics are not available to this address.", content_type="text/plain")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    broker = CollectorRegistry()
    broker.register(_BrokerCollector())
    return HttpResponse(generate_latest(registry) + generate_latest(broker), content_type=CONTENT_TYPE_LATEST)
