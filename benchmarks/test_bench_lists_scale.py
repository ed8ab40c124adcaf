"""List pages and their API at scale (issue 13): Monitor › Licenses and `licenses/`, the app list and
`apps/`, install status (page, `reports/install-status/`, an app's device pane and `device-statuses/`) over
BENCH_LISTS_LICENSES license rows (default 100,000; the issue's case is 1,000,000), BENCH_LISTS_DEVICES
devices and as many users (default 100,000), BENCH_LISTS_APPS apps (default 200). PostgreSQL only: the rows
are generated in SQL (`INSERT … SELECT generate_series`). Each URL is fetched BENCH_LISTS_ROUNDS times
(default 30) with Django's test client; its p95 is set beside the floor: a bare `SELECT` of the same page of
rows (same filter, order and LIMIT) timed the same way.

    BENCH_LISTS_LICENSES=1000000 make bench PYTEST_ARGS="-k lists_scale -s"
    BENCH_LISTS_COMMITTED=1 …   # the rows committed and vacuumed, as in a console (emptied afterwards)
"""

from __future__ import annotations

import os
import statistics
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.models import App
from assignments.models import License
from benchmarks.scale_data import generate_licenses
from deployment.models import DeviceAppState
from tests import factories

# BENCH_LISTS_COMMITTED=1: the rows are committed (then VACUUM ANALYZE, as autovacuum would), as a console's
# are; by default they stay in the test's transaction, never committed, where every index-only scan still
# reads the table and no row's visibility is cached: the pages' queries then cost more than a console's.
COMMITTED = bool(os.environ.get("BENCH_LISTS_COMMITTED"))
pytestmark = pytest.mark.django_db(transaction=COMMITTED)

LICENSES = int(os.environ.get("BENCH_LISTS_LICENSES", "100000"))
DEVICES = int(os.environ.get("BENCH_LISTS_DEVICES", "100000"))
APPS = int(os.environ.get("BENCH_LISTS_APPS", "200"))
ROUNDS = int(os.environ.get("BENCH_LISTS_ROUNDS", "30"))
GOAL_MS = 150.0


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def _fetch(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert len(response.content) > 0


def _floor(queryset) -> None:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.fetchall(), sql


def _profile(client: Client, urls: list[str]) -> None:
    """BENCH_LISTS_PROFILE=1: each URL's query count and its three slowest queries."""
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            _fetch(client, url)
        slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]
        print(f"\n{url}: {len(queries)} queries")
        for query in slowest:
            print(f"  {float(query['time']) * 1000:7.1f} ms  {query['sql'][:300]}")


def test_bench_lists_scale(benchmark, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the list benchmark generates its rows with PostgreSQL's generate_series")
    settings.DEBUG = False
    tokens = factories.VPPTokenFactory.create_batch(2)
    started = time.monotonic()
    generate_licenses(tokens, licenses=LICENSES, devices=DEVICES, apps=APPS)
    if COMMITTED:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # as autovacuum would, for the committed rows
    generated = time.monotonic() - started
    app = App.objects.order_by("id")[APPS // 2]
    token = tokens[0]
    admin = factories.AdministratorFactory()
    client = Client()
    client.force_login(admin)
    licenses = License.objects.only("id")
    states = DeviceAppState.objects.all()
    apps = App.objects.all()
    page = slice(0, 50)
    by_app = ("app__name", "device__name", "device__serial_number", "id")  # the install status order
    cases = [
        ("/assignments/licenses/", licenses.order_by("-updated_at", "-id")),
        (
            "/assignments/licenses/?state=failed",
            licenses.filter(state="failed").order_by("-updated_at", "-id"),
        ),
        (f"/assignments/licenses/?app={app.pk}", licenses.filter(app=app).order_by("-updated_at", "-id")),
        (
            f"/assignments/licenses/?vpp_token={token.pk}",
            licenses.filter(app__vpp_token=token).order_by("-updated_at", "-id"),
        ),
        ("/assignments/licenses/?ordering=state", licenses.order_by("state", "id")),
        ("/assignments/licenses/?ordering=-app__name", licenses.order_by("-app__name", "-id")),
        ("/api/v1/licenses/", licenses.order_by("-created_at", "-id")),
        ("/api/v1/licenses/?state=failed", licenses.filter(state="failed").order_by("-created_at", "-id")),
        (f"/api/v1/licenses/?app={app.pk}", licenses.filter(app=app).order_by("-created_at", "-id")),
        (
            f"/api/v1/licenses/?vpp_token={token.pk}",
            licenses.filter(app__vpp_token=token).order_by("-created_at", "-id"),
        ),
        ("/api/v1/licenses/?ordering=-updated_at", licenses.order_by("-updated_at", "-id")),
        (f"/api/v1/apps/{app.pk}/licenses/?state=assigned", licenses.filter(app=app, state="assigned")),
        ("/apps/", apps.order_by("name", "id")),
        (f"/apps/?vpp_token={token.pk}&ordering=-used_licenses", apps.order_by("-used_licenses", "id")),
        ("/api/v1/apps/", apps.order_by("name", "id")),
        ("/reports/install-status/", states.order_by(*by_app)),
        ("/reports/install-status/?install_state=failed", states.filter(state="failed").order_by(*by_app)),
        (f"/reports/install-status/?app={app.pk}", states.filter(app=app).order_by(*by_app)),
        ("/reports/install-status/?ordering=-last_reported_at", states.order_by("-last_reported_at", "-id")),
        ("/api/v1/reports/install-status/", states.order_by(*by_app)),
        (
            f"/api/v1/reports/install-status/?app={app.pk}",
            states.filter(app=app).order_by(*by_app),
        ),
        (f"/deployment/apps/{app.pk}/devices/", states.filter(app=app).order_by(*by_app)),
        (f"/api/v1/apps/{app.pk}/device-statuses/", states.filter(app=app).order_by(*by_app)),
    ]
    if os.environ.get("BENCH_LISTS_PROFILE"):
        _profile(client, [url for url, _ in cases])
    rows = []
    for url, floor_queryset in cases:
        _fetch(client, url)  # warm: templates, caches
        samples = [_timed(lambda url=url: _fetch(client, url)) for _ in range(ROUNDS)]
        floors = [_timed(lambda q=floor_queryset: _floor(q[page])) for _ in range(ROUNDS)]
        rows.append((url, statistics.median(samples[:10]), _p95(samples), _p95(floors)))
    benchmark.pedantic(lambda: _fetch(client, "/assignments/licenses/"), rounds=1, iterations=1)

    print(
        f"\n{LICENSES:,} licenses, {DEVICES:,} devices and users, {APPS} apps"
        f" ({'committed' if COMMITTED else 'in the test transaction'})"
        f" (generated in {generated:.1f} s);"
        f" median of the first 10 and p95 of {ROUNDS} requests each, floor = bare SELECT of the same page"
    )
    print(f"| {'URL':<58} | median ms | p95 ms | floor ms | ratio |")
    print(f"|{'-' * 60}|----------:|-------:|---------:|------:|")
    for url, median, p95, floor in rows:
        flag = "" if p95 <= GOAL_MS else "  over goal"
        print(f"| {url:<58} | {median:9.1f} | {p95:6.1f} | {floor:8.2f} | {p95 / floor:5.0f} |{flag}")
    # Timings on a shared machine are reported, not asserted (docs/benchmarks.md explains the figures); every
    # response above was checked to be a 200 with a body.
