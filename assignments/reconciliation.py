"""Reconciliation with Apple (B2, T9): what Apple holds versus the licenses we think are assigned.

The comparison reads Apple's assignments fresh (`GET assignments`), so it does not depend on when the
last sync
ran. Drift:
- *untracked*: at Apple, with no assigned/pending license of ours for that app and target (including targets
  this console does not know at all — no Device with that serial, no VPPUser with that client user id);
- *missing*: our license says assigned, Apple has no such assignment.
Repair revokes the untracked ones (per app, assets/disassociate) and re-requests the missing ones (reserved
under the App lock like any allocation, so repair never oversubscribes).
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction

from apps.models import App
from assignments.models import License, LicenseRun, VPPUser
from console import runs
from directory.models import Device

SHOWN = 200  # drift items kept in a run's summary for the page


def apple_assignments(token) -> set[tuple[str, str, str, str]]:
    """(adam_id, pricing_param, kind, target) of every assignment Apple lists for the token; kind "s" or
    "u"."""
    from tokens.apple import client_for

    result = set()
    for item in client_for(token).iter_assignments():
        if item.serial_number:
            result.add((item.adam_id, item.pricing_param, "s", item.serial_number))
        if item.client_user_id:
            result.add((item.adam_id, item.pricing_param, "u", item.client_user_id))
    return result


def _ours(token) -> dict[tuple[str, str, str, str], License]:
    licenses = License.objects.filter(
        app__vpp_token=token,
        state__in=[License.State.ASSIGNED, License.State.PENDING, License.State.REVOKING],
    ).select_related("app", "device")
    cids = {
        v.user_id: v.client_user_id
        for v in VPPUser.objects.filter(vpp_token=token).exclude(status=VPPUser.Status.RETIRED)
    }
    ours = {}
    for lic in licenses:
        if lic.license_type == "device" and lic.device:
            key = (lic.app.adam_id, lic.app.pricing_param, "s", lic.device.serial_number)
        elif lic.user_id in cids:
            key = (lic.app.adam_id, lic.app.pricing_param, "u", cids[lic.user_id])
        else:
            continue
        ours[key] = lic
    return ours


def drift(token, at_apple: set | None = None) -> dict:
    """{"untracked": [(adam, pricing, kind, target, known)], "missing": [license ids]}."""
    at_apple = apple_assignments(token) if at_apple is None else at_apple
    ours = _ours(token)
    serials = set(Device.objects.values_list("serial_number", flat=True))
    cids = set(VPPUser.objects.filter(vpp_token=token).values_list("client_user_id", flat=True))
    untracked = []
    for key in sorted(at_apple):
        if key in ours:
            continue
        known = key[3] in (serials if key[2] == "s" else cids)
        untracked.append((*key, known))
    missing = [
        lic.pk for key, lic in ours.items() if lic.state == License.State.ASSIGNED and key not in at_apple
    ]
    return {"untracked": untracked, "missing": missing}


def untracked_targets(token) -> tuple[list[str], list[str]]:
    """Serial numbers and client user ids holding assets at Apple that this console does not know (T9, B2)."""
    items = drift(token)["untracked"]
    serials = sorted({i[3] for i in items if i[2] == "s" and not i[4]})
    cids = sorted({i[3] for i in items if i[2] == "u" and not i[4]})
    return serials, cids


def _repair(token, found: dict) -> list[str]:
    from assignments.allocation import NO_LICENSES, available_for, request_pending
    from assignments.events import _move_counts
    from tokens.apple import client_for
    from vpp.types import AssetRef

    events: list[str] = []
    by_asset: dict = defaultdict(lambda: ([], []))
    for adam, pricing, kind, target, _known in found["untracked"]:
        by_asset[(adam, pricing)][0 if kind == "s" else 1].append(target)
    client = client_for(token)
    for (adam, pricing), (serials, cids) in by_asset.items():
        events += [
            e.event_id
            for e in client.disassociate_assets(
                [AssetRef(adam, pricing)], serial_numbers=serials, client_user_ids=cids
            )
        ]
    missing = License.objects.filter(pk__in=found["missing"], state=License.State.ASSIGNED)
    app_ids = sorted(set(missing.values_list("app_id", flat=True)))
    for app_id in app_ids:
        with transaction.atomic():
            app = App.objects.select_for_update().get(pk=app_id)
            rows = list(missing.filter(app=app).order_by("id"))
            # They were counted as used; Apple says they are not.
            from collections import Counter

            _move_counts(Counter({app.pk: -len(rows)}))
            app.refresh_from_db()
            available = available_for(app)
            for lic in rows:
                if available is None or available > 0:
                    lic.state, lic.event_id, lic.error, lic.error_number = License.State.PENDING, "", "", None
                    if available is not None:
                        available -= 1
                else:
                    lic.state, lic.error, lic.error_number = License.State.FAILED, NO_LICENSES, None
            License.objects.bulk_update(rows, ["state", "event_id", "error", "error_number"])
        events += request_pending(app=App.objects.select_related("vpp_token").get(pk=app_id))["events"]
    return events


def run_reconcile(run: LicenseRun) -> LicenseRun:
    """Compare (and with summary.repair, fix); the run's summary lists the drift for the page.

    Raises RunFailed when the token cannot be used; an AppleError fails the run through the runner."""
    runs.progress(run, 5)
    token = run.vpp_token
    if not token.is_usable:
        raise runs.RunFailed(f"The VPP token cannot be used: {token.get_state_display()}.")
    repair = bool((run.summary or {}).get("repair"))
    found = drift(token)
    events = _repair(token, found) if repair else []
    run.total = len(found["untracked"]) + len(found["missing"])
    run.summary = {
        "repair": repair,
        "untracked_count": len(found["untracked"]),
        "untracked_unknown_count": sum(1 for i in found["untracked"] if not i[4]),
        "missing_count": len(found["missing"]),
        "untracked": [list(i) for i in found["untracked"][:SHOWN]],
        "missing": found["missing"][:SHOWN],
        "events": events,
    }
    run.save(update_fields=["total", "summary"])
    runs.progress(run, 50)
    return run
