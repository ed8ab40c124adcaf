"""Apple's errors become typed exceptions; retryable ones are retried within bounds (docs/rules.md, Bad
input and faults).

Everything goes over real HTTP to the simulator; faults are injected through its control interface.
"""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from vpp.client import _retry_after_seconds
from vpp.errors import (
    BadRequest,
    NotEnoughLicenses,
    RateLimited,
    ServiceUnavailable,
    TokenExpired,
    TokenInvalid,
    TokenRevoked,
    TransportError,
    UserNotFound,
)


def test_t5_expired_token_raises_token_expired_without_retry(sim, uid, client, sleeps):
    sim.set_token_state(uid, "expired")
    with pytest.raises(TokenExpired) as excinfo:
        client.client_config()
    assert excinfo.value.number == 9621
    assert excinfo.value.http_status == 401
    assert "Apple error 9621" in str(excinfo.value)
    assert sleeps.delays == []


def test_revoked_token_raises_token_revoked(sim, uid, client, sleeps):
    sim.set_token_state(uid, "revoked")
    with pytest.raises(TokenRevoked) as excinfo:
        list(client.iter_assets())
    assert excinfo.value.number == 9625
    assert sleeps.delays == []


def test_unknown_token_is_http_200_with_9622(make_client, sleeps):
    client = make_client("bm90IGEgcmVhbCB0b2tlbg==")
    with pytest.raises(TokenInvalid) as excinfo:
        client.client_config()
    assert excinfo.value.number == 9622
    assert excinfo.value.http_status == 200
    assert sleeps.delays == []


def test_missing_bearer_is_9722(client):
    # The seam itself, without the Authorization header: what Apple says to a malformed header.
    with pytest.raises(TokenInvalid) as excinfo:
        client._send("GET", client._url("clientConfig"), bearer=False)
    assert excinfo.value.number == 9722
    assert excinfo.value.http_status == 401


def test_unknown_event_is_a_bad_request_never_retried(client, sleeps):
    with pytest.raises(BadRequest) as excinfo:
        client.event_status("00000000-0000-0000-0000-000000000000")
    assert excinfo.value.number == 9708
    assert excinfo.value.http_status == 400
    assert str(excinfo.value).startswith("Apple error 9708: ")
    assert sleeps.delays == []


def test_rate_limited_9646_is_retried_after_retry_after(sim, client, sleeps):
    client.service_config()
    sim.add_fault("rate_limit", count=2, retry_after=2)
    config = client.client_config()
    assert config.uid
    assert len(sleeps.delays) == 2
    assert all(delay >= 2 for delay in sleeps.delays)


def test_503_html_with_retry_after_is_retried(sim, client, sleeps):
    client.service_config()
    sim.add_fault("unavailable", count=1, retry_after=3)
    assert client.client_config().uid
    assert len(sleeps.delays) == 1
    assert sleeps.delays[0] >= 3


def test_internal_error_9603_is_retried(sim, client, sleeps):
    client.service_config()
    sim.add_fault("internal_error", count=2)
    assert list(client.iter_assets())
    assert len(sleeps.delays) == 2


def test_9729_is_retried(sim, client, sleeps):
    client.service_config()
    sim.add_fault("service_unavailable_9729", count=1, retry_after=1)
    assert client.client_config().uid
    assert sleeps.delays and sleeps.delays[0] >= 1


def test_gives_up_after_max_retries_with_the_last_error(sim, make_client, token, sleeps):
    client = make_client(token, max_retries=3)
    client.service_config()
    sim.add_fault("internal_error", count=50)
    with pytest.raises(ServiceUnavailable) as excinfo:
        client.client_config()
    assert excinfo.value.number == 9603
    assert excinfo.value.http_status == 500
    assert len(sleeps.delays) == 3


def test_gives_up_when_the_retry_time_budget_is_spent(sim, make_client, token, sleeps):
    client = make_client(token, max_retries=10, max_retry_seconds=25)
    client.service_config()
    sim.add_fault("rate_limit", count=50, retry_after=10)
    with pytest.raises(RateLimited) as excinfo:
        client.client_config()
    assert excinfo.value.number == 9646
    assert excinfo.value.http_status == 429
    assert excinfo.value.retry_after == 10
    assert len(sleeps.delays) == 2
    assert sleeps.total <= 25


def test_backoff_grows_with_full_jitter_within_the_cap(sim, make_client, token, sleeps):
    client = make_client(token, max_retries=6, max_retry_seconds=1000)
    client.service_config()
    sim.add_fault("internal_error", count=6)
    client.client_config()
    assert len(sleeps.delays) == 6
    for attempt, delay in enumerate(sleeps.delays):
        assert 0 <= delay <= 0.5 * 2**attempt


def test_timeout_is_a_transport_error_and_is_retried(sim, make_client, token, sleeps):
    client = make_client(token, timeout=0.3)
    client.service_config()
    sim.add_fault("slow", count=1, delay=1.0)
    assert client.client_config().uid
    assert len(sleeps.delays) == 1


def test_unreachable_apple_is_a_transport_error(make_client, token, sleeps):
    client = make_client(token, base_url="http://127.0.0.1:9/mdm/v2/", max_retries=2, timeout=1)
    with pytest.raises(TransportError) as excinfo:
        client.service_config()
    assert isinstance(excinfo.value, ServiceUnavailable)
    assert len(sleeps.delays) == 2
    assert token not in str(excinfo.value)


def test_s5_not_enough_licenses_arrives_as_event_failure_9709(sim, uid, client):
    sim.add_asset(uid, "900000001", totalCount=1)
    [event] = client.associate_assets(["900000001"], serial_numbers=["SERIAL-A", "SERIAL-B"])
    assert sim.wait_idle()
    status = client.event_status(event.event_id)
    assert status.is_failed
    assert status.num_requested == 2
    assert status.num_completed == 1
    [failure] = status.failures
    error = failure.exception()
    assert isinstance(error, NotEnoughLicenses)
    assert error.number == 9709
    assert len(failure.serial_numbers) == 1


def test_unknown_user_arrives_as_event_failure_9609(sim, client):
    [event] = client.associate_assets(["408709785"], client_user_ids=["nobody"])
    assert sim.wait_idle()
    status = client.event_status(event.event_id)
    assert status.is_failed
    [failure] = status.failures
    assert isinstance(failure.exception(), UserNotFound)
    assert failure.client_user_ids == ("nobody",)


def test_retry_after_accepts_seconds_and_http_dates():
    assert _retry_after_seconds("7") == 7
    assert _retry_after_seconds(None) is None
    assert _retry_after_seconds("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= _retry_after_seconds(later) <= 30
    earlier = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert _retry_after_seconds(earlier) == 0
