"""Apple's notifications (B4): the webhook each token gets, and applying what they say.

Apple POSTs to `/tokens/notify/<mdm_info_id>/` with `Authorization: Bearer <the token's notification secret>`.
The view checks the secret in constant time, stores a `NotificationReceipt` (the unique notificationId makes
Apple's duplicate deliveries harmless), enqueues `process_notification` after commit and answers 200 at once.

Processing keeps counts and the assignment mirror near real time; whenever a notification does not fit what we
hold (unknown asset, counts that would go negative), a sync of that asset is requested instead. The full sync
remains the safety net.
"""

from __future__ import annotations

import hmac
import json
import logging
from functools import partial

from django.db import transaction
from django.db.models import F
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from console import audit
from tokens.models import NotificationReceipt, SyncRun, VPPToken
from vpp.types import Notification, parse_notification

logger = logging.getLogger(__name__)


def _secret_matches(token: VPPToken, header: str) -> bool:
    expected = token.notification_secret or ""
    scheme, _, given = header.partition(" ")
    if scheme != "Bearer" or not expected:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


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
        notification = parse_notification(body)
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"detail": "the body is not an Apple notification in JSON"}, status=400)
    if notification.uid and token.location_uid and notification.uid != token.location_uid:
        return JsonResponse({"detail": "the notification is for another location"}, status=400)
    receipt, created = notification_receive(token=token, notification=notification, body=body)
    return JsonResponse({"status": "accepted" if created else "duplicate", "id": receipt.pk})


def notification_receive(
    *, token: VPPToken, notification: Notification, body: dict
) -> tuple[NotificationReceipt, bool]:
    """Store a notification once (by notificationId) and enqueue its processing after commit."""
    from tokens.tasks import process_notification

    with transaction.atomic():
        receipt, created = NotificationReceipt.objects.get_or_create(
            vpp_token=token,
            notification_id=notification.notification_id,
            defaults={"notification_type": notification.notification_type[:50], "payload": body},
        )
        if created:
            transaction.on_commit(partial(process_notification.delay, receipt.pk))
    return receipt, created


# --- processing ---------------------------------------------------------------------------------------------


def notification_process(*, receipt_id: int) -> NotificationReceipt:
    """Apply a stored notification once; an inconsistency requests a sync (trigger "notification")."""
    from tokens.sync import request_sync

    resync: list[str] = []
    with transaction.atomic():
        receipt = (
            NotificationReceipt.objects.select_for_update().select_related("vpp_token").get(pk=receipt_id)
        )
        if receipt.processed_at is not None:
            return receipt
        token = receipt.vpp_token
        notification = parse_notification(receipt.payload)
        handler = HANDLERS.get(notification.notification_type)
        result = handler(token, notification, resync) if handler else "ignored: unknown type"
        receipt.processed_at = timezone.now()
        receipt.result = result[:500]
        receipt.save(update_fields=["processed_at", "result"])
        audit.record(
            actor=None,
            action="notification.process",
            obj=receipt,
            after={"type": notification.notification_type, "result": receipt.result},
        )
        if resync and token.is_usable:
            # One asset at a time is enough for one inconsistency; several → a whole sync.
            adam_id = resync[0] if len(set(resync)) == 1 else ""
            request_sync(token=token, trigger=SyncRun.Trigger.NOTIFICATION, adam_id=adam_id)
    return receipt


def _test(token, notification: Notification, resync: list[str]) -> str:
    return "acknowledged"


def _app_for(token, adam_id: str, pricing_param: str):
    from apps.models import App

    return (
        App.objects.select_for_update()
        .filter(vpp_token=token, adam_id=adam_id, pricing_param=pricing_param or "STDQ")
        .first()
    )


def _asset_count(token, notification: Notification, resync: list[str]) -> str:
    payload = notification.payload
    adam_id = str(payload.get("adamId") or "")
    pricing_param = str(payload.get("pricingParam") or "STDQ")
    try:
        delta = int(payload.get("countDelta"))
    except (TypeError, ValueError):
        resync.append(adam_id)
        return "resync: no countDelta"
    app = _app_for(token, adam_id, pricing_param)
    if app is None:
        resync.append(adam_id)
        return f"resync: unknown asset {adam_id}"
    if app.is_unlimited:
        return "unlimited asset: no count change"
    if app.total_licenses + delta < 0 or app.available_licenses + delta < 0:
        resync.append(adam_id)
        return f"resync: counts of {adam_id} would go negative"
    type(app).objects.filter(pk=app.pk).update(
        total_licenses=F("total_licenses") + delta,
        available_licenses=F("available_licenses") + delta,
        updated_at=timezone.now(),
    )
    return f"{adam_id}: total {delta:+d}"


