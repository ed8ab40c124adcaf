"""Deployment through NanoMDM: the one way in for every command sent to devices and every result applied.

Out (D2–D4): `deploy_app` installs an app on the devices whose license Apple assigned (never before); a target
whose license failed gets the `failed` state with the license's reason and no command. `remove_for_licenses`
and `uninstall_for_assignment` send RemoveApplication; the license is reclaimed when the removal is
acknowledged (S3, S10). `push_updates` sends InstallApplication again when a sync saw a newer version (T11).
Each send is one enqueue per `MDM_ENQUEUE_BATCH_SIZE` devices (one CommandUUID each); NanoMDM's per-id errors
are recorded on the device's command row and install state.

In (D1, D5, D6): `webhook_receive` records a verified event once; `apply_webhook_event` (a worker) enrols and
checks out devices through the directory's services and applies command results by (CommandUUID, UDID). A
result for an unknown command, or one already applied, changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from apps.models import App
from assignments.models import Assignment, License, LicenseDevice, VPPUser
from assignments.services import license_revoke
from console import runs
from console.messages import Message
from console.models import Run
from deployment import tasks  # tasks import this module back; each side uses the other's names at call time
from deployment.models import Command, CommandBatch, DeviceAppState, InstallState, WebhookEvent
from directory import services as directory_services
from directory.models import Device, GroupMembership
from mdm import commands as mdm_commands
from mdm.client import MAX_IDS_PER_REQUEST, MAX_PATH_BYTES, NanoMDMClient
from mdm.errors import MDMError
from mdm.webhook import MalformedEvent, parse_event
from tokens.apple import client_for
from vpp.errors import AppleError

logger = logging.getLogger(__name__)

# B8: every bulk send (installs, updates, removals) is a recorded run of this kind (registered in apps.py).
DEPLOY_RUN = "deploy"
# The error domain of states the console set itself (the device never answered with an error).
LICENSE_DOMAIN = "license"
CONSOLE_DOMAIN = "console"
NO_ANSWER = gettext_noop("The device did not answer.")
# An install the MDM server refused (nothing reached the device) starts so; the next deployment resends it.
MDM_REFUSED = "The MDM server did not"

# ManagedApplicationList statuses (mdm-nanomdm.md §3) → install state; anything else is still pending.
MANAGED_STATUS = {
    "Managed": InstallState.INSTALLED,
    "ManagedButUninstalled": InstallState.NOT_INSTALLED,
    "Failed": InstallState.FAILED,
    "UserRejected": InstallState.FAILED,
    "UpdateRejected": InstallState.FAILED,
    "ManagementRejected": InstallState.FAILED,
    "UserInstalledApp": InstallState.NOT_INSTALLED,
}
# InstallApplication's answer `State` that is final.
INSTALL_ANSWER = {
    "Managed": InstallState.INSTALLED,
    "Failed": InstallState.FAILED,
    "UserRejected": InstallState.FAILED,
    "ManagedButUninstalled": InstallState.NOT_INSTALLED,
}


def mdm_configured() -> bool:
    """Deployment is on when NANOMDM_URL is set; otherwise the console manages licenses only."""
    return bool(settings.NANOMDM_URL)


def _client() -> NanoMDMClient:
    return NanoMDMClient(settings.NANOMDM_URL, settings.NANOMDM_API_KEY)


# --- install states ----------------------------------------------------------------------------------------


@dataclass
class StateChange:
    state: str
    error_code: int | None = None
    error_domain: str = ""
    error: Message | str = ""


def _write_states(app_id: int, changes: dict[int, StateChange], *, reported_at=None) -> None:
    """Upsert the install state of `app_id` on each device id of `changes`."""
    if not changes:
        return
    now = timezone.now()
    rows = [
        DeviceAppState(
            device_id=device_id,
            app_id=app_id,
            state=change.state,
            error_code=change.error_code,
            error_domain=change.error_domain[:200],
            error=change.error,
            last_reported_at=reported_at,
            updated_at=now,
        )
        for device_id, change in changes.items()
    ]
    fields = ["state", "error_code", "error_domain", "error", "updated_at"]
    if reported_at is not None:
        fields.append("last_reported_at")
    DeviceAppState.objects.bulk_create(
        rows,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["device", "app"],
        update_fields=fields,
    )


def _chain_error(chain: Sequence) -> StateChange:
    """The first ErrorChain item (the most specific) as an error, with every description joined."""
    if not chain:
        return StateChange(InstallState.FAILED, None, "", "")
    first = chain[0]
    texts = [getattr(item, "description", "") for item in chain if getattr(item, "description", "")]
    return StateChange(
        InstallState.FAILED,
        getattr(first, "code", None),
        getattr(first, "domain", "") or "",
        " — ".join(texts),
    )


# --- sending -----------------------------------------------------------------------------------------------


def send_command(
    *,
    devices: Sequence[Device],
    make: Callable[[str], mdm_commands.Command],
    purpose: str,
    app: App | None = None,
    licenses: dict[int, int] | None = None,
    run: Run | None = None,
) -> list[CommandBatch]:
    """Send one command to many enrolled devices: a Command row per device, one enqueue per batch.

    `make(command_uuid)` builds the command; `licenses` (device id → license id) marks removals that reclaim
    a license when acknowledged. Rows are written before the enqueue so a fast answer finds them. NanoMDM's
    per-id `command_error` fails that device's row (and its install state); a `push_error` leaves the command
    queued (the device fetches it at its next check-in) with the error noted. An unreachable NanoMDM fails the
    whole batch with the reason.
    """
    targets = [d for d in devices if d.udid]
    batches: list[CommandBatch] = []
    for chunk in _chunks(targets):
        command_uuid = str(uuid.uuid4()).upper()
        command = make(command_uuid)
        now = timezone.now()
        with transaction.atomic():
            batch = CommandBatch.objects.create(
                command_uuid=command_uuid, request_type=command.request_type, app=app, devices=len(chunk)
            )
            Command.objects.bulk_create(
                [
                    Command(
                        device=d,
                        app=app,
                        batch=batch,
                        license_id=(licenses or {}).get(d.pk),
                        purpose=purpose,
                        request_type=command.request_type,
                        command_uuid=command_uuid,
                        sent_at=now,
                        last_push_at=now,
                    )
                    for d in chunk
                ],
                batch_size=1000,
            )
        _enqueue(batch, command, chunk, app=app, purpose=purpose)
        batches.append(batch)
        if run is not None:  # B8: the bulk send's run counts what went out
            batch.refresh_from_db(fields=["queued", "failed"])
            run.total += len(chunk)
            run.succeeded += batch.queued
            run.failed += batch.failed
            run.counts["commands"] = run.counts.get("commands", 0) + len(chunk)
            run.counts["enqueue_requests"] = run.counts.get("enqueue_requests", 0) + 1
            runs.progress(run, 100 * run.total / max(1, len(targets)), command.request_type)
    return batches


def _chunks(devices: Sequence[Device]) -> Iterable[list[Device]]:
    """Batches of devices that each fit one enqueue request (count and URL length), so each batch is queued
    under its own CommandUUID and every answer finds its row."""
    size = max(1, min(settings.MDM_ENQUEUE_BATCH_SIZE, MAX_IDS_PER_REQUEST))
    chunk: list[Device] = []
    length = 0
    for device in devices:
        cost = len(quote(device.udid, safe="")) + 1
        if chunk and (len(chunk) >= size or length + cost > MAX_PATH_BYTES):
            yield chunk
            chunk, length = [], 0
        chunk.append(device)
        length += cost
    if chunk:
        yield chunk


def _enqueue(batch: CommandBatch, command, devices: Sequence[Device], *, app, purpose: str) -> None:
    by_udid = {d.udid: d for d in devices}
    rows = Command.objects.filter(batch=batch)
    try:
        with _client() as client:
            result = client.enqueue(list(by_udid), command)
    except (MDMError, ValueError) as exc:
        message = getattr(exc, "message", "") or str(exc)
        text = f"{MDM_REFUSED} take the command: {message}"
        rows.filter(status=Command.Status.QUEUED).update(status=Command.Status.FAILED, error=text)
        batch.failed, batch.error, batch.finished_at = len(devices), text[:2000], timezone.now()
        batch.http_status = getattr(exc, "status", None)
        batch.save(update_fields=["failed", "error", "finished_at", "http_status"])
        _fail_states(app, purpose, [d.pk for d in devices], text)
        return
    failed: dict[int, str] = {}
    push_errors: dict[int, str] = {}
    for udid, status in result.ids.items():
        device = by_udid.get(udid)
        if device is None:
            continue
        if status.command_uuid and status.command_uuid != batch.command_uuid:
            # The client split the batch: this id's command went out under another UUID.
            rows.filter(device_id=device.pk).update(command_uuid=status.command_uuid)
        if status.command_error:
            failed[device.pk] = f"{MDM_REFUSED} queue the command: {status.command_error}"
        elif status.push_error:
            push_errors[device.pk] = (
                f"Push failed (the device gets the command at its next check-in): {status.push_error}"
            )
    with transaction.atomic():
        for device_id, text in failed.items():
            rows.filter(device_id=device_id, status=Command.Status.QUEUED).update(
                status=Command.Status.FAILED, error=text
            )
        for device_id, text in push_errors.items():
            rows.filter(device_id=device_id).update(error=text)
        batch.queued = len(devices) - len(failed)
        batch.failed = len(failed)
        batch.http_status = result.http_status
        batch.finished_at = timezone.now()
        batch.save(update_fields=["queued", "failed", "http_status", "finished_at"])
        by_text: dict[str, list[int]] = defaultdict(list)
        for device_id, text in failed.items():
            by_text[text].append(device_id)
        for text, ids in by_text.items():
            _fail_states(app, purpose, ids, text)


def _fail_states(app, purpose: str, device_ids: list[int], text: str) -> None:
    if app is None or not device_ids:
        return
    if purpose in (Command.Purpose.INSTALL,):
        state = InstallState.FAILED
    elif purpose == Command.Purpose.REMOVE:
        state = InstallState.UNINSTALL_FAILED
    else:
        return
    _write_states(app.pk, {pk: StateChange(state, None, CONSOLE_DOMAIN, text) for pk in device_ids})


def _management_flags(assignment: Assignment | None) -> int:
    flags = 0
    if assignment is None or assignment.uninstall_on_device_removal:
        flags |= mdm_commands.MANAGEMENT_FLAG_REMOVE_WITH_PROFILE
    if assignment is not None and assignment.prevent_backup:
        flags |= mdm_commands.MANAGEMENT_FLAG_PREVENT_BACKUP
    return flags


def _send_installs(
    app: App, devices_by_assignment: dict[Assignment | None, list[Device]], purpose: str
) -> int:
    """InstallApplication (store id, PurchaseMethod 1, the assignment's flags) to each group of devices."""
    sent = 0
    by_settings: dict[tuple[int, bool | None], list[Device]] = defaultdict(list)
    for assignment, devices in devices_by_assignment.items():
        removable = None if assignment is None else assignment.removable_by_user
        by_settings[(_management_flags(assignment), removable)].extend(devices)
    if not by_settings:
        return 0
    with runs.track(
        kind=DEPLOY_RUN, app=app, vpp_token_id=app.vpp_token_id, summary={"purpose": purpose}
    ) as run:
        for (flags, removable), devices in by_settings.items():
            send_command(
                devices=devices,
                make=lambda cu, flags=flags, removable=removable: mdm_commands.install_application(
                    itunes_store_id=int(app.adam_id),
                    management_flags=flags,
                    removable=removable,
                    command_uuid=cu,
                ),
                purpose=purpose,
                app=app,
                run=run,
            )
            sent += len(devices)
    return sent


# --- install (S2, D2) --------------------------------------------------------------------------------------


@dataclass
class _Reach:
    """How a license reaches a device: the license state, its assignment, and the reason if it failed."""

    state: str
    assignment: Assignment | None
    error: str = ""
    error_number: int | None = None
    user_id: int | None = None


def _reach(app: App, device_ids: Iterable[int] | None = None) -> dict[int, _Reach]:
    """device id → how the app's license reaches it (assigned wins over pending, pending over failed).

    Device licensing: the license's device. User licensing: the devices the user's license covers (A3), or,
    for a user license that failed, the user's active devices; a device beyond the five a user license covers
    has its own failed license. Licenses without an assignment or of Uninstall assignments never install.
    """
    licenses = list(
        License.objects.filter(
            app=app, state__in=[License.State.ASSIGNED, License.State.PENDING, License.State.FAILED]
        )
        # No assignment (removed, or found at Apple) or an Uninstall one: nothing to install.
        .filter(assignment__isnull=False)
        .exclude(assignment__intent=Assignment.Intent.UNINSTALL)
        .select_related("assignment")
    )
    user_licenses = {lic.pk: lic for lic in licenses if lic.user_id is not None}
    covered: dict[int, list[int]] = defaultdict(list)
    for license_id, device_id in LicenseDevice.objects.filter(license_id__in=list(user_licenses)).values_list(
        "license_id", "device_id"
    ):
        covered[license_id].append(device_id)
    failed_users = [lic.user_id for lic in user_licenses.values() if lic.state == License.State.FAILED]
    owned: dict[int, list[int]] = defaultdict(list)
    for pk, owner in Device.objects.filter(primary_user_id__in=failed_users, is_active=True).values_list(
        "pk", "primary_user_id"
    ):
        owned[owner].append(pk)
    rank = {License.State.ASSIGNED: 0, License.State.PENDING: 1, License.State.FAILED: 2}
    result: dict[int, _Reach] = {}
    for lic in licenses:
        if lic.user_id is not None:
            ids = covered.get(lic.pk) or (
                owned.get(lic.user_id, []) if lic.state == License.State.FAILED else []
            )
        elif lic.device_id is not None:
            ids = [lic.device_id]
        else:
            continue
        for device_id in ids:
            current = result.get(device_id)
            if current is None or rank[lic.state] < rank[current.state]:
                result[device_id] = _Reach(
                    lic.state, lic.assignment, lic.error, lic.error_number, lic.user_id
                )
    if device_ids is not None:
        wanted = set(device_ids)
        result = {k: v for k, v in result.items() if k in wanted}
    return result


def _waiting_users(app: App, user_ids: set[int]) -> set[int]:
    """S4: users whose Apple account has not accepted the program invitation yet (install waits)."""
    if not user_ids:
        return set()
    return set(
        VPPUser.objects.filter(vpp_token_id=app.vpp_token_id, user_id__in=user_ids)
        .exclude(status__in=[VPPUser.Status.ASSOCIATED, VPPUser.Status.RETIRED])
        .values_list("user_id", flat=True)
    )


def deploy_app(*, app_id: int, device_ids: Iterable[int] | None = None) -> dict:
    """D2: bring the install state of `app_id` in line with its licenses; send InstallApplication to the
    enrolled devices whose license Apple assigned and that have not been sent one.

    Pending license → `pending_install` (no command yet); failed license → `failed` with the license's reason
    (no command); assigned → InstallApplication, once. Devices not enrolled in the MDM server wait in
    `pending_install` and get the command when they enrol. Returns counts.
    """
    counts = {"installs": 0, "failed": 0, "waiting": 0}
    if not mdm_configured():
        return counts
    app = App.objects.select_related("vpp_token").filter(pk=app_id).first()
    if app is None:
        return counts
    reach = _reach(app, device_ids)
    if not reach:
        return counts
    devices = Device.objects.in_bulk(list(reach))
    states = {s.device_id: s for s in DeviceAppState.objects.filter(app=app, device_id__in=list(reach))}
    answered = set(
        Command.objects.filter(
            app=app,
            device_id__in=list(reach),
            purpose=Command.Purpose.INSTALL,
            status__in=[*Command.OPEN, Command.Status.ACKNOWLEDGED],
        ).values_list("device_id", flat=True)
    )
    waiting = _waiting_users(app, {r.user_id for r in reach.values() if r.user_id and r.state == "assigned"})
    changes: dict[int, StateChange] = {}
    to_install: dict[Assignment | None, list[Device]] = defaultdict(list)
    to_invite: list[Device] = []
    for device_id, how in reach.items():
        device = devices.get(device_id)
        if device is None:
            continue
        current = states.get(device_id)
        state = current.state if current else None
        if how.state == License.State.FAILED:
            if state != InstallState.INSTALLED:
                changes[device_id] = StateChange(
                    InstallState.FAILED, how.error_number, LICENSE_DOMAIN, how.error or "No license"
                )
                counts["failed"] += 1
            continue
        retry = state is None or state == InstallState.NOT_APPLICABLE
        retry = retry or (state == InstallState.FAILED and current.error_domain == LICENSE_DOMAIN)
        # The MDM server refused the command (an outage, a 500): nothing reached the device, send it again.
        retry = retry or (
            state == InstallState.FAILED
            and current.error_domain == CONSOLE_DOMAIN
            and str(current.error).startswith(MDM_REFUSED)
        )
        retry = retry or (state == InstallState.PENDING_INSTALL and device_id not in answered)
        if not retry:
            continue
        if how.state == License.State.PENDING or not (
            device.mdm_enrolled and device.udid and device.is_active
        ):
            changes[device_id] = StateChange(InstallState.PENDING_INSTALL)
            counts["waiting"] += 1
        elif how.user_id in waiting:
            changes[device_id] = StateChange(InstallState.PENDING_INSTALL)
            to_invite.append(device)
            counts["waiting"] += 1
        else:
            changes[device_id] = StateChange(InstallState.PENDING_INSTALL)
            to_install[how.assignment].append(device)
            counts["installs"] += 1
    _write_states(app.pk, changes)
    if to_install:
        _send_installs(app, to_install, Command.Purpose.INSTALL)
    if to_invite:
        _send_invites(app, to_invite)
    return counts


def _send_invites(app: App, devices: list[Device]) -> None:
    """S4: InviteToProgram to devices of users who have not joined yet (once per device and token).

    The invitation URL is Apple's `invitationEmail` template with the user's invite code (from the last sync,
    else asked from Apple now).
    """

    invited = set(
        Command.objects.filter(
            device__in=devices, purpose=Command.Purpose.INVITE, app__vpp_token_id=app.vpp_token_id
        ).values_list("device_id", flat=True)
    )
    devices = [d for d in devices if d.pk not in invited]
    if not devices:
        return
    vpp_users = {
        v.user_id: v
        for v in VPPUser.objects.filter(
            vpp_token_id=app.vpp_token_id, user_id__in={d.primary_user_id for d in devices}
        ).exclude(status=VPPUser.Status.RETIRED)
    }
    try:
        client = client_for(app.vpp_token)
        base = client.service_config().urls.get("invitationEmail", "")
        codes: dict[int, str] = {}
        for user_id, vpp_user in vpp_users.items():
            code = vpp_user.invite_code
            if not code:
                found = list(client.iter_users(client_user_id=vpp_user.client_user_id))
                code = (found[0].invite_code or "") if found else ""
            codes[user_id] = code
    except AppleError as exc:  # the invitation waits for the next deploy when Apple cannot be asked now
        logger.warning("no invitation for token %s: %s", app.vpp_token_id, exc)
        return
    for device in devices:
        code = codes.get(device.primary_user_id)
        if not code or not base:
            continue
        # Apple's template carries the placeholder %inviteCode% (URL-encoded as %25inviteCode%25).
        url = base.replace("%25inviteCode%25", code).replace("%inviteCode%", code)
        send_command(
            devices=[device],
            make=lambda cu, url=url: mdm_commands.invite_to_program(invitation_url=url, command_uuid=cu),
            purpose=Command.Purpose.INVITE,
            app=app,
        )


def deploy_device(*, device_id: int) -> int:
    """A device enrolled (or came back): every app whose license reaches it is deployed to it."""
    device = Device.objects.filter(pk=device_id).first()
    if device is None:
        return 0
    app_ids = set(License.objects.filter(device=device).values_list("app_id", flat=True))
    app_ids |= set(LicenseDevice.objects.filter(device=device).values_list("license__app_id", flat=True))
    for app_id in sorted(app_ids):
        deploy_app(app_id=app_id, device_ids=[device.pk])
    return len(app_ids)


# --- update (T11, D4) --------------------------------------------------------------------------------------


def push_updates(*, app_id: int) -> int:
    """D4: the app has a newer version on a token with automatic updates On: InstallApplication again to the
    enrolled devices that have it, except those whose assignment prevents automatic updates. Returns how many.
    """
    if not mdm_configured():
        return 0
    app = App.objects.select_related("vpp_token").filter(pk=app_id).first()
    if app is None or not app.vpp_token.automatic_app_updates:
        return 0
    installed = list(
        DeviceAppState.objects.filter(
            app=app, state=InstallState.INSTALLED, device__mdm_enrolled=True, device__is_active=True
        ).values_list("device_id", flat=True)
    )
    reach = _reach(app, installed)
    devices = Device.objects.in_bulk(installed)
    groups: dict[Assignment | None, list[Device]] = defaultdict(list)
    for device_id, how in reach.items():
        if how.state != License.State.ASSIGNED:
            continue
        if how.assignment is not None and how.assignment.prevent_automatic_updates:
            continue
        groups[how.assignment].append(devices[device_id])
    return _send_installs(app, groups, Command.Purpose.UPDATE)


# --- removal (S3, S10, D3) ----------------------------------------------------------------------------------


def _still_wanted(app: App, devices: list[Device]) -> set[int]:
    """Device ids another Available/Required assignment of `app` still reaches (they keep the app).

    A retired device, or a device whose user was deactivated, is reached by nothing (S11, B1): a deactivated
    user stays in their groups, yet their apps go."""
    devices = [d for d in devices if d.is_active]
    if not devices:
        return set()
    ids = [d.pk for d in devices]
    owners = [d.primary_user_id for d in devices if d.primary_user_id]
    wanted: set[int] = set()
    for assignment in Assignment.objects.filter(
        app=app, intent__in=[Assignment.Intent.AVAILABLE, Assignment.Intent.REQUIRED]
    ).select_related("group"):
        members = GroupMembership.objects.filter(group=assignment.group)
        wanted |= set(members.filter(device_id__in=ids).values_list("device_id", flat=True))
        users = set(
            members.filter(user_id__in=owners, user__is_active=True).values_list("user_id", flat=True)
        )
        wanted |= {d.pk for d in devices if d.primary_user_id in users}
    return wanted


def _remove(app: App, plan: dict[int, int | None]) -> dict:
    """Send RemoveApplication to the enrolled devices of `plan` (device id → license to reclaim after), and
    reclaim at once the licenses no device must acknowledge a removal for."""
    devices = Device.objects.in_bulk(list(plan))
    states = dict(
        DeviceAppState.objects.filter(app=app, device_id__in=list(plan)).values_list("device_id", "state")
    )
    send: list[Device] = []
    reclaim_now: set[int] = set()
    for device_id, license_id in plan.items():
        device = devices.get(device_id)
        enrolled = device is not None and device.mdm_enrolled and bool(device.udid)
        present = states.get(device_id) not in (None, InstallState.NOT_APPLICABLE, InstallState.FAILED)
        if enrolled and present:
            send.append(device)
        else:
            if device_id in states:
                _write_states(app.pk, {device_id: StateChange(InstallState.NOT_APPLICABLE)})
            if license_id:
                reclaim_now.add(license_id)
    licenses = {d.pk: plan[d.pk] for d in send if plan[d.pk]}
    # A license still to be removed from another device is reclaimed after that removal, not now.
    reclaim_now -= set(licenses.values())
    if send:
        _write_states(app.pk, {d.pk: StateChange(InstallState.UNINSTALL_PENDING) for d in send})
        with runs.track(
            kind=DEPLOY_RUN, app=app, vpp_token_id=app.vpp_token_id, summary={"purpose": "remove"}
        ) as run:
            send_command(
                devices=send,
                make=lambda cu: mdm_commands.remove_application(identifier=app.bundle_id, command_uuid=cu),
                purpose=Command.Purpose.REMOVE,
                app=app,
                licenses=licenses,
                run=run,
            )
    for license_id in reclaim_now:
        _reclaim(license_id)
    return {"removals": len(send), "reclaimed_now": len(reclaim_now)}


def remove_for_licenses(*, app_id: int, license_ids: Sequence[int]) -> dict:
    """S10, D3: an assignment was removed: RemoveApplication to the devices its licenses reached that no other
    assignment still needs the app on; each license is reclaimed once its removals are acknowledged."""
    app = App.objects.select_related("vpp_token").get(pk=app_id)
    plan: dict[int, int | None] = {}
    licenses = list(License.objects.filter(pk__in=list(license_ids), state__in=License.HOLDING))
    covered: dict[int, list[int]] = defaultdict(list)
    for license_id, device_id in LicenseDevice.objects.filter(license__in=licenses).values_list(
        "license_id", "device_id"
    ):
        covered[license_id].append(device_id)
    for lic in licenses:
        targets = [lic.device_id] if lic.device_id else covered.get(lic.pk, [])
        if not targets:
            _reclaim(lic.pk)
        for device_id in targets:
            plan[device_id] = lic.pk
    keep = _still_wanted(app, list(Device.objects.filter(pk__in=list(plan))))
    for device_id in keep:
        plan.pop(device_id, None)
    return _remove(app, plan)


def remove_for_leavers(*, license_ids: Sequence[int]) -> dict:
    """S11, B1, D3: the holders of these licenses left (a user deactivated or out of the group that gave the
    license, a device retired or out of its group): RemoveApplication to the devices the licenses cover, each
    license reclaimed once its removals are acknowledged (at once where no device has the app). Returns the
    summed counts of every app."""
    totals = {"removals": 0, "reclaimed_now": 0}
    by_app: dict[int, list[int]] = defaultdict(list)
    for license_id, app_id in License.objects.filter(pk__in=list(license_ids)).values_list("pk", "app_id"):
        by_app[app_id].append(license_id)
    for app_id, ids in sorted(by_app.items()):
        counts = remove_for_licenses(app_id=app_id, license_ids=ids)
        for key in totals:
            totals[key] += counts.get(key, 0)
    return totals


def uninstall_for_assignment(*, assignment_id: int) -> dict:
    """S3: an Uninstall assignment: RemoveApplication to the group's devices that have the app (unless another
    assignment still needs it there); licenses they hold are reclaimed once the removal is acknowledged."""
    assignment = Assignment.objects.select_related("app__vpp_token", "group").filter(pk=assignment_id).first()
    if assignment is None or assignment.intent != Assignment.Intent.UNINSTALL or not mdm_configured():
        return {"removals": 0, "reclaimed_now": 0}
    app = assignment.app
    members = GroupMembership.objects.filter(group=assignment.group)
    devices = list(
        Device.objects.filter(
            Q(pk__in=members.filter(device__isnull=False).values("device_id"))
            | Q(primary_user_id__in=members.filter(user__isnull=False).values("user_id")),
            is_active=True,
        )
    )
    keep = _still_wanted(app, devices)
    devices = [d for d in devices if d.pk not in keep]
    ids = [d.pk for d in devices]
    held = {
        lic.device_id: lic.pk
        for lic in License.objects.filter(app=app, device_id__in=ids, state=License.State.ASSIGNED)
    }
    # A user license is reclaimed only when every device it covers is being cleared of the app.
    links: dict[int, set[int]] = defaultdict(set)
    for license_id, device_id in LicenseDevice.objects.filter(
        license__app=app, license__state=License.State.ASSIGNED
    ).values_list("license_id", "device_id"):
        links[license_id].add(device_id)
    for license_id, covered in links.items():
        if covered and covered <= set(ids):
            for device_id in covered:
                held.setdefault(device_id, license_id)
    plan: dict[int, int | None] = {}
    states = set(
        DeviceAppState.objects.filter(app=app, device_id__in=ids)
        .exclude(state=InstallState.NOT_APPLICABLE)
        .values_list("device_id", flat=True)
    )
    for device in devices:
        if device.pk in states or device.pk in held:
            plan[device.pk] = held.get(device.pk)
    return _remove(app, plan)


def _reclaim(license_id: int) -> None:
    """Release a license at Apple now (the removal it waited for is done, or none was needed)."""

    lic = License.objects.select_related("app__vpp_token").filter(pk=license_id).first()
    if lic is None or lic.state != License.State.ASSIGNED:
        return
    try:
        license_revoke(license=lic, actor=None)
    except ValidationError as exc:
        logger.warning("license %s not reclaimed: %s", license_id, " ".join(exc.messages))


# --- inventory (M3) ----------------------------------------------------------------------------------------


def _plan_check(app_id: int, device_ids: list[int]) -> None:
    """Plan the next ManagedApplicationList check of these devices, backing off; bounded."""
    backoff = settings.MDM_INVENTORY_BACKOFF
    now = timezone.now()
    for state in DeviceAppState.objects.filter(app_id=app_id, device_id__in=device_ids):
        if state.inventory_checks >= len(backoff):
            state.next_check_at = None
        else:
            state.next_check_at = now + timedelta(seconds=backoff[state.inventory_checks])
        state.save(update_fields=["next_check_at", "updated_at"])
    delays = [s for s in backoff if s >= 0]
    if delays:
        transaction.on_commit(
            lambda: tasks.check_installs.apply_async((app_id,), countdown=min(delays)), robust=True
        )


def check_installs(*, app_id: int) -> int:
    """M3: one ManagedApplicationList for the app to every device whose check is due. Returns how many."""
    app = App.objects.filter(pk=app_id).first()
    if app is None or not app.bundle_id or not mdm_configured():
        return 0
    due = list(
        DeviceAppState.objects.filter(
            app=app,
            next_check_at__lte=timezone.now(),
            state=InstallState.PENDING_INSTALL,
            device__mdm_enrolled=True,
        ).select_related("device")
    )
    if not due:
        return 0
    for state in due:
        state.inventory_checks += 1
        state.next_check_at = None
    DeviceAppState.objects.bulk_update(due, ["inventory_checks", "next_check_at"])
    send_command(
        devices=[s.device for s in due],
        make=lambda cu: mdm_commands.managed_application_list(identifiers=[app.bundle_id], command_uuid=cu),
        purpose=Command.Purpose.INVENTORY,
        app=app,
    )
    return len(due)


def daily_inventory() -> int:
    """M3, daily: apps the user deleted are installed again where a Required assignment wants them, then
    every enrolled device is asked for its managed apps (InstalledApplicationList). Returns devices asked."""
    if not mdm_configured():
        return 0
    missing = DeviceAppState.objects.filter(state=InstallState.NOT_INSTALLED, device__mdm_enrolled=True)
    for app_id in set(missing.values_list("app_id", flat=True)):
        app = App.objects.get(pk=app_id)
        reach = _reach(app, missing.filter(app_id=app_id).values_list("device_id", flat=True))
        groups: dict[Assignment | None, list[Device]] = defaultdict(list)
        devices = Device.objects.in_bulk(list(reach))
        for device_id, how in reach.items():
            assignment = how.assignment
            if (
                how.state == License.State.ASSIGNED
                and assignment is not None
                and assignment.intent == "required"
            ):
                groups[assignment].append(devices[device_id])
        if groups:
            _write_states(
                app_id, {d.pk: StateChange(InstallState.PENDING_INSTALL) for g in groups.values() for d in g}
            )
            _send_installs(app, groups, Command.Purpose.INSTALL)
    devices = list(Device.objects.filter(mdm_enrolled=True, is_active=True).exclude(udid=""))
    send_command(
        devices=devices,
        make=lambda cu: mdm_commands.installed_application_list(managed_apps_only=True, command_uuid=cu),
        purpose=Command.Purpose.INVENTORY,
    )
    return len(devices)


# --- commands nobody answered (D5) --------------------------------------------------------------------------


def retry_unanswered() -> dict:
    """Commands with no answer after MDM_COMMAND_TIMEOUT_MINUTES are pushed again (NanoMDM still holds them),
    at most MDM_COMMAND_MAX_ATTEMPTS times in all; then they fail with "The device did not answer." (a state
    an inventory settled meanwhile stays as it is). An unanswered install also asks the device for the app:
    its answer may have been lost with a webhook event, and the device's app list settles it."""
    counts = {"pushed": 0, "failed": 0}
    if not mdm_configured():
        return counts
    cutoff = timezone.now() - timedelta(minutes=settings.MDM_COMMAND_TIMEOUT_MINUTES)
    stale = list(
        Command.objects.filter(status__in=Command.OPEN, last_push_at__lte=cutoff).select_related("device")
    )
    give_up = [c for c in stale if c.attempts >= settings.MDM_COMMAND_MAX_ATTEMPTS]
    again = [c for c in stale if c.attempts < settings.MDM_COMMAND_MAX_ATTEMPTS and c.device.udid]
    now = timezone.now()
    if give_up:
        Command.objects.filter(pk__in=[c.pk for c in give_up], status__in=Command.OPEN).update(
            status=Command.Status.FAILED, error=NO_ANSWER, answered_at=None
        )
        by_app: dict[tuple[int, str], list[int]] = defaultdict(list)
        for c in give_up:
            if c.app_id and c.purpose in (Command.Purpose.INSTALL, Command.Purpose.REMOVE):
                by_app[(c.app_id, c.purpose)].append(c.device_id)
        for (app_id, purpose), ids in by_app.items():
            install = purpose == Command.Purpose.INSTALL
            # Only where the state still waits for this answer: an inventory may have settled it meanwhile.
            waiting = DeviceAppState.objects.filter(
                app_id=app_id,
                device_id__in=ids,
                state=InstallState.PENDING_INSTALL if install else InstallState.UNINSTALL_PENDING,
            ).values_list("device_id", flat=True)
            state = InstallState.FAILED if install else InstallState.UNINSTALL_FAILED
            _write_states(app_id, {pk: StateChange(state, None, CONSOLE_DOMAIN, NO_ANSWER) for pk in waiting})
        counts["failed"] = len(give_up)
    _ask_about_lost_installs(again)
    if again:
        udids = sorted({c.device.udid for c in again})
        try:
            with _client() as client:
                client.push(udids)
        except MDMError as exc:
            logger.warning("NanoMDM push failed: %s", exc)
            return counts
        for c in again:
            c.attempts += 1
            c.last_push_at = now
        Command.objects.bulk_update(again, ["attempts", "last_push_at"])
        counts["pushed"] = len(again)
    return counts


def _ask_about_lost_installs(commands: Sequence[Command]) -> None:
    """An install nobody answered may have been answered into a lost webhook event (NanoMDM posts each
    event once): NanoMDM no longer holds it, so pushing again brings nothing back. Ask the devices for the
    app instead (ManagedApplicationList, through the install checks); their answer settles the state and
    closes the command."""
    by_app: dict[int, list[int]] = defaultdict(list)
    for command in commands:
        if command.app_id and command.purpose in (Command.Purpose.INSTALL, Command.Purpose.UPDATE):
            by_app[command.app_id].append(command.device_id)
    for app_id, device_ids in by_app.items():
        DeviceAppState.objects.filter(
            app_id=app_id, device_id__in=device_ids, state=InstallState.PENDING_INSTALL
        ).update(inventory_checks=0)
        _plan_check(app_id, device_ids)


def _close_answered_installs(device_id: int, app_id: int, at) -> None:
    """The device's app list shows the app installed: its install commands still open were answered, and
    the answer was lost."""
    closed = Command.objects.filter(
        device_id=device_id,
        app_id=app_id,
        purpose__in=(Command.Purpose.INSTALL, Command.Purpose.UPDATE),
        status__in=Command.OPEN,
    ).update(status=Command.Status.ACKNOWLEDGED, answered_at=at)
    if closed:
        logger.info("%s install command(s) closed by the inventory of device %s", closed, device_id)


# --- webhook in (D1, D5, D6) ------------------------------------------------------------------------------


def webhook_key(body: bytes, event_id: str | None) -> str:
    """The idempotency key of an event: NanoMDM's event_id, else the SHA-256 of the raw body."""
    if event_id:
        return f"id:{event_id}"[:128]
    return "sha256:" + hashlib.sha256(body).hexdigest()


def webhook_receive(*, body: bytes, event_id: str | None, topic: str) -> WebhookEvent | None:
    """Record a verified, well-formed event once and enqueue its processing after commit.

    Returns the new row, or None when the same event was received before (nothing is enqueued again).
    """
    key = webhook_key(body, event_id)
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                key=key, topic=topic[:64], body=body.decode("utf-8", errors="replace")
            )
            transaction.on_commit(lambda: tasks.apply_webhook_event.delay(event.pk))
    except IntegrityError:
        return None
    return event


