"""Apple's notifications (B4): the webhook each token gets, and applying what they say.

Apple POSTs to `/tokens/notify/<mdm_info_id>/` with `Authorization: Bearer <the token's notification secret>`.
The view checks the secret in constant time, validates the body into a typed `vpp.types.Notification`, stores
a `NotificationReceipt` (the unique notificationId makes Apple's duplicate deliveries harmless), enqueues
`process_notification` after commit and answers 200 at once.

Processing keeps counts and the assignment mirror near real time through the services of the apps owning them
(`apps.services`, `assignments.events`); whenever a notification does not fit what we hold (unknown asset,
counts that would go negative), a sync of that asset is requested instead. A malformed notification (a field
of the wrong type, a count out of range, an id longer than we store) is recorded as rejected with the reason,
changes nothing, and a sync of the token is requested. No Apple call is made while the receipt is locked:
licenses that waited for a user registration are requested by a task after commit. The full sync remains the
safety net.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
from collections.abc import Callable

from celery import current_app
from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps import services as app_services
from assignments import events as assignment_events
from assignments.tasks import request_waiting_licenses
from console.messages import apple_error
from tokens import services as token_services
from tokens.models import NotificationReceipt, SyncRun, VPPToken
from tokens.sync import request_sync
from vpp.types import MalformedNotification, Notification, notification_envelope, parse_notification

logger = logging.getLogger(__name__)

REJECTED = "rejected"
PROCESS_TASK = "tokens.tasks.process_notification"  # applesync.tasks.process_notification, which calls us


def _enqueue_processing(receipt_id: int) -> None:
    current_app.signature(PROCESS_TASK, args=(receipt_id,)).delay()


def _secret_matches(token: VPPToken, header: str) -> bool:
    expected = token.notification_secret or ""
    scheme, _, given = header.partition(" ")
    if scheme != "Bearer" or not expected:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def _has_nul(value) -> bool:
    """True when a NUL character is anywhere in the decoded JSON `value` (a key or a string)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


@csrf_exempt  # Apple authenticates with the per-token bearer secret, not a session
@require_POST
def notify_view(request, mdm_info_id):
    """Receive one Apple notification for the token whose mdmInfo id is in the URL."""
    token = VPPToken.objects.filter(mdm_info_id=mdm_info_id).first()
    if token is None:
        return JsonResponse({"detail": "unknown token"}, status=404)
    if not _secret_matches(token, request.headers.get("Authorization", "")):
        return JsonResponse({"detail": "forbidden"}, status=403)
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested deeper than Python
        return JsonResponse({"detail": "the body is not an Apple notification in JSON"}, status=400)
    try:
        nul = _has_nul(body)
    except RecursionError:
        nul = True
    if nul:  # PostgreSQL's jsonb holds no NUL character: storing the receipt answered 500
        return JsonResponse({"detail": "the body contains a NUL character"}, status=400)
    try:
        notification_id, notification_type = notification_envelope(body)
    except ValueError as exc:
        return JsonResponse({"detail": f"the body is not an Apple notification: {exc}"}, status=400)
    if not isinstance(body.get("uId"), str | int | type(None)):
        return JsonResponse(
            {"detail": "the body is not an Apple notification: uId is not a string"}, status=400
        )
    uid = str(body.get("uId") or "")
    if uid and token.location_uid and uid != token.location_uid:
        return JsonResponse({"detail": "the notification is for another location"}, status=400)
    receipt, created = notification_receive(
        token=token, notification_id=notification_id, notification_type=notification_type, body=body
    )
    status = "accepted" if created else "duplicate"
    if receipt.result.startswith(REJECTED):
        status = REJECTED
    return JsonResponse({"status": status, "id": receipt.pk})


