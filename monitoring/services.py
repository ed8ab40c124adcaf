"""Every write to the monitoring tables: alerts opened, raised, resolved and acknowledged, their deliveries,
the connector checks and the daily usage snapshots.

`alerts_evaluate` is the one way alerts change state: it compares the conditions that hold now with the open
alerts, opens an alert once per condition and object, resolves it when the condition clears (a "resolved"
notice), and creates one delivery per recipient for each notice; the deliveries are sent by
`monitoring.tasks.deliver_alert` after commit, retried with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

import requests
from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from apps.models import App
from console import audit
from console.roles import ADMINISTRATORS
from mdm.client import NanoMDMClient
from mdm.errors import MDMError
from monitoring import conditions as cond
from monitoring.messages import alert_message, message_of, subject_of
from monitoring.models import Alert, AlertDelivery, ConnectorCheck, RecipientLanguage, UsageSnapshot

logger = logging.getLogger(__name__)

DELIVER_TASK = "monitoring.tasks.deliver_alert"
SIGNATURE_HEADER = "X-VPP-Console-Signature"


class DeliveryError(Exception):
    """A notice could not be handed over (mail server or webhook receiver refused or did not answer)."""


@dataclass
class Evaluation:
    opened: int = 0
    escalated: int = 0
    resolved: int = 0


# --- evaluation --------------------------------------------------------------------------------------------


def alerts_evaluate(*, now: datetime | None = None) -> Evaluation:
    """Open, raise and resolve alerts so that exactly the conditions holding now have an open alert (B5).

    Safe to run concurrently: an alert opens under a unique constraint (one open alert per condition and
    object) and resolves with a conditional update, so each notice is created once.
    """
    now = now or timezone.now()
    outcome = Evaluation()
    recipients = _Recipients()
    current = {c.key: c for c in cond.current_conditions(now=now)}
    open_alerts = {a.key: a for a in Alert.objects.filter(state=Alert.State.OPEN)}
    # One commit for all of them (each alert its own savepoint): the first sync of a large location can open
    # thousands at once, and a commit each cost milliseconds apiece.
    with transaction.atomic():
        for key, condition in current.items():
            alert = open_alerts.get(key)
            if alert is None:
                outcome.opened += _open(condition, recipients)
            else:
                outcome.escalated += _update(alert, condition, recipients)
    for key, alert in open_alerts.items():
        if key in current:
            continue
        worse = cond.SUPERSEDED_BY.get(alert.kind)
        superseded = (
            worse is not None and cond.alert_key(worse, alert.object_type, alert.object_id) in current
        )
        with transaction.atomic():
            ended = Alert.objects.filter(pk=alert.pk, state=Alert.State.OPEN).update(
                state=Alert.State.RESOLVED, resolved_at=now
            )
            if ended:
                outcome.resolved += 1
                alert.state, alert.resolved_at = Alert.State.RESOLVED, now
                if not superseded:
                    _notify(alert, AlertDelivery.Event.RESOLVED, recipients)
    return outcome


def _open(condition: cond.Condition, recipients: _Recipients) -> int:
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                kind=condition.kind,
                object_type=condition.object_type,
                object_id=condition.object_id,
                object_name=condition.object_name[:300],
                key=condition.key,
                level=condition.level,
                params=condition.params,
            )
            _notify(alert, AlertDelivery.Event.OPENED, recipients)
    except IntegrityError:  # another evaluation opened it a moment ago
        return 0
    return 1


def _update(alert: Alert, condition: cond.Condition, recipients: _Recipients) -> int:
    """Keep an open alert's figures current; a more severe level (a nearer expiry threshold) is a new
    notice, anything else changes the row quietly."""
    worse = condition.level is not None and alert.level is not None and condition.level < alert.level
    changes = {
        name: value
        for name, value in (
            ("params", condition.params),
            ("object_name", condition.object_name[:300]),
            ("level", condition.level),
        )
        if getattr(alert, name) != value
    }
    if not changes:
        return 0
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert.pk, state=Alert.State.OPEN, level=alert.level).update(
            **changes
        )
        if not updated:
            return 0
        for name, value in changes.items():
            setattr(alert, name, value)
        if worse:
            _notify(alert, AlertDelivery.Event.ESCALATED, recipients)
    return int(worse)


# --- notices -----------------------------------------------------------------------------------------------


def administrator_recipients() -> list[tuple[str, str]]:
    """(email, language) of every active administrator with an address: the language they last signed in
    with, else LANGUAGE_CODE. One entry per address."""
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .filter(Q(is_superuser=True) | Q(groups__name=ADMINISTRATORS))
        .distinct()
    )
    pairs = dict(users.values_list("pk", "email"))
    languages = dict(RecipientLanguage.objects.filter(user_id__in=pairs).values_list("user_id", "language"))
    found: dict[str, str] = {}
    for pk, email in sorted(pairs.items()):
        found.setdefault(email, languages.get(pk) or settings.LANGUAGE_CODE)
    return sorted(found.items())


def _link(alert: Alert) -> str:
    if not settings.PUBLIC_BASE_URL:
        return ""
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("monitoring:alerts") + f"?kind={alert.kind}"


def webhook_body(alert: Alert, event: str) -> str:
    """The webhook's JSON body for a notice (message in LANGUAGE_CODE)."""
    with translation.override(settings.LANGUAGE_CODE):
        message = message_of(alert)
    payload = {
        "event": event,
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "object_type": alert.object_type,
            "object_id": alert.object_id,
            "object_name": alert.object_name,
            "state": alert.state,
            "opened_at": alert.opened_at.isoformat() if alert.opened_at else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "message": message,
            "parameters": alert.params,
            "url": _link(alert) or None,
        },
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body with the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _Recipients:
    """The administrators' addresses, read once per evaluation and only if a notice is created."""

    def __init__(self) -> None:
        self._found: list[tuple[str, str]] | None = None

    def __iter__(self):
        if self._found is None:
            self._found = administrator_recipients()
        return iter(self._found)


