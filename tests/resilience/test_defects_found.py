"""Defects the fault matrix found, each proved by the rule it broke."""

from __future__ import annotations

import pytest

from applesync.notifications import notification_process
from assignments import services
from assignments.models import License, LicenseRun
from assignments.services import execute
from tests.assignments.conftest import settle
from tests.resilience.test_fault_matrix import _apple_counts, _bodies, _listen
from tests.tokens.test_notifications import SECRET, post
from tokens.models import NotificationReceipt, SyncRun, VPPToken

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_faults")]


def test_t8_a_revocation_run_that_meets_a_revoked_token_marks_the_token_revoked(
    apple, allocation, administrator
):
    token, uid, _app, _assignment, run, _devices = allocation
    execute(run)
    settle(apple, run)
    apple.set_token_state(uid, "revoked")
    revoke = services.revoke_token_licenses(token=token, actor=administrator)
    execute(revoke)
    revoke.refresh_from_db()
    assert revoke.status == LicenseRun.Status.FAILED and revoke.error_number == 9625
    token.refresh_from_db()
    assert token.state == VPPToken.State.REVOKED  # no further call is made with it (T5, T8)
    assert "9625" in str(token.state_detail)


def test_b4_a_late_association_notification_does_not_undo_a_newer_revocation(
    apple, client, allocation, administrator
):
    token, uid, app, _assignment, run, _devices = allocation
    token.notification_secret = SECRET
    token.save()
    _listen(apple, token)
    seen: set[str] = set()
    execute(run)
    settle(apple, run)
    associated = _bodies(apple, "ASSET_MANAGEMENT", seen)
    revoke = services.revoke_token_licenses(token=token, actor=administrator)
    execute(revoke)
    settle(apple, revoke)
    assert not License.objects.filter(app=app, state__in=License.HOLDING).exists()

    for body in associated:  # Apple's retry of the association arrives after the revocation was applied
        receipt = notification_process(receipt_id=post(client, token, body).json()["id"])
        assert "out of order" in receipt.result
    app.refresh_from_db()
    assert (app.used_licenses, app.available_licenses) == _apple_counts(apple, uid)[app.adam_id][1:] == (0, 5)
    assert not License.objects.filter(app=app, state__in=License.HOLDING).exists()
    # Apple is asked for the truth about that app.
    resyncs = SyncRun.objects.filter(vpp_token=token, trigger="notification")
    assert app.adam_id in {r.adam_id for r in resyncs}
    assert NotificationReceipt.objects.filter(vpp_token=token, processed_at__isnull=True).count() == 0
