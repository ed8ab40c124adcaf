"""VPP tokens (one per Apple location), their sync runs (a kind of console.models.Run) and the Apple
notifications they receive."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from console.fields import EncryptedTextField
from console.messages import MessageField
from console.models import Run


class VPPToken(models.Model):
    """An uploaded location token (T1). Its contents and notification secret are encrypted at rest."""

    class AccountType(models.TextChoices):
        BUSINESS = "business", _("Business")
        EDUCATION = "education", _("Education")

    class State(models.TextChoices):
        VALID = "valid", _("Valid")
        EXPIRED = "expired", _("Expired")
        INVALID = "invalid", _("Invalid")
        REVOKED = "revoked", _("Revoked")
        ASSIGNED_TO_EXTERNAL_MDM = "assigned_to_external_mdm", _("Assigned to external MDM")
        # Listed by the API (a stable interface), never set: `location_uid` is unique, so a second file for a
        # location renews the token (T15) or is refused with a message; no duplicate row can exist.
        DUPLICATE_LOCATION = "duplicate_location", _("Duplicate location")

    class SyncStatus(models.TextChoices):
        NONE = "none", _("Never synced")
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    name = models.CharField(_("name"), max_length=200)
    apple_id = models.CharField(_("Apple ID"), max_length=254)
    country_or_region = models.CharField(_("country/region"), max_length=2)
    account_type = models.CharField(_("account type"), max_length=16, choices=AccountType.choices)
    automatic_app_updates = models.BooleanField(_("automatic app updates"), default=False)

    token_content = EncryptedTextField(_("token"))
    # sha256 of the file content: the same file uploaded twice is refused without decrypting every token.
    token_sha256 = models.CharField(max_length=64, unique=True)
    organization_name = models.CharField(_("organization"), max_length=200, blank=True)
    location_name = models.CharField(_("location"), max_length=200, blank=True)
    location_uid = models.CharField(_("Apple location id"), max_length=64, unique=True)
    default_platform = models.CharField(max_length=32, blank=True)
    # What Apple's client config reports for the location; the console warns when it differs from the choice.
    apple_country_or_region = models.CharField(_("country/region at Apple"), max_length=2, blank=True)
    website_url = models.URLField(blank=True)
    # Our id in Apple's mdmInfo; a different id in client/config means another MDM took the token (T4, T8).
    mdm_info_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    notification_secret = EncryptedTextField(blank=True, default="")

    state = models.CharField(_("state"), max_length=32, choices=State.choices, default=State.VALID)
    state_detail = MessageField(_("state detail"), max_length=500, blank=True)
    expires_at = models.DateTimeField(_("expires"))
    token_uploaded_at = models.DateTimeField(_("last updated"), default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    last_sync_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    last_sync_status = models.CharField(
        _("last sync status"), max_length=16, choices=SyncStatus.choices, default=SyncStatus.NONE
    )
    # Apple's versionId of the first page of the last full read, for incremental reads (sinceVersionId).
    assignments_version_id = models.CharField(max_length=100, blank=True)
    users_version_id = models.CharField(max_length=100, blank=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("VPP token")
        verbose_name_plural = _("VPP tokens")

    def __str__(self) -> str:
        return self.name

    @property
    def country_differs_from_apple(self) -> bool:
        """The chosen country/region is not the one Apple reports for the location."""
        return bool(self.apple_country_or_region) and self.apple_country_or_region != self.country_or_region

    @property
    def apple_account_type(self) -> str:
        """The account type Apple's client config implies (its default platform); "" before the first read."""
        return {"volumestore": self.AccountType.EDUCATION, "enterprisestore": self.AccountType.BUSINESS}.get(
            self.default_platform, ""
        )

    @property
    def account_type_differs_from_apple(self) -> bool:
        return bool(self.apple_account_type) and self.apple_account_type != self.account_type

    @property
    def days_left(self) -> int:
        return (self.expires_at - timezone.now()).days

    @property
    def is_usable(self) -> bool:
        """Only a valid, unexpired token makes calls that change licenses (T5)."""
        return self.state == self.State.VALID and self.expires_at > timezone.now()


SYNC = "sync"
# Numbers a sync writes to `Run.counts`, with their labels (also the order pages show them).
SYNC_COUNT_LABELS = {
    "assets_count": _("Assets"),
    "apps_created": _("Apps created"),
    "apps_updated": _("Apps updated"),
    "apps_removed": _("Apps removed"),
    "assignments_count": _("Assignments"),
    "users_count": _("Users"),
    "apple_requests": _("Apple requests"),
    "rate_limit_wait_ms": _("Waited on Apple's rate limit (ms)"),
    "assets_reread": _("Assets read again for removals"),
    "mirror_inserted": _("Assignments added"),
    "mirror_deleted": _("Assignments removed"),
}


class SyncRunManager(models.Manager["SyncRun"]):
    def get_queryset(self):
        return super().get_queryset().filter(kind=SYNC)


def _count(name: str) -> property:
    return property(lambda run: int(run.counts.get(name, 0)))


class SyncRun(Run):
    """The sync runs of tokens (B8): the `sync` kind of `console.models.Run` — `sync-runs/` in the API.

    At most one is queued or running per token (`exclusive_key`); `summary` holds the parameters (`full`,
    `adam_id` for a notification about one asset) and `counts` what the sync found.
    """

    objects: ClassVar[SyncRunManager] = SyncRunManager()

    class Meta:
        proxy = True
        ordering = ["-created_at", "-id"]
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")

    assets_count = _count("assets_count")
    apps_created = _count("apps_created")
    apps_updated = _count("apps_updated")
    apps_removed = _count("apps_removed")
    assignments_count = _count("assignments_count")
    users_count = _count("users_count")

    @staticmethod
    def key_for(token_id: int) -> str:
        return f"sync:{token_id}"

    def save(self, *args, **kwargs) -> None:
        self.kind = SYNC
        if not self.exclusive_key and self.vpp_token_id:
            self.exclusive_key = self.key_for(self.vpp_token_id)
        super().save(*args, **kwargs)

    @property
    def full(self) -> bool:
        """A full read of Apple's assignments (asked for, or found necessary)."""
        return bool(self.summary.get("full"))

    @full.setter
    def full(self, value: bool) -> None:
        self.summary = {**self.summary, "full": bool(value)}

    @property
    def adam_id(self) -> str:
        """A notification-triggered run may re-sync one asset only."""
        return str(self.summary.get("adam_id") or "")


class NotificationReceipt(models.Model):
    """An Apple notification received for a token; the unique notificationId makes duplicates harmless."""

    vpp_token = models.ForeignKey(VPPToken, related_name="notifications", on_delete=models.CASCADE)
    notification_id = models.CharField(max_length=100)
    notification_type = models.CharField(max_length=50)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vpp_token", "notification_id"], name="unique_notification_per_token"
            )
        ]

    def __str__(self) -> str:
        return f"{self.notification_type} {self.notification_id}"
