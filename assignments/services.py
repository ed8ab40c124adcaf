"""Every state change of assignments and licenses: pages, API, tasks and hooks all come through here.

Functions are keyword-only, take the `actor` (a user, or None for the system) and record the audit log. Bad
input raises Django's ValidationError (HTTP 400 in the API, a form error on pages); Apple faults raise
AppleError.
"""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from apps.models import App
from assignments import allocation, signals
from assignments.messages import ASSIGNMENT_REMOVED
from assignments.models import Assignment, License, LicenseDevice, LicenseRun
from assignments.reconciliation import run_reconcile
from assignments.revocation import create_run, disassociate, run_revocation
from assignments.runs import enqueue_event_poll, enqueue_run_poll
from console import runs
from console.audit import record, snapshot
from directory.models import Device, DirectoryUser, Group

SETTINGS = ("uninstall_on_device_removal", "removable_by_user", "prevent_backup", "prevent_automatic_updates")


def execute(run: LicenseRun) -> LicenseRun:
    """Carry out a queued run of any kind through the runner (tests call this; the worker runs
    console.tasks.execute_run)."""
    return runs.execute(run)


def license_run_work(run: LicenseRun) -> object:
    """The work of every license run kind (registered in assignments.apps): `runs.WAITING` while Apple's
    events are pending, the first poll of them queued after commit."""
    if run.kind == LicenseRun.Kind.ALLOCATE:
        allocation.run_allocation(run)
    elif run.kind == LicenseRun.Kind.RECONCILE:
        run_reconcile(run)
    else:
        run_revocation(run)
    summary = run.summary or {}
    if not (summary.get("events") or summary.get("user_events")):
        return None
    run_id = run.pk
    transaction.on_commit(lambda: enqueue_run_poll(run_id))
    return runs.WAITING


def actor_by_id(actor_id: int | None):
    if actor_id is None:
        return None
    return get_user_model().objects.filter(pk=actor_id).first()


def _poll_later(token, event_ids: list[str]) -> None:
    if event_ids:
        token_id = token.pk
        transaction.on_commit(lambda: enqueue_event_poll(token_id, event_ids))


# --- assignments -----------------------------------------------------------------------------------------


def assignment_validate(*, app: App, group: Group, intent: str, license_type: str) -> None:
    """S1, A2, A4: the combinations the console accepts, with messages that say what to change."""
    errors: dict[str, list[str]] = {}
    if intent not in Assignment.Intent.values:
        errors["intent"] = [_("Choose Available, Required or Uninstall.")]
    if license_type not in Assignment.LicenseType.values:
        errors["license_type"] = [_("Choose user licensing or device licensing.")]
    elif license_type == Assignment.LicenseType.DEVICE:
        if app.product_type == App.ProductType.BOOK:
            errors["license_type"] = [_("Books can only be assigned to users, with user licensing.")]
        elif not app.supports_device_licensing:
            errors["license_type"] = [
                _("“%(app)s” cannot be assigned to devices; use user licensing.") % {"app": app}
            ]
    if app.product_type == App.ProductType.BOOK and group.group_type != Group.GroupType.USER:
        errors["group"] = [_("Books can only be assigned to user groups.")]
    if Assignment.objects.filter(app=app, group=group).exists():
        errors.setdefault("group", []).append(
            _("This app is already assigned to “%(group)s”.") % {"group": group}
        )
    if errors:
        raise ValidationError(errors)