def _notify(alert: Alert, event: str, recipients: _Recipients) -> None:
    """Create the deliveries of one notice (call inside the transaction that changed the alert); they are
    sent after commit."""
    rows = [
        AlertDelivery(
            alert=alert,
            event=event,
            channel=AlertDelivery.Channel.EMAIL,
            recipient=email,
            language=language,
            params=alert.params,
        )
        for email, language in recipients
    ]
    if settings.ALERT_WEBHOOK_URL:
        rows.append(
            AlertDelivery(
                alert=alert,
                event=event,
                channel=AlertDelivery.Channel.WEBHOOK,
                recipient=settings.ALERT_WEBHOOK_URL[:300],
                language=settings.LANGUAGE_CODE,
                params=alert.params,
                body=webhook_body(alert, event),
            )
        )
    created = AlertDelivery.objects.bulk_create(rows)
    for delivery in created:
        transaction.on_commit(partial(_send_delivery, delivery.pk))


def _send_delivery(delivery_id: int) -> None:
    # By name: the task module imports this one.
    current_app.send_task(DELIVER_TASK, args=(delivery_id,))


def max_attempts() -> int:
    return len(settings.ALERT_DELIVERY_BACKOFF) + 1


def delivery_attempt(*, delivery_id: int) -> AlertDelivery:
    """Send one delivery once; record the attempt, and its error. After `max_attempts()` failures the
    delivery is failed for good. A delivery already sent or failed is returned unchanged."""
    delivery = AlertDelivery.objects.select_related("alert").get(pk=delivery_id)
    if delivery.status in (AlertDelivery.Status.SENT, AlertDelivery.Status.FAILED):
        return delivery
    delivery.attempts += 1
    try:
        if delivery.channel == AlertDelivery.Channel.WEBHOOK:
            _send_webhook(delivery)
        else:
            _send_email(delivery)
    except DeliveryError as exc:
        delivery.last_error = str(exc)[:500]
        delivery.status = (
            AlertDelivery.Status.FAILED
            if delivery.attempts >= max_attempts()
            else AlertDelivery.Status.RETRYING
        )
    else:
        delivery.status, delivery.sent_at, delivery.last_error = AlertDelivery.Status.SENT, timezone.now(), ""
    delivery.save(update_fields=["attempts", "last_error", "status", "sent_at"])
    return delivery