def _asset_management(token, notification: Notification, resync: list[str]) -> str:
    from apps.models import AppleAssignment

    payload = notification.payload
    kind = str(payload.get("type") or "")
    parts = []
    if notification.succeeded:
        sign = 1 if kind == "ASSOCIATE" else -1 if kind in ("DISASSOCIATE", "REVOKE") else 0
        deltas: dict[tuple[str, str], int] = {}
        for item in notification.assignments:
            key = (item.adam_id, item.pricing_param)
            lookup = {
                "vpp_token": token,
                "adam_id": item.adam_id,
                "pricing_param": item.pricing_param,
                "serial_number": item.serial_number or "",
                "client_user_id": item.client_user_id or "",
            }
            if sign > 0:
                app = _app_for(token, *key)
                _row, created = AppleAssignment.objects.get_or_create(**lookup, defaults={"app": app})
                changed = int(created)
            elif sign < 0:
                changed, _ = AppleAssignment.objects.filter(**lookup).delete()
            else:
                changed = 0
            # Only a row that really appeared or disappeared moves the counts: redeliveries change nothing.
            if changed:
                deltas[key] = deltas.get(key, 0) + sign * changed
        for (adam_id, pricing_param), delta in deltas.items():
            app = _app_for(token, adam_id, pricing_param)
            if app is None:
                resync.append(adam_id)
                parts.append(f"resync: unknown asset {adam_id}")
                continue
            used = app.used_licenses + delta
            available = app.available_licenses - delta
            if used < 0 or available < 0:
                resync.append(adam_id)
                parts.append(f"resync: counts of {adam_id} inconsistent")
                continue
            type(app).objects.filter(pk=app.pk).update(
                used_licenses=used, available_licenses=available, updated_at=timezone.now()
            )
            parts.append(f"{adam_id}: used {delta:+d}")
    else:
        error = notification.error
        parts.append(f"{kind} failed: {error}" if error else f"{kind} failed")
    from assignments import events

    events.apply_asset_management(token, payload)
    return "; ".join(parts) or f"{kind}: nothing to change"


def _users(token, notification: Notification, resync: list[str]) -> str:
    from assignments.models import VPPUser
    from tokens.sync import VPP_USER_STATUS

    if notification.notification_type == "USER_MANAGEMENT":
        # Registration finished (or failed): the assignments side settles its users and requests the licenses
        # that were waiting for them, before the statuses below move on.
        from assignments import events

        events.apply_user_management(token, notification.payload)
    if notification.notification_type == "USER_MANAGEMENT" and notification.succeeded is False:
        error = notification.error
        info = (error.error_info or {}) if error else {}
        ids = [str(i) for i in info.get("clientUserIds") or ()]
        ids = ids or [u.client_user_id for u in notification.users]
        failed = VPPUser.objects.filter(
            vpp_token=token, client_user_id__in=ids, status=VPPUser.Status.PENDING
        )
        count = failed.update(
            status=VPPUser.Status.FAILED,
            error_number=error.number if error else None,
            error=(error.message if error else "")[:500],
            updated_at=timezone.now(),
        )
        return f"{count} user(s) failed"
    by_id = {u.client_user_id: u for u in notification.users}
    updated = 0
    # T9: only users this console created are touched; anyone else's users are ignored.
    ours = VPPUser.objects.select_for_update().filter(vpp_token=token, client_user_id__in=list(by_id))
    for vpp_user in ours:
        apple_user = by_id[vpp_user.client_user_id]
        status = VPP_USER_STATUS.get(apple_user.status)
        if status is None:
            continue
        vpp_user.status = status
        vpp_user.invite_code = apple_user.invite_code or vpp_user.invite_code
        vpp_user.id_hash = apple_user.id_hash or vpp_user.id_hash
        vpp_user.error_number = None
        vpp_user.error = ""
        vpp_user.save(
            update_fields=["status", "invite_code", "id_hash", "error_number", "error", "updated_at"]
        )
        updated += 1
    return f"{updated} user(s) updated"


HANDLERS = {
    "TEST_NOTIFICATION": _test,
    "ASSET_COUNT": _asset_count,
    "ASSET_MANAGEMENT": _asset_management,
    "USER_MANAGEMENT": _users,
    "USER_ASSOCIATED": _users,
}
