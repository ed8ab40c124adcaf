"""Alerts (B5): each condition opens one alert per object, raises it at the next expiry threshold, resolves it
when the condition clears (a "resolved" notice), and never notifies again on repeated syncs. Notices go by
email in the recipient's language and to a signed webhook, retried; every delivery is recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from apps.models import App
from deployment.models import DeviceAppState, InstallState
from mdm.simulator.testing import running_mdm_simulator
from monitoring import services
from monitoring.messages import message_of
from monitoring.models import Alert, AlertDelivery, ConnectorCheck, RecipientLanguage
from tests import factories
from tests.monitoring.conftest import deliver_pending
from tests.tokens.test_sync import connect, sync
from tokens.models import VPPToken

pytestmark = pytest.mark.django_db

Kind = Alert.Kind


def open_alerts(kind=None) -> list[Alert]:
    qs = Alert.objects.filter(state=Alert.State.OPEN)
    return list(qs.filter(kind=kind) if kind else qs)


def notices(alert: Alert, event: str | None = None) -> list[AlertDelivery]:
    qs = AlertDelivery.objects.filter(alert=alert)
    return list(qs.filter(event=event) if event else qs)


def _expires_in(token: VPPToken, days: float) -> None:
    VPPToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(days=days))


def test_b5_token_expiry_opens_once_escalates_at_30_14_7_1_days_and_resolves_on_renewal(
    administrator, help_desk, mailoutbox
):
    token = factories.VPPTokenFactory(name="Contoso HQ", expires_at=timezone.now() + timedelta(days=40))
    assert services.alerts_evaluate().opened == 0
    levels = []
    for days in (29.5, 20, 13.5, 6.5, 0.5):
        _expires_in(token, days)
        services.alerts_evaluate()
        services.alerts_evaluate()  # a second evaluation (another sync ending) changes nothing
        [alert] = open_alerts(Kind.TOKEN_EXPIRING)
        levels.append(alert.level)
    assert levels == [30, 30, 14, 7, 1]
    # One alert; a notice when it opened and at each nearer threshold (14, 7, 1), none at 20 days.
    assert Alert.objects.filter(kind=Kind.TOKEN_EXPIRING).count() == 1
    assert [d.event for d in reversed(notices(alert))] == ["opened", "escalated", "escalated", "escalated"]
    deliver_pending()
    assert len(mailoutbox) == 4
    assert mailoutbox[0].to == [administrator.email]  # administrators only, not the help desk
    assert "Contoso HQ" in mailoutbox[0].subject and "30 days" in mailoutbox[0].subject
    assert "within 1 day" in mailoutbox[-1].subject
    assert token.token_content not in mailoutbox[0].body

    _expires_in(token, 300)  # renewed
    assert services.alerts_evaluate().resolved == 1
    alert.refresh_from_db()
    assert alert.state == Alert.State.RESOLVED and alert.resolved_at is not None
    deliver_pending()
    assert mailoutbox[-1].subject.startswith("[VPP Console] Resolved: ")
    assert services.alerts_evaluate().resolved == 0 and len(notices(alert)) == 5


def test_b5_expired_token_supersedes_the_expiry_alert_without_a_resolved_notice(administrator):
    token = factories.VPPTokenFactory(expires_at=timezone.now() + timedelta(days=3))
    services.alerts_evaluate()
    [expiring] = open_alerts(Kind.TOKEN_EXPIRING)
    _expires_in(token, -1)
    services.alerts_evaluate()
    [unusable] = open_alerts()
    assert unusable.kind == Kind.TOKEN_UNUSABLE and unusable.params == {"state": "expired"}
    with translation.override("en"):
        assert message_of(unusable) == f"The VPP token “{token.name}” has expired."
    expiring.refresh_from_db()
    assert expiring.state == Alert.State.RESOLVED
    assert notices(expiring, "resolved") == []


def test_b5_licenses_low_then_exhausted_then_cleared(administrator, settings):
    settings.LICENSES_LOW_PERCENT = 80
    app = factories.AppFactory(name="Keynote", total_licenses=10, used_licenses=7)
    factories.AppFactory(name="Unlimited", total_licenses=0, used_licenses=50, is_unlimited=True)
    services.alerts_evaluate()
    assert open_alerts() == []
    App.objects.filter(pk=app.pk).update(used_licenses=8)
    services.alerts_evaluate()
    [low] = open_alerts()
    assert (low.kind, low.object_type, low.object_id) == (Kind.LICENSES_LOW, "app", app.pk)
    assert message_of(low) == f"“Keynote · {app.vpp_token.name}” uses 8 of 10 licenses (80 %)."
    App.objects.filter(pk=app.pk).update(used_licenses=9)
    services.alerts_evaluate()
    [low_again] = open_alerts()
    assert low_again.pk == low.pk and low_again.params["percent"] == 90
    assert len(notices(low)) == 1  # a changed figure is no new notice
    App.objects.filter(pk=app.pk).update(used_licenses=10)
    services.alerts_evaluate()
    [exhausted] = open_alerts()
    assert exhausted.kind == Kind.LICENSES_EXHAUSTED
    low.refresh_from_db()
    assert low.state == Alert.State.RESOLVED and notices(low, "resolved") == []  # it got worse
    App.objects.filter(pk=app.pk).update(total_licenses=50)
    services.alerts_evaluate()
    assert open_alerts() == []
    assert len(notices(exhausted, "resolved")) == 1


def test_b5_install_failures_above_the_threshold_per_app(administrator, settings):
    settings.ALERT_INSTALL_FAILURES = 2
    app = factories.AppFactory(name="Pages")
    devices = factories.DeviceFactory.create_batch(3)
    DeviceAppState.objects.create(device=devices[0], app=app, state=InstallState.FAILED)
    DeviceAppState.objects.create(device=devices[1], app=app, state=InstallState.INSTALLED)
    services.alerts_evaluate()
    assert open_alerts() == []
    DeviceAppState.objects.create(device=devices[2], app=app, state=InstallState.FAILED)
    services.alerts_evaluate()
    [alert] = open_alerts()
    assert alert.kind == Kind.INSTALL_FAILURES and alert.params == {"count": 2}
    assert message_of(alert).endswith("failed to install on 2 devices.")


def test_b5_nanomdm_unreachable_opens_and_resolves_with_the_probe(administrator, settings):
    settings.NANOMDM_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.NANOMDM_API_KEY = "k"
    assert services.nanomdm_check().reachable is False
    services.alerts_evaluate()
    [alert] = open_alerts()
    assert alert.kind == Kind.MDM_UNREACHABLE and alert.object_id is None
    with running_mdm_simulator(api_key="k") as nanomdm:
        settings.NANOMDM_URL = nanomdm.url
        assert services.nanomdm_check().reachable is True
    services.alerts_evaluate()
    alert.refresh_from_db()
    assert alert.state == Alert.State.RESOLVED
    settings.NANOMDM_URL = ""
    services.nanomdm_check()
    assert not ConnectorCheck.objects.exists()


def test_b5_repeated_syncs_through_apple_open_one_alert_and_resolve_it(
    apple, administrator, mailoutbox, django_capture_on_commit_callbacks
):
    """Through the simulator over HTTP: an app runs out of licenses at Apple; three syncs later there is
    still one alert and one notice; more licenses bought, the next sync resolves it (one notice)."""
    token = connect(apple)
    with django_capture_on_commit_callbacks(execute=True):
        sync(token)
    before = set(Alert.objects.values_list("key", flat=True))
    app = App.objects.filter(vpp_token=token, used_licenses__gt=0, is_unlimited=False).order_by("pk").first()
    assert app is not None, "the simulator's location has an app with licenses in use"
    apple.change_count(
        token.location_uid, app.adam_id, app.used_licenses - app.total_licenses, app.pricing_param
    )
    for _ in range(3):
        # The alerts are evaluated when the run ends (console.signals.run_finished), after its commit.
        with django_capture_on_commit_callbacks(execute=True):
            sync(token, full=True)
    [alert] = Alert.objects.exclude(key__in=before)
    assert (alert.kind, alert.object_id, alert.state) == (Kind.LICENSES_EXHAUSTED, app.pk, Alert.State.OPEN)
    assert [d.event for d in notices(alert)] == ["opened"]
    apple.change_count(token.location_uid, app.adam_id, 100, app.pricing_param)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            sync(token, full=True)
    alert.refresh_from_db()
    assert alert.state == Alert.State.RESOLVED
    assert sorted(d.event for d in notices(alert)) == ["opened", "resolved"]
    deliver_pending()
    about_app = [m.subject for m in mailoutbox if app.name in m.subject]
    assert [s.startswith("[VPP Console] Resolved: ") for s in about_app] == [False, True]
    assert about_app[0].endswith(f"has no licenses left ({app.used_licenses} of {app.used_licenses} used).")


def test_b5_token_revoked_at_apple_alerts_once_across_failed_syncs(
    apple, administrator, django_capture_on_commit_callbacks
):
    token = connect(apple)
    with django_capture_on_commit_callbacks(execute=True):
        sync(token)
    apple.set_token_state(token.location_uid, "revoked")
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert sync(token).status == "failed"
    [alert] = open_alerts(Kind.TOKEN_UNUSABLE)
    assert alert.params == {"state": "revoked"} and alert.object_id == token.pk
    assert len(notices(alert)) == 1


def test_b5_email_is_written_in_the_language_the_administrator_signed_in_with(client, mailoutbox):
    zh = factories.AdministratorFactory(email="zh@example.com")
    en = factories.AdministratorFactory(email="en@example.com")
    client.cookies["django_language"] = "zh-hans"  # the language switch's cookie
    signed_in = client.post("/login/", {"username": zh.username, "password": "correct horse battery staple"})
    assert signed_in.status_code == 302
    assert RecipientLanguage.objects.get(user=zh).language == "zh-hans"
    assert not RecipientLanguage.objects.filter(user=en).exists()
    factories.VPPTokenFactory(name="总部", expires_at=timezone.now() + timedelta(days=6.5))
    services.alerts_evaluate()
    deliver_pending()
    by_address = {m.to[0]: m for m in mailoutbox}
    expires_on = (timezone.now() + timedelta(days=6.5)).date().isoformat()
    assert (
        by_address["zh@example.com"].subject
        == f"[VPP Console] VPP 令牌“总部”将在 7 天内过期（{expires_on}）。"
    )
    assert (
        "种类: 令牌即将过期" in by_address["zh@example.com"].body
        and "Kind" not in by_address["zh@example.com"].body
    )
    assert "expires within 7 days" in by_address["en@example.com"].subject


def test_b5_webhook_is_signed_retried_after_a_failure_and_recorded(administrator, webhook_receiver, settings):
    settings.ALERT_DELIVERY_BACKOFF = [1, 1]
    webhook_receiver.statuses = [500]
    token = factories.VPPTokenFactory(name="Webhook HQ", expires_at=timezone.now() + timedelta(days=10))
    services.alerts_evaluate()
    [hook] = AlertDelivery.objects.filter(channel=AlertDelivery.Channel.WEBHOOK)
    first = services.delivery_attempt(delivery_id=hook.pk)
    assert (first.status, first.attempts, first.last_error) == ("retrying", 1, "HTTP 500")
    second = services.delivery_attempt(delivery_id=hook.pk)
    assert (second.status, second.attempts, second.last_error) == ("sent", 2, "")
    assert services.delivery_attempt(delivery_id=hook.pk).attempts == 2  # sent: never again
    assert [r["answered"] for r in webhook_receiver.received] == [500, 204]
    assert all(r["verified"] for r in webhook_receiver.received)
    body = webhook_receiver.received[-1]["body"]
    assert body["event"] == "opened" and webhook_receiver.received[-1]["event"] == "opened"
    assert body["alert"]["kind"] == "token_expiring" and body["alert"]["object_id"] == token.pk
    assert body["alert"]["message"].startswith("The VPP token “Webhook HQ” expires within 14 days")
    assert webhook_receiver.received[0]["body"] == body  # a retry sends the same signed body


def test_b5_webhook_gives_up_after_its_attempts(administrator, webhook_receiver, settings):
    settings.ALERT_DELIVERY_BACKOFF = [1]
    webhook_receiver.statuses = [503, 503]
    factories.VPPTokenFactory(expires_at=timezone.now() - timedelta(days=1))
    services.alerts_evaluate()
    [hook] = AlertDelivery.objects.filter(channel=AlertDelivery.Channel.WEBHOOK)
    services.delivery_attempt(delivery_id=hook.pk)
    final = services.delivery_attempt(delivery_id=hook.pk)
    assert (final.status, final.attempts, final.last_error) == ("failed", 2, "HTTP 503")


def test_b5_a_forged_signature_does_not_verify(webhook_receiver):
    from tests.monitoring.conftest import WEBHOOK_SECRET, verify_signature

    body = b'{"event": "opened"}'
    assert verify_signature(body, services.sign(body, WEBHOOK_SECRET), WEBHOOK_SECRET)
    assert not verify_signature(body, services.sign(body, "another secret"), WEBHOOK_SECRET)
    assert not verify_signature(body + b" ", services.sign(body, WEBHOOK_SECRET), WEBHOOK_SECRET)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_b5_the_worker_sends_the_webhook_and_retries_it_after_a_failure(
    administrator, webhook_receiver, settings, celery_worker
):
    """The notice leaves after commit through the real task, which retries it with the configured backoff."""
    from tests.deployment.conftest import wait_for

    settings.ALERT_DELIVERY_BACKOFF = [0, 0]
    webhook_receiver.statuses = [502]
    factories.VPPTokenFactory(name="Worker HQ", state=VPPToken.State.REVOKED)
    services.alerts_evaluate()
    hook = wait_for(
        lambda: AlertDelivery.objects.filter(channel="webhook", status="sent").first(),
        timeout=30,
        message="the webhook delivered",
    )
    assert hook.attempts == 2
    assert [r["answered"] for r in webhook_receiver.received] == [502, 204]
    assert all(r["verified"] for r in webhook_receiver.received)
    email = wait_for(
        lambda: AlertDelivery.objects.filter(channel="email", status="sent").first(),
        timeout=30,
        message="email",
    )
    assert email.recipient == administrator.email


def test_b5_sync_failed_after_its_retries_alerts_once_and_the_next_good_sync_resolves_it(
    apple, administrator, settings, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("vpp.client.BACKOFF_BASE", 0.001)  # the real retry loop, scaled down
    settings.VPP_REQUEST_TIMEOUT = 0.3
    token = connect(apple)
    with django_capture_on_commit_callbacks(execute=True):
        sync(token)
    apple.add_fault("internal_error", count=1000, path="assignments")
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert sync(token, full=True).status == "failed"
    [alert] = open_alerts(Kind.SYNC_FAILED)
    assert alert.object_id == token.pk and alert.params == {"error_number": 9603}
    assert (
        message_of(alert)
        == f"Syncing the VPP token “{token.name}” failed after its retries. Apple error 9603."
    )
    assert [d.event for d in notices(alert)] == ["opened"]
    apple.clear_faults()
    with django_capture_on_commit_callbacks(execute=True):
        assert sync(token).status == "completed"
    alert.refresh_from_db()
    assert alert.state == Alert.State.RESOLVED
    assert sorted(d.event for d in notices(alert)) == ["opened", "resolved"]


def test_deploy_check_refuses_an_unsigned_or_plain_http_alert_webhook(settings):
    from django.core.checks import run_checks

    settings.ALERT_WEBHOOK_URL = "https://hooks.example.com/vpp"
    settings.ALERT_WEBHOOK_SECRET = ""
    assert "monitoring.E001" in {e.id for e in run_checks(include_deployment_checks=True)}
    settings.ALERT_WEBHOOK_URL = "http://hooks.example.com/vpp"
    settings.ALERT_WEBHOOK_SECRET = "s" * 40
    assert "monitoring.E002" in {e.id for e in run_checks(include_deployment_checks=True)}
    settings.ALERT_WEBHOOK_URL = "https://hooks.example.com/vpp"
    ids = {e.id for e in run_checks(include_deployment_checks=True)}
    assert not {"monitoring.E001", "monitoring.E002"} & ids