def _send_email(delivery: AlertDelivery) -> None:
    alert = delivery.alert
    with translation.override(delivery.language):
        text = alert_message(kind=alert.kind, object_name=alert.object_name, params=delivery.params)
        body = render_to_string(
            "monitoring/email/alert.txt",
            {"alert": alert, "event": delivery.event, "message": text, "link": _link(alert)},
        )
        subject = subject_of(text, delivery.event)
        message = EmailMessage(subject=f"[VPP Console] {subject}", body=body, to=[delivery.recipient])
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None


def _send_webhook(delivery: AlertDelivery) -> None:
    """POST the stored body to ALERT_WEBHOOK_URL, signed with ALERT_WEBHOOK_SECRET; a 2xx answer is sent."""
    url = settings.ALERT_WEBHOOK_URL or delivery.recipient
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "vpp-console-alerts/1",
        "X-VPP-Console-Event": delivery.event,
        "X-VPP-Console-Delivery": str(delivery.pk),
    }
    if settings.ALERT_WEBHOOK_SECRET:
        headers[SIGNATURE_HEADER] = sign(body, settings.ALERT_WEBHOOK_SECRET)
    try:
        response = requests.post(
            url, data=body, headers=headers, timeout=settings.ALERT_WEBHOOK_TIMEOUT, allow_redirects=False
        )
    except requests.RequestException as exc:
        raise DeliveryError(f"{type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"HTTP {response.status_code}")


# --- acknowledging -----------------------------------------------------------------------------------------


def alert_acknowledge(*, alert: Alert, actor) -> Alert:
    """Record that `actor` (an administrator) has seen the alert: it leaves the banner. Acknowledging twice
    keeps the first acknowledgement."""
    with transaction.atomic():
        now = timezone.now()
        updated = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_by=actor, acknowledged_at=now
        )
        alert.refresh_from_db()
        if updated:
            audit.record(
                actor=actor,
                action="alert.acknowledge",
                obj=alert,
                before={"acknowledged_at": None},
                after={"acknowledged_at": now.isoformat()},
            )
    return alert


def recipient_language_record(*, user, language: str) -> None:
    """Remember the language `user` uses the console in, for their alert emails."""
    codes = {code for code, _name in settings.LANGUAGES}
    if user.pk and language in codes:
        RecipientLanguage.objects.update_or_create(user_id=user.pk, defaults={"language": language})


# --- the NanoMDM connector ---------------------------------------------------------------------------------


def nanomdm_check() -> ConnectorCheck | None:
    """Probe NanoMDM (`GET /version`) and record whether it answered; None when deployment is off."""
    if not settings.NANOMDM_URL:
        ConnectorCheck.objects.filter(name=cond.NANOMDM).delete()
        return None
    detail, reachable = "", True
    try:
        with NanoMDMClient(
            settings.NANOMDM_URL, settings.NANOMDM_API_KEY, max_retries=1, timeout=5
        ) as client:
            detail = client.version()[:300]
    except (MDMError, ValueError) as exc:
        reachable, detail = False, str(exc)[:300]
    check, _created = ConnectorCheck.objects.update_or_create(
        name=cond.NANOMDM, defaults={"reachable": reachable, "detail": detail, "checked_at": timezone.now()}
    )
    return check


# --- usage snapshots ---------------------------------------------------------------------------------------


def usage_snapshot_take(*, day: date | None = None) -> int:
    """Record each token's licenses (total, used; unlimited apps left out) for `day` (today), replacing an
    earlier figure of that day, and delete snapshots older than USAGE_SNAPSHOT_DAYS. Returns the rows written.
    """
    day = day or timezone.localdate()
    figures = (
        App.objects.filter(is_unlimited=False)
        .values("vpp_token")
        .annotate(total=Sum("total_licenses"), used=Sum("used_licenses"))
    )
    written = 0
    with transaction.atomic():
        for row in figures:
            UsageSnapshot.objects.update_or_create(
                day=day,
                vpp_token_id=row["vpp_token"],
                defaults={"total": row["total"] or 0, "used": row["used"] or 0},
            )
            written += 1
        UsageSnapshot.objects.filter(day__lt=day - timedelta(days=settings.USAGE_SNAPSHOT_DAYS)).delete()
    return written
