"""Users, devices and the groups apps are assigned to."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _


class Source(models.TextChoices):
    """Where a user or group comes from. Identity-provider objects change only through that provider."""

    CONSOLE = "console", _("Console")
    IDENTITY_PROVIDER = "identity_provider", _("Identity provider")


class ProvisionedMixin(models.Model):
    """Marks objects an identity provider provisions over SCIM (source, its account, its own id for them).

    `deprovisioned_at` is set when the provider deletes the object: the row stays (licenses and history point
    at it), the provider no longer sees it, and the console may edit it again.
    """

    source = models.CharField(_("source"), max_length=20, choices=Source.choices, default=Source.CONSOLE)
    provisioned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("provisioned by"),
        related_name="+",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    external_id = models.CharField(_("external id"), max_length=254, blank=True, db_index=True)
    deprovisioned_at = models.DateTimeField(_("removed by the identity provider"), null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def managed_by_identity_provider(self) -> bool:
        """True while the identity provider owns this object: console forms and the API may not change it."""
        return self.source == Source.IDENTITY_PROVIDER and self.deprovisioned_at is None


class DirectoryUser(ProvisionedMixin):
    """A person who can receive user-licensed apps (A3: needs an Apple ID or managed Apple ID)."""

    display_name = models.CharField(_("display name"), max_length=200)
    user_principal_name = models.CharField(_("user principal name"), max_length=254, unique=True)
    email = models.EmailField(_("email"), blank=True)
    managed_apple_id = models.CharField(_("Apple ID / managed Apple ID"), max_length=254, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    deactivated_at = models.DateTimeField(_("deactivated"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name", "id"]
        verbose_name = _("user")
        verbose_name_plural = _("users")
        # SCIM looks users up by `userName eq "…"`, which the filter parser compares as UPPER(upn).
        indexes = [models.Index(Upper("user_principal_name"), name="directoryuser_upper_upn")]
        constraints = [
            # The pair (user, Apple ID) is unique (A3): one Apple ID belongs to one user.
            models.UniqueConstraint(
                fields=["managed_apple_id"], condition=~Q(managed_apple_id=""), name="unique_managed_apple_id"
            )
        ]

    def __str__(self) -> str:
        return self.display_name


class Device(models.Model):
    """A managed device. Device licenses follow the serial number (A2)."""

    class Platform(models.TextChoices):
        IOS = "iOS", "iOS"
        IPADOS = "iPadOS", "iPadOS"
        MACOS = "macOS", "macOS"
        TVOS = "tvOS", "tvOS"
        VISIONOS = "visionOS", "visionOS"
        WATCHOS = "watchOS", "watchOS"

    class Ownership(models.TextChoices):
        CORPORATE = "corporate", _("Corporate")
        PERSONAL = "personal", _("Personal")

    serial_number = models.CharField(_("serial number"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    model = models.CharField(_("model"), max_length=100, blank=True)
    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices, default=Platform.IOS)
    os_version = models.CharField(_("OS version"), max_length=32, blank=True)
    ownership = models.CharField(
        _("ownership"), max_length=16, choices=Ownership.choices, default=Ownership.CORPORATE
    )
    supervised = models.BooleanField(_("supervised"), default=False)
    kiosk_mode = models.BooleanField(_("kiosk (single-app) mode"), default=False)
    dep_enrolled = models.BooleanField(_("enrolled through ADE/DEP"), default=False)
    primary_user = models.ForeignKey(
        DirectoryUser,
        verbose_name=_("primary user"),
        related_name="devices",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    app_store_allowed = models.BooleanField(_("App Store allowed"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)
    # D1: what the MDM server (NanoMDM) reported; the UDID is how the console addresses the device there.
    udid = models.CharField(_("UDID"), max_length=64, blank=True, default="")
    mdm_enrolled = models.BooleanField(_("enrolled in the MDM server"), default=False)
    last_checkin_at = models.DateTimeField(_("last check-in"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "serial_number"]
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        constraints = [
            models.UniqueConstraint(fields=["udid"], condition=~Q(udid=""), name="unique_device_udid")
        ]
        # The device list's order and an app's device pane sorted by device (issue 13).
        indexes = [models.Index(fields=["name", "serial_number", "id"], name="device_list_name")]

    def __str__(self) -> str:
        return self.name or self.serial_number


class Group(ProvisionedMixin):
    """A user group or a device group; apps are assigned to groups (S1)."""

    class GroupType(models.TextChoices):
        USER = "user", _("User group")
        DEVICE = "device", _("Device group")

    name = models.CharField(_("name"), max_length=200, unique=True)
    group_type = models.CharField(_("type"), max_length=8, choices=GroupType.choices)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("group")
        verbose_name_plural = _("groups")

    def __str__(self) -> str:
        return self.name


class GroupMembership(models.Model):
    """A member of a group; `joined_at`, then id, is the stable order licenses are handed out in (S6)."""

    group = models.ForeignKey(Group, related_name="memberships", on_delete=models.CASCADE)
    user = models.ForeignKey(
        DirectoryUser, related_name="memberships", null=True, blank=True, on_delete=models.CASCADE
    )
    device = models.ForeignKey(
        Device, related_name="memberships", null=True, blank=True, on_delete=models.CASCADE
    )
    joined_at = models.DateTimeField(_("joined"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, device__isnull=True)
                | Q(user__isnull=True, device__isnull=False),
                name="membership_user_xor_device",
            ),
            models.UniqueConstraint(
                fields=["group", "user"], condition=Q(user__isnull=False), name="unique_user_member"
            ),
            models.UniqueConstraint(
                fields=["group", "device"], condition=Q(device__isnull=False), name="unique_device_member"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group}: {self.user or self.device}"