def notification_receive(
    *, token: VPPToken, notification_id: str, notification_type: str, body: dict
) -> tuple[NotificationReceipt, bool]:
    """Store a notification once (by notificationId) and enqueue its processing after commit.

    A malformed notification is stored already processed, as rejected with the reason, and a sync of the token
    is requested instead.
    """
    try:
        parse_notification(body)
        problem = ""
    except MalformedNotification as exc:
        problem = str(exc)
    with transaction.atomic():
        receipt, created = token_services.notification_receipt_store(
            token=token, notification_id=notification_id, notification_type=notification_type, body=body
        )
        if created and problem:
            _reject(receipt, token, problem)
        elif created:
            receipt_id = receipt.pk
            transaction.on_commit(lambda: _enqueue_processing(receipt_id))
    return receipt, created


def _reject(receipt: NotificationReceipt, token: VPPToken, problem: str) -> None:
    """Record a malformed notification as rejected (nothing else changes) and request a sync of the token."""
    logger.warning(
        "Apple notification %s for token %s rejected: %s", receipt.notification_id, token.pk, problem
    )
    token_services.notification_receipt_done(
        receipt=receipt,
        result=f"{REJECTED}: {problem}",
        action="notification.reject",
        kind=receipt.notification_type,
    )
    if token.is_usable:
        request_sync(token=token, trigger=SyncRun.Trigger.NOTIFICATION)


# --- processing ---------------------------------------------------------------------------------------------


class _Outcome:
    """What a handler found: the assets to resync and the work to enqueue once the transaction committed."""

    def __init__(self) -> None:
        self.resync: list[str] = []
        self.ready_users: list[int] = []


def notification_process(*, receipt_id: int) -> NotificationReceipt:
    """Apply a stored notification once; an inconsistency requests a sync (trigger "notification").

    Everything the notification changes is written in one transaction holding the receipt's row lock; the
    follow-up work that calls Apple (licenses waiting for a registered user) is enqueued after commit.
    """
    outcome = _Outcome()
    with transaction.atomic():
        receipt = token_services.notification_receipt_lock(receipt_id=receipt_id)
        if receipt.processed_at is not None:
            return receipt
        token = receipt.vpp_token
        try:
            notification = parse_notification(receipt.payload)
        except ValueError as exc:  # stored before validation was this strict, or altered since
            _reject(receipt, token, str(exc))
            return receipt
        together: list[NotificationReceipt] = []
        if notification.notification_type == "ASSET_MANAGEMENT":
            notification, together = _with_same_event(receipt, notification)
        handler = HANDLERS.get(notification.notification_type)
        result = handler(token, notification, outcome) if handler else "ignored: unknown type"
        token_services.notification_receipt_done(
            receipt=receipt, result=result, action="notification.process", kind=notification.notification_type
        )
        for other in together:
            token_services.notification_receipt_done(
                receipt=other,
                result=f"applied with notification {receipt.notification_id}: {result}",
                action="notification.process",
                kind=notification.notification_type,
            )
        if outcome.resync and token.is_usable:
            # One asset at a time is enough for one inconsistency; several → a whole sync.
            adam_id = outcome.resync[0] if len(set(outcome.resync)) == 1 else ""
            request_sync(token=token, trigger=SyncRun.Trigger.NOTIFICATION, adam_id=adam_id)
        if outcome.ready_users:
            token_id, user_ids = token.pk, list(outcome.ready_users)
            transaction.on_commit(lambda: request_waiting_licenses.delay(token_id, user_ids))
    return receipt


SAME_EVENT_AT_ONCE = 20  # ASSET_MANAGEMENT notifications of one event applied in one transaction


def _outcome_of(notification: Notification) -> tuple:
    error = notification.error
    return (
        notification.event_id,
        notification.management_type,
        notification.result,
        (error.number, error.message) if error is not None else None,
    )


def _with_same_event(
    receipt: NotificationReceipt, notification: Notification
) -> tuple[Notification, list[NotificationReceipt]]:
    """`notification` joined by the notifications received right after it that report the same Apple event
    with the same outcome (Apple sends at most a hundred assignments in each: a thousand-device request is
    ten), and their receipts, locked. Applying them together is applying one notification listing all their
    assignments: the queries, the commit and the task are paid once, not ten times. The first receipt that
    differs (or that another worker holds) ends the run of them, so nothing is applied out of order."""
    if not notification.event_id:
        return notification, []
    together: list[NotificationReceipt] = []
    assignments = list(notification.assignments)
    for other in token_services.notification_receipts_following(receipt=receipt, limit=SAME_EVENT_AT_ONCE):
        try:
            parsed = parse_notification(other.payload)
        except ValueError:
            break
        if _outcome_of(parsed) != _outcome_of(notification):
            break
        together.append(other)
        assignments += parsed.assignments
    if not together:
        return notification, []
    return dataclasses.replace(notification, assignments=tuple(assignments)), together


