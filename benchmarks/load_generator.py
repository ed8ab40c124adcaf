"""The load generator of `test_bench_api_load.py`, run as its own process
(`python -m benchmarks.load_generator`) so that its Python never shares an interpreter lock with the server's.

CLIENTS threads, each with its own `requests.Session` (keep-alive, like a script's client), cycle over the
endpoints for SECONDS (each client starting at a different one) and check every answer: 200, JSON, `results`
of the expected length, `count` exact (or, with `X-Count-Estimated`, within a factor of two of the truth).
Before the clock starts every endpoint is fetched once (a warm-up and a check), and the licenses list's `next`
link becomes one more endpoint: its page 2. Prints one JSON object: per endpoint the requests, errors (any
answer that fails a check), their first messages and the latencies; the elapsed time. The API key is read
from BENCH_LOAD_API_KEY.

Knows nothing of Django: it only speaks HTTP to the console.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

TIMEOUT_SECONDS = 30
NEXT_OF = "licenses"


@dataclass
class Endpoint:
    name: str
    path: str
    results: int  # expected length of `results`
    count: int  # the true number of rows
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _check(endpoint: Endpoint, response: requests.Response) -> tuple[str | None, dict | None]:
    """What is wrong with an answer (None: nothing) and its body."""
    if response.status_code != 200:
        return f"{response.status_code} {response.text[:200]}", None
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]}", None
    results = body.get("results")
    if not isinstance(results, list) or len(results) != endpoint.results:
        return f"results: {None if results is None else len(results)} rows, {endpoint.results} expected", body
    count = body.get("count")
    if response.headers.get("X-Count-Estimated") == "true":
        if not isinstance(count, int) or not endpoint.count / 2 <= count <= endpoint.count * 2:
            return f"estimated count {count} for {endpoint.count} rows", body
    elif count != endpoint.count:
        return f"count {count}, {endpoint.count} expected", body
    return None, body


def _get(session: requests.Session, base_url: str, endpoint: Endpoint) -> dict | None:
    problem: str | None
    body: dict | None
    started = time.perf_counter()
    try:
        response = session.get(base_url + endpoint.path, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        problem, body = f"{type(error).__name__}: {error}", None
    else:
        elapsed_ms = (time.perf_counter() - started) * 1000
        problem, body = _check(endpoint, response)
        with endpoint.lock:
            endpoint.latencies_ms.append(elapsed_ms)
    if problem is not None:
        with endpoint.lock:
            endpoint.errors.append(problem)
    return body


def _session(key: str) -> requests.Session:
    session = requests.Session()
    # The TLS-terminating proxy's header, trusted from loopback (gunicorn --forwarded-allow-ips, Django's
    # SECURE_PROXY_SSL_HEADER): production's HTTPS redirect stays on and these requests count as HTTPS.
    session.headers.update(
        {"Authorization": f"Token {key}", "Accept": "application/json", "X-Forwarded-Proto": "https"}
    )
    return session


def _warm_up(base_url: str, key: str, endpoints: list[Endpoint]) -> list[Endpoint]:
    """Each endpoint once (not counted); returns them plus the licenses list's page 2 (its `next` link)."""
    session = _session(key)
    pages = list(endpoints)
    for endpoint in endpoints:
        body = _get(session, base_url, endpoint)
        if endpoint.name == NEXT_OF and body and body.get("next"):
            link = urlsplit(body["next"])
            pages.append(
                Endpoint(
                    name=f"{NEXT_OF} page 2 (next)",
                    path=f"{link.path}?{link.query}",
                    results=min(endpoint.results, endpoint.count - endpoint.results),
                    count=endpoint.count,
                )
            )
    for endpoint in endpoints:
        endpoint.latencies_ms.clear()
    return pages


def _client(base_url: str, key: str, endpoints: list[Endpoint], start: int, deadline: float) -> None:
    session = _session(key)
    turn = start
    while time.monotonic() < deadline:
        _get(session, base_url, endpoints[turn % len(endpoints)])
        turn += 1


def run(base_url: str, key: str, endpoints: list[Endpoint], clients: int, seconds: float) -> dict:
    endpoints = _warm_up(base_url, key, endpoints)
    warm_up_errors = {endpoint.name: list(endpoint.errors) for endpoint in endpoints if endpoint.errors}
    for endpoint in endpoints:
        endpoint.errors.clear()
    started = time.monotonic()
    deadline = started + seconds
    threads = [
        threading.Thread(target=_client, args=(base_url, key, endpoints, number, deadline))
        for number in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "clients": clients,
        "seconds": seconds,
        "elapsed": elapsed,
        "warm_up_errors": warm_up_errors,
        "endpoints": [
            {
                "name": endpoint.name,
                "path": endpoint.path,
                "latencies_ms": endpoint.latencies_ms,
                "errors": len(endpoint.errors),
                "first_errors": endpoint.errors[:5],
            }
            for endpoint in endpoints
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--endpoints", required=True, help='JSON: [{"name", "path", "results", "count"}, …]; "licenses" first'
    )
    args = parser.parse_args()
    endpoints = [Endpoint(**item) for item in json.loads(args.endpoints)]
    key = os.environ["BENCH_LOAD_API_KEY"]  # not on the command line, where `ps` would show it
    print(json.dumps(run(args.base_url, key, endpoints, args.clients, args.seconds)))


if __name__ == "__main__":
    main()