def apply_webhook_event(*, event_id: int) -> str:
    """Apply one recorded event (the worker): enrolment, check-out or a command result. Returns the outcome.

    An event applied before is not applied again; an unknown topic or command is recorded as ignored.
    """
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.processed_at is not None:
            return "already applied"
        try:
            parsed = parse_event(event.body.encode())
        except MalformedEvent as exc:
            outcome = f"malformed: {exc}"[:200]
        else:
            outcome = _apply(parsed)
        event.processed_at = timezone.now()
        event.outcome = outcome[:200]
        event.save(update_fields=["processed_at", "outcome"])
    return outcome


def apply_pending_events() -> int:
    """Apply every recorded event not applied yet, oldest first (a safety net for lost tasks)."""
    ids = list(
        WebhookEvent.objects.filter(processed_at__isnull=True).order_by("id").values_list("pk", flat=True)
    )
    for pk in ids:
        apply_webhook_event(event_id=pk)
    return len(ids)


def _apply(event) -> str:
    at = event.created_at or timezone.now()
    if event.checkin is not None:
        checkin = event.checkin
        udid = checkin.udid or checkin.enrollment_id or ""
        if event.topic in ("mdm.Authenticate", "mdm.TokenUpdate"):
            try:
                device, _became = directory_services.device_mdm_enrol(
                    udid=udid,
                    serial_number=checkin.serial_number or "",
                    name=checkin.device_name or "",
                    model=checkin.model_name or checkin.model or "",
                    product_name=checkin.product_name or "",
                    os_version=checkin.os_version or "",
                    checked_in_at=at,
                )
            except ValidationError as exc:
                return " ".join(exc.messages)
            # TokenUpdate: the device can be pushed to, so its apps are deployed now (and again on each
            # later TokenUpdate, which is rare and harmless: deploying twice sends nothing twice).
            if event.topic == "mdm.TokenUpdate":
                transaction.on_commit(lambda: tasks.deploy_device.delay(device.pk), robust=True)
            return f"enrolled {device.pk}"
        if event.topic == "mdm.CheckOut":
            device = directory_services.device_mdm_checkout(
                udid=udid,
                checked_in_at=at,
                reclaim_licenses=settings.NANOMDM_CHECKOUT_RECLAIMS_LICENSES,
            )
            if device is None:
                return "unknown device"
            DeviceAppState.objects.filter(device=device).exclude(state=InstallState.NOT_APPLICABLE).update(
                state=InstallState.NOT_APPLICABLE, next_check_at=None, last_reported_at=at
            )
            Command.objects.filter(device=device, status__in=Command.OPEN).update(
                status=Command.Status.FAILED, error="The device left the MDM server (check-out)."
            )
            return f"checked out {device.pk}"
        return "ignored topic"
    if event.acknowledge is not None:
        return _apply_result(event.acknowledge, at)
    return "ignored topic"


