"""Deployment through the MDM server: the commands sent to devices, their results, the install state of each
(device, app), and the webhook events received (mdm-nanomdm.md, D1–D6)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from console.messages import MessageTextField


class InstallState(models.TextChoices):
    PENDING_INSTALL = "pending_install", _("Pending install")
    INSTALLED = "installed", _("Installed")
    FAILED = "failed", _("Failed")
    NOT_INSTALLED = "not_installed", _("Not installed")
    UNINSTALL_PENDING = "uninstall_pending", _("Uninstall pending")
    UNINSTALL_FAILED = "uninstall_failed", _("Uninstall failed")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")


# Worst first: a user's state for an app is the worst state of their devices (D5).
SEVERITY = [
    InstallState.FAILED,
    InstallState.UNINSTALL_FAILED,
    InstallState.PENDING_INSTALL,
    InstallState.UNINSTALL_PENDING,
    InstallState.NOT_INSTALLED,
    InstallState.INSTALLED,
    InstallState.NOT_APPLICABLE,
]


class DeviceAppState(models.Model):
    """D5: the install state of one app on one device, with the last error and when the device last reported.

    The error is Apple's (code, domain, description from the device's ErrorChain), NanoMDM's (a push or queue
    error), or the console's own reason (no license: the license's error; no answer from the device).
    """

    device = models.ForeignKey("directory.Device", related_name="app_states", on_delete=models.CASCADE)
    app = models.ForeignKey("apps.App", related_name="device_states", on_delete=models.CASCADE)
    state = models.CharField(_("install state"), max_length=20, choices=InstallState.choices)
    error_code = models.IntegerField(_("error code"), null=True, blank=True)
    error_domain = models.CharField(_("error domain"), max_length=200, blank=True)
    error = MessageTextField(_("error"), blank=True)
    last_reported_at = models.DateTimeField(_("last reported"), null=True, blank=True)
    # ManagedApplicationList checks done since the install was acknowledged, and when the next one is due
    # (bounded backoff, M3); None = no check planned.
    inventory_checks = models.PositiveSmallIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["device__name", "device__serial_number", "id"]
        verbose_name = _("install state")
        verbose_name_plural = _("install states")
        constraints = [models.UniqueConstraint(fields=["device", "app"], name="one_state_per_device_app")]
        indexes = [
            models.Index(fields=["app", "state"]),
            # Install status sorted by last report, or filtered by state over every app (issue 13).
            models.Index(fields=["last_reported_at", "id"], name="device_app_state_reported"),
            models.Index(fields=["state", "id"], name="device_app_state_state"),
        ]

    def __str__(self) -> str:
        return f"{self.app} on {self.device}: {self.state}"


class CommandBatch(models.Model):
    """One enqueue request to the MDM server: one command (one CommandUUID) for many devices (B8, bench).

    Kept minimal until the console's one run model lands; each bulk send is one or more batches.
    """

    command_uuid = models.CharField(max_length=64, unique=True)
    request_type = models.CharField(max_length=64)
    app = models.ForeignKey("apps.App", null=True, blank=True, on_delete=models.SET_NULL)
    devices = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.request_type} × {self.devices}"


class Command(models.Model):
    """D5: one MDM command sent to one device (about one app, for most), and what the device answered."""

    class Purpose(models.TextChoices):
        INSTALL = "install", _("Install")
        UPDATE = "update", _("Update")
        REMOVE = "remove", _("Remove")
        INVENTORY = "inventory", _("Inventory")
        INVITE = "invite", _("Invitation to the volume purchase program")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Sent, waiting for the device")
        NOT_NOW = "not_now", _("Device busy (not now)")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        ERROR = "error", _("Error")
        FAILED = "failed", _("Not delivered")

    OPEN = (Status.QUEUED, Status.NOT_NOW)

    device = models.ForeignKey("directory.Device", related_name="mdm_commands", on_delete=models.CASCADE)
    app = models.ForeignKey(
        "apps.App", related_name="mdm_commands", null=True, blank=True, on_delete=models.CASCADE
    )
    batch = models.ForeignKey(CommandBatch, related_name="commands", null=True, on_delete=models.SET_NULL)
    # A removal that reclaims this license once the device acknowledged it (S3, D3).
    license = models.ForeignKey(
        "assignments.License", related_name="+", null=True, blank=True, on_delete=models.SET_NULL
    )
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    request_type = models.CharField(_("command"), max_length=64)
    command_uuid = models.CharField(max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=1)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    last_push_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_domain = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    error_chain = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("MDM command")
        verbose_name_plural = _("MDM commands")
        constraints = [
            models.UniqueConstraint(fields=["command_uuid", "device"], name="one_command_row_per_device")
        ]
        indexes = [models.Index(fields=["status", "sent_at"]), models.Index(fields=["device", "app"])]

    def __str__(self) -> str:
        return f"{self.request_type} → {self.device} ({self.status})"


class WebhookEvent(models.Model):
    """D6: every webhook event received, once (`key`: NanoMDM's event_id, else the body's SHA-256)."""

    key = models.CharField(max_length=128, unique=True)
    topic = models.CharField(max_length=64, blank=True)
    body = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.topic} {self.key}"
