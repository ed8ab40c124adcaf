"""Assignments of apps to groups, the licenses they produce, Apple users we created, and bulk license runs."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from console.messages import Message, MessageField, define, term
from console.models import Run

ASSIGNMENT_NAME = define("assignment.name", "%(app)s → %(group)s (%(intent)s)")


class Assignment(models.Model):
    """An app assigned to a group with an intent and a license type (S1)."""

    class Intent(models.TextChoices):
        AVAILABLE = "available", _("Available")
        REQUIRED = "required", _("Required")
        UNINSTALL = "uninstall", _("Uninstall")

    class LicenseType(models.TextChoices):
        DEVICE = "device", _("Device licensing")
        USER = "user", _("User licensing")

    app = models.ForeignKey("apps.App", related_name="assignments", on_delete=models.CASCADE)
    group = models.ForeignKey("directory.Group", related_name="assignments", on_delete=models.CASCADE)
    intent = models.CharField(_("intent"), max_length=16, choices=Intent.choices)
    license_type = models.CharField(_("license type"), max_length=8, choices=LicenseType.choices)
    uninstall_on_device_removal = models.BooleanField(_("uninstall on device removal"), default=True)
    removable_by_user = models.BooleanField(_("removable by user"), default=True)
    prevent_backup = models.BooleanField(_("prevent iCloud app backup"), default=False)
    prevent_automatic_updates = models.BooleanField(_("prevent automatic app updates"), default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["app", "group", "id"]
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [models.UniqueConstraint(fields=["app", "group"], name="one_assignment_per_app_group")]

    def __str__(self) -> str:
        return f"{self.app} → {self.group} ({self.get_intent_display()})"

    def audit_name(self) -> Message:
        """The audit log's name: app and group as named, the intent in the reader's language."""
        return ASSIGNMENT_NAME(
            app=str(self.app), group=str(self.group), intent=term(self.Intent(self.intent).label)
        )


class VPPUser(models.Model):
    """An Apple user this console created on a location (T9); `client_user_id` is ours and opaque."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending registration")
        REGISTERED = "registered", _("Registered (invited)")
        ASSOCIATED = "associated", _("Associated")
        RETIRED = "retired", _("Retired")
        FAILED = "failed", _("Failed")

    vpp_token = models.ForeignKey("tokens.VPPToken", related_name="vpp_users", on_delete=models.CASCADE)
    user = models.ForeignKey("directory.DirectoryUser", related_name="vpp_users", on_delete=models.CASCADE)
    client_user_id = models.CharField(max_length=256, unique=True)
    email = models.CharField(max_length=254, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    invite_code = models.CharField(max_length=64, blank=True)
    id_hash = models.CharField(max_length=128, blank=True)
    event_id = models.CharField(max_length=100, blank=True)
    error_number = models.IntegerField(null=True, blank=True)
    error = MessageField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["vpp_token", "user"],
                condition=~Q(status="retired"),
                name="one_active_vpp_user_per_token",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.vpp_token}"