def _apply_result(ack, at) -> str:
    udid = ack.udid or ack.enrollment_id or ""
    if udid:
        directory_services.device_mdm_checkin(udid=udid, checked_in_at=at)
    if not ack.command_uuid or ack.status == "Idle":
        return "idle"
    command = (
        # Only the command row: PostgreSQL refuses FOR UPDATE on the nullable side of the join to the app.
        Command.objects.select_for_update(of=("self",))
        .select_related("app", "device")
        .filter(command_uuid=ack.command_uuid, device__udid=udid)
        .first()
    )
    if command is None:
        return "unknown command"
    if command.status in (Command.Status.ACKNOWLEDGED, Command.Status.ERROR):
        return "already answered"
    if ack.status == "NotNow":
        command.status = Command.Status.NOT_NOW
        command.save(update_fields=["status"])
        return "not now"
    command.answered_at = at
    if ack.status == "Acknowledged":
        command.status = Command.Status.ACKNOWLEDGED
        command.save(update_fields=["status", "answered_at"])
        _acknowledged(command, ack, at)
        return "acknowledged"
    chain = list(ack.error_chain or [])
    change = _chain_error(chain)
    if not chain:
        change.error = f"The device answered {ack.status}."
    command.status = Command.Status.ERROR
    command.error_code, command.error_domain, command.error = (
        change.error_code,
        change.error_domain,
        change.error,
    )
    command.error_chain = [
        {"code": item.code, "domain": item.domain, "description": item.description} for item in chain
    ]
    command.save(
        update_fields=["status", "answered_at", "error_code", "error_domain", "error", "error_chain"]
    )
    if command.app_id and command.purpose in (Command.Purpose.INSTALL, Command.Purpose.UPDATE):
        change.state = InstallState.FAILED
        _write_states(command.app_id, {command.device_id: change}, reported_at=at)
    elif command.app_id and command.purpose == Command.Purpose.REMOVE:
        change.state = InstallState.UNINSTALL_FAILED
        _write_states(command.app_id, {command.device_id: change}, reported_at=at)
    return "error"


