"""Connector health per token (the dashboard): each rule on its own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.health import HEALTHY, UNHEALTHY, WARNING, token_health

NOW = timezone.now()
DAY = timedelta(days=1)


def health(**overrides):
    values = {
        "state": "valid",
        "expires_at": NOW + 200 * DAY,
        "last_sync_status": "completed",
        "last_success_at": NOW - timedelta(hours=2),
        "created_at": NOW - 100 * DAY,
        "now": NOW,
    }
    values.update(overrides)
    return token_health(**values)


@pytest.mark.parametrize(
    ("overrides", "status", "reason"),
    [
        ({}, HEALTHY, None),
        ({"expires_at": NOW - DAY}, UNHEALTHY, "The token has expired."),
        ({"state": "expired"}, UNHEALTHY, "The token has expired."),
        ({"state": "revoked"}, UNHEALTHY, "Revoked"),
        ({"state": "assigned_to_external_mdm"}, UNHEALTHY, "Assigned to external MDM"),
        ({"last_sync_status": "failed"}, UNHEALTHY, "The last sync failed."),
        ({"last_success_at": NOW - 4 * DAY}, UNHEALTHY, "No successful sync for 3 days."),
        ({"last_success_at": None}, UNHEALTHY, "No successful sync for 3 days."),
        ({"last_success_at": None, "created_at": NOW - DAY}, WARNING, "Not synced yet."),
        ({"expires_at": NOW + 29 * DAY}, WARNING, "The token expires within 30 days."),
        ({"last_success_at": NOW - 2 * DAY}, WARNING, "The last successful sync is more than a day old."),
        ({"expires_at": NOW + 31 * DAY, "last_success_at": NOW - 20 * timedelta(hours=1)}, HEALTHY, None),
    ],
)
def test_token_health_rules(overrides, status, reason):
    result = health(**overrides)
    assert result.status == status
    if reason is None:
        assert result.reasons == []
    else:
        assert reason in result.reasons


def test_unhealthy_wins_over_warning_and_lists_every_reason():
    result = health(state="revoked", last_sync_status="failed", expires_at=NOW + 5 * DAY)
    assert result.status == UNHEALTHY
    assert result.reasons == ["Revoked", "The last sync failed."]