class License(models.Model):
    """One license of one app held (or wanted) by one user or one device.

    Untracked licenses (T9): Apple holds a license of the app for a target this console does not know (a
    serial number no Device has, a client user id no VPPUser of the token has). Such a row has neither `user`
    nor `device`, the target as Apple reports it in `apple_serial_number` or `apple_client_user_id`, and
    the state `untracked`; syncs and reconciliations create and remove these rows as Apple's assignments
    change (`reconciliation.untracked_refresh`). Revoking them (B2) moves them through revoking to revoked.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        ASSIGNED = "assigned", _("Assigned")
        FAILED = "failed", _("Failed")
        REVOKING = "revoking", _("Revoking")
        REVOKED = "revoked", _("Revoked")
        UNTRACKED = "untracked", _("Untracked")

    HOLDING = (State.PENDING, State.ASSIGNED, State.REVOKING)

    # No index of its own: the (app, state) index and the Apple-target index start with it. A sync writes a
    # row per unknown target at Apple (up to a million): every index is written once per row.
    app = models.ForeignKey("apps.App", related_name="licenses", on_delete=models.CASCADE, db_index=False)
    # The three nullable links are indexed only where set (partial indexes below): an untracked row (T9) has
    # none of them, and a first sync of a large location writes up to a million such rows.
    assignment = models.ForeignKey(
        Assignment, related_name="licenses", null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    license_type = models.CharField(max_length=8, choices=Assignment.LicenseType.choices)
    user = models.ForeignKey(
        "directory.DirectoryUser",
        related_name="licenses",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_index=False,
    )
    device = models.ForeignKey(
        "directory.Device",
        related_name="licenses",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_index=False,
    )
    # Untracked licenses (T9, B2): the target Apple reports, which this console does not know.
    apple_serial_number = models.CharField(_("serial number at Apple"), max_length=64, blank=True)
    apple_client_user_id = models.CharField(_("client user id at Apple"), max_length=256, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    event_id = models.CharField(_("Apple event"), max_length=100, blank=True)  # indexed below (equality only)
    error_number = models.IntegerField(_("error number"), null=True, blank=True)
    error = MessageField(_("error"), max_length=500, blank=True)
    # A3: the devices of `user` that use this user license (at most five); see LicenseDevice.
    covered_devices = models.ManyToManyField(
        "directory.Device", through="LicenseDevice", related_name="covering_licenses", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("license")
        verbose_name_plural = _("licenses")
        constraints = [
            models.UniqueConstraint(
                fields=["app", "device"],
                condition=Q(device__isnull=False, state__in=["pending", "assigned", "revoking", "failed"]),
                name="one_open_license_per_app_device",
            ),
            models.UniqueConstraint(
                fields=["app", "user"],
                condition=Q(user__isnull=False, state__in=["pending", "assigned", "revoking", "failed"]),
                name="one_open_license_per_app_user",
            ),
            models.UniqueConstraint(
                fields=["app", "apple_serial_number", "apple_client_user_id"],
                condition=Q(state__in=["untracked", "revoking"])
                & (~Q(apple_serial_number="") | ~Q(apple_client_user_id="")),
                name="one_open_untracked_license_per_app_target",
            ),
        ]
        indexes = [
            models.Index(fields=["app", "state"]),
            models.Index(fields=["event_id"], name="license_event"),
            # A sync matches Apple's unknown targets to untracked (and revoking) rows through the unique index
            # `one_open_untracked_license_per_app_target` above (T9): no second index on the same columns.
            # The nullable links, indexed where set (a strict `= x` or `IN (...)` implies IS NOT NULL, so the
            # planner uses these for the lookups and Django's cascades).
            models.Index(
                fields=["assignment"], name="license_assignment", condition=Q(assignment__isnull=False)
            ),
            models.Index(fields=["user"], name="license_user", condition=Q(user__isnull=False)),
            models.Index(fields=["device"], name="license_device", condition=Q(device__isnull=False)),
            # The sorts of Monitor › Licenses and `licenses/` (issue 13: a page of 50 of a million rows reads
            # 50 index entries instead of sorting the table): newest changed, newest created, by state.
            models.Index(fields=["updated_at", "id"], name="license_list_updated"),
            models.Index(fields=["created_at", "id"], name="license_list_created"),
            models.Index(fields=["state", "id"], name="license_list_state"),
            # One app's licenses newest changed first (the page filtered by app: 50 entries, not 5,000 rows
            # sorted); sorted by app name, a page's ids come from this index alone (each app's ids sorted in
            # memory), then only the page's 50 rows from the table (console.pagination's `ids_first`).
            models.Index(fields=["app", "updated_at", "id"], name="license_list_app"),
        ]

    def __str__(self) -> str:
        return f"{self.app} / {self.user or self.device or self.apple_target}"

    @property
    def apple_target(self) -> str:
        """The serial number or client user id Apple reports for an untracked license ("" otherwise)."""
        return self.apple_serial_number or self.apple_client_user_id

    @property
    def is_untracked_target(self) -> bool:
        """True for a license of a target this console does not know (T9), whatever its state."""
        return self.user_id is None and self.device_id is None and bool(self.apple_target)


class LicenseDevice(models.Model):
    """A3: one device of the license's user that uses this user license (at most five per license).

    Attached by the allocation engine in the stable order of `allocation.py`; detached when the device is
    retired or deleted, stops being the user's device, or the license is revoked — which frees the slot
    for the user's next device on the next allocation. Apple is not told: user licensing associates the
    user, not devices.
    """

    license = models.ForeignKey(License, related_name="device_links", on_delete=models.CASCADE)
    device = models.ForeignKey("directory.Device", related_name="license_links", on_delete=models.CASCADE)
    added_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        verbose_name = _("device using a user license")
        verbose_name_plural = _("devices using a user license")
        constraints = [
            models.UniqueConstraint(fields=["license", "device"], name="one_link_per_license_device")
        ]

    def __str__(self) -> str:
        return f"{self.license} → {self.device}"


class LicenseRunManager(models.Manager["LicenseRun"]):
    def get_queryset(self):
        return super().get_queryset().filter(kind__in=LicenseRun.Kind.values)


class LicenseRun(Run):
    """A bulk license action (allocate; revoke all of a token/app/user/device; reclaim untracked; reconcile):
    these kinds of `console.models.Run` — `license-runs/` in the API. `summary` holds the parameters (license
    ids, a serial number, repair) and Apple's pending event ids while the run waits for them."""

    class Kind(models.TextChoices):
        ALLOCATE = "allocate", _("Allocate licenses")
        REVOKE_TOKEN = "revoke_token", _("Revoke all licenses of a token")
        REVOKE_APP = "revoke_app", _("Revoke all licenses of an app")
        REVOKE_USER = "revoke_user", _("Revoke all licenses of a user")
        REVOKE_DEVICE = "revoke_device", _("Revoke all licenses of a device")
        RECLAIM_UNTRACKED = "reclaim_untracked", _("Reclaim untracked licenses")
        RECONCILE = "reconcile", _("Reconcile with Apple")

    objects: ClassVar[LicenseRunManager] = LicenseRunManager()

    class Meta:
        proxy = True
        ordering = ["-created_at", "-id"]
        verbose_name = _("license run")
        verbose_name_plural = _("license runs")