def _acknowledged(command: Command, ack, at) -> None:
    purpose = command.purpose
    if purpose in (Command.Purpose.INSTALL, Command.Purpose.UPDATE) and command.app_id:
        final = INSTALL_ANSWER.get(ack.install_state or "")
        if final is not None:
            _write_states(command.app_id, {command.device_id: StateChange(final)}, reported_at=at)
            return
        if purpose == Command.Purpose.INSTALL:
            _write_states(
                command.app_id, {command.device_id: StateChange(InstallState.PENDING_INSTALL)}, reported_at=at
            )
            DeviceAppState.objects.filter(app_id=command.app_id, device_id=command.device_id).update(
                inventory_checks=0
            )
            _plan_check(command.app_id, [command.device_id])
        return
    if purpose == Command.Purpose.REMOVE and command.app_id:
        _write_states(
            command.app_id, {command.device_id: StateChange(InstallState.NOT_APPLICABLE)}, reported_at=at
        )
        if (
            command.license_id
            and not Command.objects.filter(
                license_id=command.license_id, purpose=Command.Purpose.REMOVE, status__in=Command.OPEN
            ).exists()
        ):
            license_id = command.license_id
            transaction.on_commit(lambda: _reclaim(license_id), robust=True)
        return
    if purpose == Command.Purpose.INVENTORY:
        if ack.managed_apps is not None:
            _apply_managed_apps(command, ack.managed_apps, at)
        if ack.installed_apps is not None:
            _apply_installed_apps(command, ack.installed_apps, at)


