"""API throughput under concurrent load (issue 13): the Procfile's `web` line (gunicorn, production settings,
2 workers) on a free loopback port, over BENCH_LOAD_LICENSES licenses (default 100,000; the issue's case is
1,000,000), BENCH_LOAD_DEVICES devices and as many users (default 10,000; the issue's: 100,000) and
BENCH_LOAD_APPS apps (default 200), generated in SQL (benchmarks/scale_data.py) and committed so the server
sees them. A load generator in a second process (benchmarks/load_generator.py) runs BENCH_LOAD_CLIENTS clients
(default 8) for BENCH_LOAD_SECONDS (default 20) over a mix of read endpoints with an administrator's API key,
checking every answer. Prints requests, errors and p50/p95/p99 per endpoint and the overall requests/s;
asserts that no answer failed its check. PostgreSQL and Redis only.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/load_bench REDIS_URL=redis://127.0.0.1:6379/12 \\
      BENCH_LOAD_LICENSES=1000000 BENCH_LOAD_DEVICES=100000 make bench PYTEST_ARGS="-k api_load -s"
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from apps.models import App
from assignments.models import License
from benchmarks.scale_data import generate_licenses
from deployment.models import DeviceAppState
from tests import factories
from tests.conftest import api_key_for

# Committed rows: gunicorn's workers read them through their own connections.
pytestmark = pytest.mark.django_db(transaction=True)

LICENSES = int(os.environ.get("BENCH_LOAD_LICENSES", "100000"))
DEVICES = int(os.environ.get("BENCH_LOAD_DEVICES", "10000"))
APPS = int(os.environ.get("BENCH_LOAD_APPS", "200"))
CLIENTS = int(os.environ.get("BENCH_LOAD_CLIENTS", "8"))
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "20"))
WORKERS = 2
ROOT = Path(__file__).resolve().parent.parent
PAGE = 50


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _web_command() -> str:
    """The Procfile's `web` line: the server measured is the one production runs."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise AssertionError("the Procfile has no web line")


