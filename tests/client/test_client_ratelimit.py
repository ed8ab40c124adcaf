"""At most maxRequestPerSecond requests per second per token, across clients and threads."""

import threading
import time

from vpp.ratelimit import SlidingWindowLimiter


def test_limiter_allows_a_burst_then_spaces_windows():
    now = [0.0]
    limiter = SlidingWindowLimiter(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    sent = []
    for _ in range(11):
        with limiter.slot(5):
            sent.append(now[0])
    assert sent[:5] == [0.0] * 5
    # Any window of one second holds at most five sends.
    for i in range(len(sent) - 5):
        assert sent[i + 5] - sent[i] >= 1.0
    assert sent[-1] == 2.0


def test_limiter_counts_a_request_until_its_answer_arrived():
    now = [0.0]
    limiter = SlidingWindowLimiter(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(2):
        with limiter.slot(2):
            now[0] += 0.3  # a slow answer: Apple may have counted it as late as its arrival
    # The next may go one second after the first answer arrived (0.3), not after the first send (0).
    with limiter.slot(2):
        assert now[0] == 1.3


def test_n_requests_take_at_least_n_over_limit_seconds_and_apple_never_says_9646(sim, client, sleeps):
    sim.update_settings(max_request_per_second=5)
    assert client.service_config().limits.max_request_per_second == 5

    started = time.monotonic()
    for _ in range(11):
        client.client_config()
    elapsed = time.monotonic() - started

    # 5 at once, 5 a second later, the 11th two seconds in: the simulator (also 5/s) never had to refuse.
    assert elapsed >= 2.0
    assert sleeps.delays == []


def test_the_limit_is_shared_by_every_client_and_thread_using_the_token(sim, make_client, token, sleeps):
    sim.update_settings(max_request_per_second=5)
    clients = [make_client(token) for _ in range(3)]
    for c in clients:
        c.service_config()
    errors = []

    def work(c):
        try:
            for _ in range(4):
                c.client_config()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    assert errors == []
    assert elapsed >= 2.0  # 12 requests at 5/s
    assert sleeps.delays == []


def test_other_tokens_have_their_own_budget(sim, make_client):
    sim.update_settings(max_request_per_second=5)
    tokens = [sim.mint_token(org_name="Acme Corp", location_name=f"Rate {n}") for n in range(3)]
    clients = [make_client(t) for t in tokens]
    clients[0].service_config()
    started = time.monotonic()
    for c in clients:
        for _ in range(5):
            c.client_config()
    assert time.monotonic() - started < 0.9
