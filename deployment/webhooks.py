"""`POST /webhooks/nanomdm/`: NanoMDM's webhook (D6). Verify, record once, enqueue, answer.

No outbound call and no change beyond the recorded event happen inside the request: devices answer in
bursts of thousands and NanoMDM does not retry a webhook that timed out.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from deployment import services
from mdm.webhook import MalformedEvent, parse_event, verify_signature

SIGNATURE_HEADER = "X-Hmac-Signature"


@csrf_exempt  # authenticated by the HMAC signature of the body, not by a session
@require_POST
def nanomdm_webhook(request: HttpRequest) -> JsonResponse:
    key = settings.NANOMDM_WEBHOOK_HMAC_KEY
    if not key:
        return JsonResponse({"detail": "The NanoMDM webhook is not configured."}, status=503)
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        return JsonResponse({"detail": "Missing X-Hmac-Signature."}, status=401)
    body = request.body
    if not verify_signature(body, signature, key):
        return JsonResponse({"detail": "Wrong X-Hmac-Signature."}, status=403)
    try:
        event = parse_event(body)
    except MalformedEvent as exc:
        return JsonResponse({"detail": f"Malformed event: {exc}"}, status=400)
    recorded = services.webhook_receive(body=body, event_id=event.event_id, topic=event.topic or "")
    return JsonResponse({"status": "accepted" if recorded else "duplicate"}, status=200)
