"""Alerts (B5): one row per condition and object while it lasts, the notices sent about it, and the daily
license-usage snapshots that feed the dashboard's history chart.

An alert stores a code (`kind`) and parameters, never a sentence: `monitoring.messages` renders it in the
reader's language.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Alert(models.Model):
    """A condition that holds for an object (a token, an app, the MDM server), from when it was first seen
    (`opened_at`) to when it cleared (`resolved_at`). At most one open alert per `key` (kind and object)."""

    class Kind(models.TextChoices):
        TOKEN_EXPIRING = "token_expiring", _("Token expiring")
        TOKEN_UNUSABLE = "token_unusable", _("Token unusable")
        SYNC_FAILED = "sync_failed", _("Sync failed")
        LICENSES_LOW = "licenses_low", _("Licenses low")
        LICENSES_EXHAUSTED = "licenses_exhausted", _("Licenses exhausted")
        INSTALL_FAILURES = "install_failures", _("Install failures")
        MDM_UNREACHABLE = "mdm_unreachable", _("MDM server unreachable")

    class ObjectType(models.TextChoices):
        VPP_TOKEN = "vpp_token", _("VPP token")
        APP = "app", _("App")
        MDM_SERVER = "mdm_server", _("MDM server")

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    object_type = models.CharField(_("object type"), max_length=16, choices=ObjectType.choices)
    object_id = models.PositiveBigIntegerField(_("object id"), null=True, blank=True)
    object_name = models.CharField(_("object"), max_length=300, blank=True)
    # "<kind>:<object_type>:<object_id>": unique among open alerts (one alert per condition and object).
    key = models.CharField(max_length=100)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.OPEN)
    # How severe the condition is now (token_expiring: the 30/14/7/1-day threshold reached); a more severe
    # level sends a new notice, a less severe one does not.
    level = models.PositiveSmallIntegerField(null=True, blank=True)
    params = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(_("opened"), auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(state="open"), name="one_open_alert_per_key"
            )
        ]
        indexes = [models.Index(fields=["state", "kind"])]

    def __str__(self) -> str:
        return self.key


class AlertDelivery(models.Model):
    """One notice about an alert (opened, escalated, resolved) to one recipient on one channel: its attempts,
    status and last error, shown on the alert's page."""

    class Event(models.TextChoices):
        OPENED = "opened", _("Opened")
        ESCALATED = "escalated", _("Escalated")
        RESOLVED = "resolved", _("Resolved")

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        WEBHOOK = "webhook", _("Webhook")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RETRYING = "retrying", _("Retrying")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    alert = models.ForeignKey(Alert, related_name="deliveries", on_delete=models.CASCADE)
    event = models.CharField(_("event"), max_length=16, choices=Event.choices)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    recipient = models.CharField(_("recipient"), max_length=300)
    language = models.CharField(_("language"), max_length=16)
    # The alert's parameters when the notice was created: an email sent later tells what was true then.
    params = models.JSONField(default=dict, blank=True)
    # The webhook's JSON body, fixed when the notice is created: every retry sends (and signs) the same bytes.
    body = models.TextField(blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("alert delivery")
        verbose_name_plural = _("alert deliveries")

    def __str__(self) -> str:
        return f"{self.alert_id} {self.event} {self.channel}"


class RecipientLanguage(models.Model):
    """The language a console user last signed in with: their alert emails are written in it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, related_name="+", on_delete=models.CASCADE
    )
    language = models.CharField(max_length=16)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.language}"


class UsageSnapshot(models.Model):
    """Licenses of one token on one day (the last figure of the day), kept `USAGE_SNAPSHOT_DAYS` days."""

    day = models.DateField(_("day"))
    vpp_token = models.ForeignKey("tokens.VPPToken", related_name="+", on_delete=models.CASCADE)
    total = models.PositiveIntegerField(_("total"), default=0)
    used = models.PositiveIntegerField(_("used"), default=0)

    class Meta:
        ordering = ["day", "vpp_token_id"]
        constraints = [
            models.UniqueConstraint(fields=["day", "vpp_token"], name="one_usage_snapshot_per_token_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.vpp_token_id}: {self.used}/{self.total}"


class ConnectorCheck(models.Model):
    """The last probe of an outside server the console depends on (`nanomdm`): reachable or not, and when."""

    name = models.CharField(max_length=32, unique=True)
    reachable = models.BooleanField(default=False)
    detail = models.CharField(max_length=300, blank=True)
    checked_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