def assignment_create(
    *,
    app: App,
    group: Group,
    intent: str,
    license_type: str,
    uninstall_on_device_removal: bool = True,
    removable_by_user: bool = True,
    prevent_backup: bool = False,
    prevent_automatic_updates: bool = False,
    actor,
) -> Assignment:
    """Assign `app` to `group` (S1). Required starts an allocation run at once (S2); oversubscription is
    allowed (S6) — `assignment.preflight` carries the figures (B3). Raises ValidationError for impossible
    combinations.
    """
    assignment_validate(app=app, group=group, intent=intent, license_type=license_type)
    if intent != Assignment.Intent.UNINSTALL and not app.vpp_token.is_usable:
        raise ValidationError(
            _("The VPP token of this app cannot be used (%(state)s).")
            % {"state": app.vpp_token.get_state_display()}
        )
    figures = allocation.preflight(app=app, group=group, license_type=license_type)
    with transaction.atomic():
        assignment = Assignment.objects.create(
            app=app,
            group=group,
            intent=intent,
            license_type=license_type,
            uninstall_on_device_removal=uninstall_on_device_removal,
            removable_by_user=removable_by_user,
            prevent_backup=prevent_backup,
            prevent_automatic_updates=prevent_automatic_updates,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        record(actor=actor, action="assignment.create", obj=assignment, after=snapshot(assignment) | figures)
        if intent == Assignment.Intent.REQUIRED:
            assignment.run = assignment_allocate(assignment=assignment, actor=actor)  # type: ignore[attr-defined]
        elif intent == Assignment.Intent.UNINSTALL:
            signals.send_after_commit(signals.uninstall_assigned, assignment_id=assignment.pk)
    assignment.preflight = figures  # type: ignore[attr-defined]
    return assignment


def assignment_update(*, assignment: Assignment, actor, intent: str | None = None, **settings) -> Assignment:
    """Change intent or settings. Becoming Required allocates (S2)."""
    before = snapshot(assignment)
    if intent is not None and intent not in Assignment.Intent.values:
        raise ValidationError({"intent": [_("Choose Available, Required or Uninstall.")]})
    with transaction.atomic():
        if intent is not None:
            assignment.intent = intent
        for name in SETTINGS:
            if name in settings and settings[name] is not None:
                setattr(assignment, name, bool(settings[name]))
        assignment.save()
        record(
            actor=actor, action="assignment.update", obj=assignment, before=before, after=snapshot(assignment)
        )
        if intent == Assignment.Intent.REQUIRED and before["intent"] != intent:
            assignment_allocate(assignment=assignment, actor=actor)
        elif intent == Assignment.Intent.UNINSTALL and before["intent"] != intent:
            signals.send_after_commit(signals.uninstall_assigned, assignment_id=assignment.pk)
    return assignment


def assignment_allocate(*, assignment: Assignment, actor, members: dict | None = None) -> LicenseRun:
    """Queue an allocation run for every target of `assignment` (also "retry failed"), or only for the
    `members` `{"user_ids": [...], "device_ids": [...]}` who just joined its group."""
    extra = {"summary": {"members": members}} if members is not None else {}
    return create_run(
        kind=LicenseRun.Kind.ALLOCATE,
        actor=actor,
        action="assignment.allocate",
        obj=assignment,
        assignment=assignment,
        app=assignment.app,
        vpp_token=assignment.app.vpp_token,
        **extra,
    )


def assignment_delete(*, assignment: Assignment, actor) -> LicenseRun | None:
    """S10: removing an assignment reclaims its licenses and records the uninstall of the app on its
    targets. S11: a license another assignment of the app still reaches stays, held through that one."""
    holding = list(assignment.licenses.filter(state__in=License.HOLDING))
    with transaction.atomic():
        kept = _still_reached(holding, exclude_group_id=assignment.group_id)
        license_ids = [lic.pk for lic in holding if lic.pk not in kept]
        before = snapshot(assignment)
        run = None
        if license_ids and settings.NANOMDM_URL:
            # D3: with an MDM server, deployment removes the app from the devices first; each license is
            # reclaimed once its removal is acknowledged (or at once where no device has to remove it).
            signals.send_after_commit(
                signals.assignment_removed, app_id=assignment.app_id, license_ids=list(license_ids)
            )
        elif license_ids:
            run = create_run(
                kind=LicenseRun.Kind.REVOKE_APP,
                actor=actor,
                action="assignment.reclaim_licenses",
                obj=assignment,
                app=assignment.app,
                vpp_token=assignment.app.vpp_token,
                summary={"license_ids": license_ids},
            )
        record(
            actor=actor,
            action="assignment.delete",
            obj=assignment,
            before=before,
            after={
                "uninstall_requested_for": len(license_ids),
                "kept_through_other_assignments": len(kept),
                "license_run": run.pk if run else None,
            },
        )
        failed = License.objects.filter(assignment=assignment, state=License.State.FAILED)
        LicenseDevice.objects.filter(license__in=failed).delete()
        failed.update(state=License.State.REVOKED, error=ASSIGNMENT_REMOVED)
        assignment.delete()
    return run


def _still_reached(licenses: list[License], *, exclude_group_id: int) -> dict[int, Assignment]:
    """S11: license id → another Available/Required assignment of its app that still reaches its holder.

    Each such license is moved to that assignment (it is no longer held through the group that went away);
    the others are the ones to reclaim.
    """
    by_kind: dict[tuple[int, str], list[License]] = defaultdict(list)
    for lic in licenses:
        by_kind[(lic.app_id, lic.license_type)].append(lic)
    kept: dict[int, Assignment] = {}
    apps = App.objects.in_bulk({app_id for app_id, _kind in by_kind})
    for (app_id, license_type), group in by_kind.items():
        is_user = license_type == Assignment.LicenseType.USER
        holders = [lic.user_id if is_user else lic.device_id for lic in group]
        reach = allocation.reaching_assignments(
            app=apps[app_id],
            license_type=license_type,
            holder_ids=[h for h in holders if h is not None],
            exclude_group_id=exclude_group_id,
        )
        for lic, holder in zip(group, holders, strict=True):
            if holder is not None and holder in reach:
                kept[lic.pk] = reach[holder]
                lic.assignment = reach[holder]
    moved = [lic for lic in licenses if lic.pk in kept]
    if moved:
        License.objects.bulk_update(moved, ["assignment"])
    return kept


# --- one license -----------------------------------------------------------------------------------------


def license_install(
    *, app: App, user: DirectoryUser | None = None, device: Device | None = None, actor
) -> License:
    """Available (and Required) apps: the holder asks to install; a license is reserved and requested now.

    Refuses (ValidationError) when no assignment makes the app available to the holder, when the target is not
    eligible (A3, S12, S13) or when the token is not usable. No license left → a failed License (S5).
    """
    if (user is None) == (device is None):
        raise ValidationError(_("Give either a user or a device."))
    token = app.vpp_token
    if not token.is_usable:
        raise ValidationError(
            _("The VPP token cannot be used: %(state)s.") % {"state": token.get_state_display()}
        )
    assignment, target = allocation.targets_for_holder(app=app, user=user, device=device)
    if assignment is None:
        raise ValidationError(
            _("No assignment makes “%(app)s” available to %(holder)s.")
            % {"app": app, "holder": user or device}
        )
    allocation.check_target(app=app, license_type=assignment.license_type, target=target)
    if target.problem:
        raise ValidationError(target.problem)
    result = allocation.allocate(
        app=app, targets=[target], license_type=assignment.license_type, assignment=assignment
    )
    if assignment.license_type == Assignment.LicenseType.DEVICE:
        lookup = {"device": target.device}
    elif device is not None and result.get("over_limit"):
        # A3: the user's license already covers five other devices; this device's failed row says so.
        lookup = {"device": device, "user__isnull": True, "state": License.State.FAILED}
    else:
        lookup = {"user": target.user}
    lic = (
        License.objects.filter(app=app, **lookup).exclude(state=License.State.REVOKED).order_by("-id").first()
    )
    if lic is None:  # pragma: no cover - allocate always leaves a row for the target
        raise ValidationError(_("The license could not be requested; try again."))
    record(
        actor=actor,
        action="license.install",
        obj=lic,
        after={"state": lic.state, "warnings": target.warnings},
    )
    _poll_later(token, result.get("events", []) + result.get("user_events", []))
    lic.warnings = target.warnings  # type: ignore[attr-defined]
    return lic


def license_revoke(*, license: License, actor) -> License:
    """Release one license at Apple (the app stays installed, S9 semantics)."""
    if license.state != License.State.ASSIGNED:
        raise ValidationError(
            _("Only an assigned license can be revoked (this one is %(state)s).")
            % {"state": license.get_state_display()}
        )
    token = license.app.vpp_token
    if not token.is_usable:
        raise ValidationError(
            _("The VPP token cannot be used: %(state)s.") % {"state": token.get_state_display()}
        )
    events = disassociate(token=token, licenses=[license], interactive=True)
    license.refresh_from_db()
    record(actor=actor, action="license.revoke", obj=license, after={"state": license.state})
    _poll_later(token, events)
    return license


def report_app_removed(
    *, app: App, device: Device | None = None, user: DirectoryUser | None = None, actor
) -> License | None:
    """S3: the MDM reported the app removed. The license is reclaimed now only when the holder's effective
    assignment is Uninstall: an Uninstall assignment reaches the holder and no Required assignment of the
    same license type still needs the license (Required wins over Uninstall, Uninstall over Available).
    Otherwise the license is kept (M3: a user deleting the app does not release it) and the report is only
    recorded.
    """
    if (user is None) == (device is None):
        raise ValidationError(_("Give either a user or a device."))
    holders = License.objects.filter(app=app, state=License.State.ASSIGNED)
    if device is not None:
        lic = holders.filter(device=device).first() or (
            holders.filter(user=device.primary_user).first() if device.primary_user_id else None
        )
    else:
        lic = holders.filter(user=user).first()
    reclaim = lic is not None and _effective_intent(lic) == Assignment.Intent.UNINSTALL
    record(
        actor=actor,
        action="app.removal_reported",
        obj=app,
        after={
            "device": getattr(device, "pk", None),
            "user": getattr(user, "pk", None),
            "license": getattr(lic, "pk", None),
            "reclaimed": reclaim,
        },
    )
    if lic is None or not reclaim:
        return lic
    events = disassociate(token=app.vpp_token, licenses=[lic], interactive=True)
    _poll_later(app.vpp_token, events)
    lic.refresh_from_db()
    return lic


def _effective_intent(lic: License) -> str | None:
    """S3: the intent that decides for the holder of `lic`: Required, else Uninstall, else Available."""
    holder = lic.user_id if lic.license_type == Assignment.LicenseType.USER else lic.device_id
    if holder is None:
        return None
    for intent in (Assignment.Intent.REQUIRED, Assignment.Intent.UNINSTALL, Assignment.Intent.AVAILABLE):
        reach = allocation.reaching_assignments(
            app=lic.app, license_type=lic.license_type, holder_ids=[holder], intents=[intent]
        )
        if reach:
            return intent
    return None


# --- bulk ------------------------------------------------------------------------------------------------


def device_revoke_licenses(*, device: Device | None, actor, serial_number: str = "") -> LicenseRun | None:
    """S9 / B1: release the device-licensed apps of one device (apps are not uninstalled).

    A deleted device (None) is revoked at Apple by `serial_number`.
    """
    if device is None and not serial_number:
        return None
    return create_run(
        kind=LicenseRun.Kind.REVOKE_DEVICE,
        actor=actor,
        action="device.revoke_licenses",
        obj=device,
        device=device,
        summary={"serial_number": serial_number or (device.serial_number if device is not None else "")},
    )


def device_detach_user_licenses(*, device: Device, actor) -> int:
    """A3 / B1: a retired device stops using its user's licenses; each frees a slot for the user's next
    device (covered on the next allocation). Returns how many licenses the device was detached from."""
    links = LicenseDevice.objects.filter(device=device)
    license_ids = list(links.values_list("license_id", flat=True))
    if license_ids:
        links.delete()
        record(
            actor=actor,
            action="device.user_licenses_detached",
            obj=device,
            before={"licenses": license_ids},
            after={"licenses": []},
        )
    return len(license_ids)


def user_revoke_licenses(*, user: DirectoryUser, actor) -> LicenseRun:
    """S11 / B1: every user license of a user (deactivated, or on request)."""
    return create_run(
        kind=LicenseRun.Kind.REVOKE_USER, actor=actor, action="user.revoke_licenses", obj=user, user=user
    )


def _withdraw(*, license_ids: list[int], actor, action: str, obj) -> None:
    """S11, B1, D3 with an MDM server: the holders of `license_ids` left; deployment removes the apps from the
    devices these licenses cover and reclaims each license once its removals are acknowledged (at once where
    no device has to remove anything)."""
    record(actor=actor, action=action, obj=obj, after={"uninstall_requested_for": sorted(license_ids)})
    signals.send_after_commit(signals.licenses_withdrawn, license_ids=sorted(license_ids))


def user_left(*, user: DirectoryUser, actor) -> LicenseRun | None:
    """S11 / B1: a deactivated user loses every user license. With an MDM server the apps are first removed
    from the devices the licenses cover (D3: uninstall pending, reclaimed once acknowledged); without one, or
    when the user holds no assigned license, one run revokes everything the user holds at Apple."""
    assigned = list(
        License.objects.filter(
            user=user, license_type=Assignment.LicenseType.USER, state=License.State.ASSIGNED
        ).values_list("pk", flat=True)
    )
    if settings.NANOMDM_URL and assigned:
        _withdraw(license_ids=assigned, actor=actor, action="user.remove_apps_and_licenses", obj=user)
        return None
    return user_revoke_licenses(user=user, actor=actor)


def device_left(*, device: Device | None, actor, serial_number: str = "") -> LicenseRun | None:
    """B1: a retired (or deleted) device loses its device licenses. A retired device still enrolled in the MDM
    server is first cleared of those apps (D3: uninstall pending, reclaimed once acknowledged); otherwise one
    run revokes everything the device holds at Apple (S9 semantics: nothing to uninstall through)."""
    if settings.NANOMDM_URL and device is not None and device.mdm_enrolled and device.udid:
        assigned = list(
            License.objects.filter(
                device=device, license_type=Assignment.LicenseType.DEVICE, state=License.State.ASSIGNED
            ).values_list("pk", flat=True)
        )
        if assigned:
            _withdraw(license_ids=assigned, actor=actor, action="device.remove_apps_and_licenses", obj=device)
            return None
    return device_revoke_licenses(device=device, serial_number=serial_number, actor=actor)


def app_revoke_licenses(*, app: App, actor) -> LicenseRun:
    return create_run(
        kind=LicenseRun.Kind.REVOKE_APP,
        actor=actor,
        action="app.revoke_licenses",
        obj=app,
        app=app,
        vpp_token=app.vpp_token,
    )


def token_reclaim_untracked(*, token, actor) -> LicenseRun:
    """B2: revoke licenses Apple lists for targets this console does not know."""
    return create_run(
        kind=LicenseRun.Kind.RECLAIM_UNTRACKED,
        actor=actor,
        action="token.reclaim_untracked",
        obj=token,
        vpp_token=token,
    )


def token_reconcile(*, token, actor, repair: bool = False, allocate_required: bool = False) -> LicenseRun:
    """B2: compare with Apple (and with `repair`, revoke untracked and re-request missing).

    With `allocate_required` (the nightly run) or `repair`, every target a Required assignment reaches that
    holds no license is given one again (S11): reserved under the App lock like any allocation.
    """
    return create_run(
        kind=LicenseRun.Kind.RECONCILE,
        actor=actor,
        action="token.reconcile_repair" if repair else "token.reconcile",
        obj=token,
        vpp_token=token,
        summary={"repair": repair, "allocate_required": allocate_required},
    )


def revoke_token_licenses(*, token, actor) -> LicenseRun:
    """T14: a recorded run revoking every license of `token` at Apple (assets/revoke for every serial number
    and client user id holding assets on the location, ours or found by sync), then marking our licenses
    revoked.

    Returns the queued LicenseRun; the work happens in `execute` (Celery), which tests may call directly.
    """
    return create_run(
        kind=LicenseRun.Kind.REVOKE_TOKEN,
        actor=actor,
        action="token.revoke_all_licenses",
        obj=token,
        vpp_token=token,
    )


def group_members_added(*, group_id: int, user_ids, device_ids, actor) -> list[LicenseRun]:
    """New members (`user_ids`, `device_ids`) get the group's Required assignments: one allocation run per
    assignment, for those members only (in join order, S6)."""
    assignments = Assignment.objects.filter(
        group_id=group_id, intent=Assignment.Intent.REQUIRED
    ).select_related("app__vpp_token")
    members = {"user_ids": list(user_ids or []), "device_ids": list(device_ids or [])}
    return [
        assignment_allocate(assignment=a, actor=actor, members=members)
        for a in assignments
        if a.app.vpp_token.is_usable
    ]


def group_members_removed(*, group_id: int, user_ids, device_ids, actor) -> LicenseRun | None:
    """S11: members who left lose the licenses they held through this group's assignments, unless another
    assignment of the same app still reaches them (then the license stays, held through that assignment)."""
    # A user who left a user group also leaves the device licenses their devices held through it.
    leavers = Q(user_id__in=user_ids or []) | Q(
        device__primary_user_id__in=user_ids or [], license_type=Assignment.LicenseType.DEVICE
    )
    licenses = list(
        License.objects.filter(
            leavers | Q(device_id__in=device_ids or []),
            assignment__group_id=group_id,
            state=License.State.ASSIGNED,
        )
    )
    kept = _still_reached(licenses, exclude_group_id=group_id)
    license_ids = [lic.pk for lic in licenses if lic.pk not in kept]
    group = Group.objects.get(pk=group_id)
    if kept:
        record(
            actor=actor,
            action="group.members_removed.kept",
            obj=group,
            after={"licenses": sorted(kept), "assignments": sorted({a.pk for a in kept.values()})},
        )
    if not license_ids:
        return None
    if settings.NANOMDM_URL:
        # D3: the apps go from the leavers' devices first; each license is reclaimed once acknowledged.
        _withdraw(license_ids=license_ids, actor=actor, action="group.members_removed.remove_apps", obj=group)
        return None
    kind = LicenseRun.Kind.REVOKE_USER if user_ids else LicenseRun.Kind.REVOKE_DEVICE
    return create_run(
        kind=kind,
        actor=actor,
        action="group.members_removed.reclaim",
        obj=group,
        summary={"license_ids": license_ids},
    )