def _apply_managed_apps(command: Command, managed: dict, at) -> None:
    """ManagedApplicationList: each asked app's status → install state; not final → check again later."""
    device = command.device
    apps = (
        App.objects.filter(pk=command.app_id)
        if command.app_id
        else App.objects.filter(device_states__device=device)
    )
    again: list[int] = []
    for app in apps:
        status = managed.get(app.bundle_id)
        state_row = DeviceAppState.objects.filter(device=device, app=app).first()
        if state_row is None or state_row.state in (
            InstallState.UNINSTALL_PENDING,
            InstallState.NOT_APPLICABLE,
        ):
            continue
        if status is None:
            if state_row.state == InstallState.INSTALLED:
                _write_states(app.pk, {device.pk: StateChange(InstallState.NOT_INSTALLED)}, reported_at=at)
            elif command.app_id:
                again.append(app.pk)
            continue
        name = getattr(status, "status", "") or ""
        final = MANAGED_STATUS.get(name)
        if final is None:
            _write_states(app.pk, {device.pk: StateChange(InstallState.PENDING_INSTALL)}, reported_at=at)
            again.append(app.pk)
        elif final == InstallState.FAILED:
            _write_states(
                app.pk,
                {
                    device.pk: StateChange(
                        final, None, "ManagedApplicationList", f"The device reports {name}."
                    )
                },
                reported_at=at,
            )
        else:
            _write_states(app.pk, {device.pk: StateChange(final)}, reported_at=at)
        if final == InstallState.INSTALLED:
            _close_answered_installs(device.pk, app.pk, at)
    for app_id in again:
        _plan_check(app_id, [device.pk])


def _apply_installed_apps(command: Command, installed: list, at) -> None:
    """InstalledApplicationList: apps the console installed that are missing → not installed (the license is
    kept, M3); present → installed."""
    device = command.device
    present = {getattr(item, "identifier", "") for item in installed}
    rows = DeviceAppState.objects.filter(
        device=device,
        state__in=[InstallState.INSTALLED, InstallState.PENDING_INSTALL, InstallState.NOT_INSTALLED],
    ).select_related("app")
    for row in rows:
        if not row.app.bundle_id:
            continue
        if row.app.bundle_id in present:
            if row.state != InstallState.INSTALLED:
                _write_states(row.app_id, {device.pk: StateChange(InstallState.INSTALLED)}, reported_at=at)
            _close_answered_installs(device.pk, row.app_id, at)
        elif row.state == InstallState.INSTALLED:
            _write_states(row.app_id, {device.pk: StateChange(InstallState.NOT_INSTALLED)}, reported_at=at)