def _database_url() -> str:
    database = connection.settings_dict
    user = database["USER"] or "postgres"
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    host = database["HOST"] or "127.0.0.1"
    port = database["PORT"] or "5432"
    return f"postgres://{user}{password}@{host}:{port}/{database['NAME']}"


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@contextlib.contextmanager
def _gunicorn(log: Path, redis_url: str):
    """The production web process on a free loopback port; its base URL and master's pid are yielded once
    /healthz answers; stopped (its whole process group: master and workers) however the block ends."""
    port = _free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        # The test process's key: whatever it encrypted (the tokens), the server can read.
        "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "WEB_CONCURRENCY": str(WORKERS),
        "BIND": f"127.0.0.1:{port}",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        # One API key sends all the load: production's 1,200/min per user would answer most of it 429. The
        # throttle still runs (its Redis counter is read and written on every request), it just never trips.
        "API_THROTTLE_USER": "10000000/min",
        "PYTHONUNBUFFERED": "1",
    }
    command = _web_command()
    with log.open("wb") as output:
        server = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"gunicorn exited ({server.returncode}):\n{_tail(log)}"
            try:
                response = requests.get(
                    f"{base_url}/healthz?scope=web", headers={"X-Forwarded-Proto": "https"}, timeout=5
                )
                if response.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"/healthz did not answer 200 within 60 s:\n{_tail(log)}"
            time.sleep(0.2)
        yield base_url, server.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _cpu_snapshot(master: int) -> dict[str, dict[int, float] | float]:
    """Where the cores' time has gone so far (Linux /proc): each gunicorn worker, each PostgreSQL backend of
    the bench's database (the workers' connections), the load generator (this process's ended children) and
    the whole machine's busy time, all cores."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        backends = [pid for (pid,) in cursor.fetchall()]
    ticks = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)  # the load generator, once it has ended
    return {
        "workers": {pid: _process_cpu(pid) for pid in _children(master)},
        "postgres": {pid: _process_cpu(pid) for pid in backends},
        "generator": waited.ru_utime + waited.ru_stime,
        "machine": (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK"),
        "at": time.monotonic(),
    }


def _cpu_breakdown(before: dict, after: dict, report: dict) -> str:
    def used(kind: str) -> float:
        return sum(seconds - before[kind].get(pid, 0.0) for pid, seconds in after[kind].items())

    requests_made = sum(len(row["latencies_ms"]) for row in report["endpoints"]) or 1
    shares = {
        "web workers": used("workers"),
        "PostgreSQL": used("postgres"),
        "load generator": after["generator"] - before["generator"],
    }
    busy = after["machine"] - before["machine"]
    shares["everything else (Redis, other jobs)"] = busy - sum(shares.values())
    # The window is the generator's whole run (start-up and warm-up included), a little over the timed part.
    available = (os.cpu_count() or 1) * (after["at"] - before["at"])
    parts = ", ".join(
        f"{name} {seconds:.1f} s ({seconds * 1000 / requests_made:.1f} ms/request)"
        for name, seconds in shares.items()
    )
    return f"CPU while loaded: {busy:.1f} of {available:.1f} core-s busy ({busy / available:.0%}): {parts}"


def _percentile(samples: list[float], percent: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1]


def _endpoints() -> tuple[list[dict], App]:
    """The read mix, each with the length of its first page and its true row count (from the database)."""
    app = App.objects.order_by("id")[APPS // 2]
    licenses = License.objects.count()
    failed = License.objects.filter(state="failed").count()
    of_app = License.objects.filter(app=app).count()
    states = DeviceAppState.objects.count()
    app_states = DeviceAppState.objects.filter(app=app).count()
    mix = [
        ("licenses", "/api/v1/licenses/", licenses),  # first: its `next` becomes page 2
        ("licenses ?state=failed", "/api/v1/licenses/?state=failed", failed),
        ("licenses ?app=…", f"/api/v1/licenses/?app={app.pk}", of_app),
        ("licenses ?ordering=-updated_at", "/api/v1/licenses/?ordering=-updated_at", licenses),
        ("apps", "/api/v1/apps/", App.objects.count()),
        ("reports/install-status", "/api/v1/reports/install-status/", states),
        ("apps/…/device-statuses", f"/api/v1/apps/{app.pk}/device-statuses/", app_states),
    ]
    return [{"name": name, "path": path, "results": min(PAGE, n), "count": n} for name, path, n in mix], app


def _load(base_url: str, key: str, endpoints: list[dict]) -> dict:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.load_generator",
            f"--base-url={base_url}",
            f"--clients={CLIENTS}",
            f"--seconds={SECONDS}",
            f"--endpoints={json.dumps(endpoints)}",
        ],
        cwd=ROOT,
        env={**os.environ, "BENCH_LOAD_API_KEY": key},
        capture_output=True,
        text=True,
        timeout=SECONDS + 180,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


def _table(report: dict) -> str:
    total = sum(len(row["latencies_ms"]) for row in report["endpoints"])
    every = [ms for row in report["endpoints"] for ms in row["latencies_ms"]]
    lines = [
        f"{LICENSES:,} licenses, {DEVICES:,} devices and users, {APPS} apps; gunicorn --workers {WORKERS},"
        f" {report['clients']} clients for {report['elapsed']:.1f} s:"
        f" {total:,} requests, {total / report['elapsed']:.1f} requests/s",
        f"| {'endpoint':<32} | requests | errors | p50 ms | p95 ms | p99 ms |",
        f"|{'-' * 34}|---------:|-------:|-------:|-------:|-------:|",
    ]
    for row in [*report["endpoints"], {"name": "all", "latencies_ms": every, "errors": None}]:
        samples = row["latencies_ms"]
        errors = row["errors"] if row["errors"] is not None else sum(r["errors"] for r in report["endpoints"])
        lines.append(
            f"| {row['name']:<32} | {len(samples):8,} | {errors:6} | {_percentile(samples, 50):6.1f} |"
            f" {_percentile(samples, 95):6.1f} | {_percentile(samples, 99):6.1f} |"
        )
    return "\n".join(lines)


def test_bench_api_load(benchmark, tmp_path, request):
    if connection.vendor != "postgresql":
        pytest.skip("the API load benchmark generates its rows with PostgreSQL's generate_series")
    redis_url = request.getfixturevalue("redis_url")  # production's cache (throttle counters) and broker
    tokens = factories.VPPTokenFactory.create_batch(2)
    started = time.monotonic()
    generate_licenses(tokens, licenses=LICENSES, devices=DEVICES, apps=APPS)
    generated = time.monotonic() - started
    key = api_key_for(factories.AdministratorFactory())
    endpoints, _app = _endpoints()
    log = tmp_path / "gunicorn.log"
    with _gunicorn(log, redis_url) as (base_url, master):
        before = _cpu_snapshot(master)
        assert len(before["workers"]) == WORKERS, before["workers"]
        report = benchmark.pedantic(lambda: _load(base_url, key, endpoints), rounds=1, iterations=1)
        after = _cpu_snapshot(master)
    print(f"\n(generated in {generated:.1f} s; load average {os.getloadavg()[0]:.2f} after the run)")
    print(_table(report))
    print(_cpu_breakdown(before, after, report))
    failures = {row["name"]: row["first_errors"] for row in report["endpoints"] if row["errors"]}
    assert not report["warm_up_errors"], report["warm_up_errors"]
    assert not failures, f"{failures}\n{_tail(log)}"
    names = [row["name"] for row in report["endpoints"]]
    assert "licenses page 2 (next)" in names, names
    assert all(row["latencies_ms"] for row in report["endpoints"]), "every endpoint was requested"