def _test(token: VPPToken, notification: Notification, outcome: _Outcome) -> str:
    return "acknowledged"


def _asset_count(token: VPPToken, notification: Notification, outcome: _Outcome) -> str:
    adam_id = notification.adam_id
    if notification.count_delta is None:
        outcome.resync.append(adam_id)
        return "resync: no countDelta"
    result = app_services.count_change(
        token=token, adam_id=adam_id, pricing_param=notification.pricing_param, delta=notification.count_delta
    )
    if result is None:
        outcome.resync.append(adam_id)
        return f"resync: counts of {adam_id} do not fit (unknown asset or below zero)"
    return result


def _asset_management(token: VPPToken, notification: Notification, outcome: _Outcome) -> str:
    kind = notification.management_type
    parts = []
    mirrored = False
    if notification.succeeded:
        sign = 1 if kind == "ASSOCIATE" else -1 if kind in ("DISASSOCIATE", "REVOKE") else 0
        # Delivered out of order: items a newer change of ours overtook are not applied; Apple is asked.
        stale = assignment_events.overtaken(token, notification)
        current = [
            a
            for a in notification.assignments
            if (a.adam_id, a.serial_number or "", a.client_user_id or "") not in stale
        ]
        for adam_id in sorted({adam_id for adam_id, _s, _c in stale}):
            outcome.resync.append(adam_id)
            parts.append(f"resync: {adam_id} reported out of order")
        deltas = app_services.mirror_apply(token=token, assignments=current, sign=sign) if sign else {}
        mirrored = bool(sign)
        for (adam_id, pricing_param), delta in deltas.items():
            if not app_services.counts_assigned(
                token=token, adam_id=adam_id, pricing_param=pricing_param, delta=delta
            ):
                outcome.resync.append(adam_id)
                parts.append(f"resync: counts of {adam_id} inconsistent")
                continue
            parts.append(f"{adam_id}: used {delta:+d}")
    else:
        error = notification.error
        parts.append(f"{kind} failed: {error}" if error else f"{kind} failed")
    # When the mirror and the counts are done above, the licenses only change state.
    assignment_events.apply_asset_management(token, notification, mirrored=mirrored)
    return "; ".join(parts) or f"{kind}: nothing to change"


def _users(token: VPPToken, notification: Notification, outcome: _Outcome) -> str:
    if notification.notification_type == "USER_MANAGEMENT":
        # Registration finished (or failed): the assignments side settles its users; the licenses that were
        # waiting for them are requested after commit, before the statuses below move on.
        outcome.ready_users += assignment_events.apply_user_management(token, notification)
    if notification.notification_type == "USER_MANAGEMENT" and notification.succeeded is False:
        error = notification.error
        info = (error.error_info or {}) if error else {}
        ids = [str(i) for i in info.get("clientUserIds") or ()]
        ids = ids or [u.client_user_id for u in notification.users]
        count = assignment_events.vpp_users_failed(
            token,
            client_user_ids=ids,
            number=error.number if error else None,
            message=apple_error(error.number if error else None, (error.message if error else "") or ""),
        )
        return f"{count} user(s) failed"
    updated = assignment_events.vpp_users_apply(token, notification.users, clear_errors=True)
    return f"{updated} user(s) updated"


HANDLERS: dict[str, Callable[[VPPToken, Notification, _Outcome], str]] = {
    "TEST_NOTIFICATION": _test,
    "ASSET_COUNT": _asset_count,
    "ASSET_MANAGEMENT": _asset_management,
    "USER_MANAGEMENT": _users,
    "USER_ASSOCIATED": _users,
}
