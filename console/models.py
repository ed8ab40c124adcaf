from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken
from knox.settings import CONSTANTS

from console import run_kinds
from console.messages import Message, MessageField, MessageTextField, define, term

RUN_NAME = define("run.name", "%(kind)s #%(id)s")


class AuditEntry(models.Model):
    """One state change made through a service: who, what, on which object, before and after, when."""

    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL
    )
    # Kept as text so the entry stays readable after the user is deleted; "system" for tasks and Apple.
    actor_name = models.CharField(_("actor name"), max_length=150)
    action = models.CharField(_("action"), max_length=100, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100, db_index=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    # A Message for objects whose name has translatable words (console.audit.object_name), else the text.
    object_repr = MessageField(_("object"), max_length=300, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_repr}"


class Run(models.Model):
    """One background run (B8): a sync, a license action, a reconciliation, a directory import, a deployment.

    What it acts on (`vpp_token`, `app`, `user`, `device`, `assignment`, or any other object as `target`),
    who or what started it, its status, progress and stage, its counts, and how it ended (Apple's error
    number, or a warning). `console.runs` is the one runner that moves it from queued to completed or failed;
    a run's kind registers its work there. `kind`-specific numbers go in `counts` (shown with the labels the
    kind registered); the kind's parameters and its working state (Apple event ids, drift found) in `summary`.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Manual")
        NOTIFICATION = "notification", _("Notification")
        UPLOAD = "upload", _("Token upload")
        SYSTEM = "system", _("Automatic")

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINISHED = (Status.COMPLETED, Status.FAILED)

    # No choices here: kinds are registered by the apps that own them (console.runs.register).
    kind = models.CharField(_("kind"), max_length=32, db_index=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    stage = MessageField(_("stage"), max_length=100, blank=True)
    # At most one queued or running run per non-empty key (e.g. one sync per token).
    exclusive_key = models.CharField(max_length=100, blank=True)

    vpp_token = models.ForeignKey(
        "tokens.VPPToken",
        verbose_name=_("token"),
        null=True,
        blank=True,
        related_name="runs",
        on_delete=models.CASCADE,
    )
    app = models.ForeignKey(
        "apps.App", verbose_name=_("app"), null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    user = models.ForeignKey(
        "directory.DirectoryUser",
        verbose_name=_("user"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    device = models.ForeignKey(
        "directory.Device",
        verbose_name=_("device"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    assignment = models.ForeignKey(
        "assignments.Assignment",
        verbose_name=_("assignment"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    target_type = models.ForeignKey(
        "contenttypes.ContentType", null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    target = GenericForeignKey("target_type", "target_id")

    total = models.PositiveIntegerField(_("total"), default=0)
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)

    error = MessageTextField(_("error"), blank=True)
    error_number = models.IntegerField(_("Apple error number"), null=True, blank=True)
    # Something that went wrong without failing the run (e.g. the store metadata lookup was unavailable).
    warning = MessageField(_("warning"), max_length=500, blank=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Beaten by the runner while the run goes; a running run whose heartbeat stops was lost with its worker.
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("run")
        verbose_name_plural = _("runs")
        constraints = [
            models.UniqueConstraint(
                fields=["exclusive_key"],
                condition=Q(status__in=["queued", "running"]) & ~Q(exclusive_key=""),
                name="one_active_run_per_key",
            )
        ]
        indexes = [
            models.Index(fields=["kind", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    def get_kind_display(self) -> str:
        return str(run_kinds.label(self.kind))

    def audit_name(self) -> Message:
        """The run's name in the audit log, its kind said in the reader's language."""
        return RUN_NAME(kind=term(run_kinds.label(self.kind)), id=self.pk)

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def pending(self) -> int:
        """What the total holds beyond succeeded, failed and skipped: not done yet (or never, if it ended)."""
        return max(0, self.total - self.succeeded - self.failed - self.skipped)


class ApiKey(AbstractAuthToken):
    """A key for the REST API (`Authorization: Token <key>`). Only a SHA-512 digest of the key is stored
    (django-rest-knox); the key itself is shown once, when it is created. `token_key` holds its first
    characters, to find the row and to tell keys apart on the page."""

    id = models.BigAutoField(primary_key=True)
    # knox makes the digest the primary key; a plain id keeps digests out of URLs and pages.
    digest = models.CharField(max_length=CONSTANTS.DIGEST_LENGTH, unique=True)
    name = models.CharField(_("name"), max_length=100)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"

    @property
    def prefix(self) -> str:
        """The first characters of the key: enough to recognise it, far too few to use it."""
        return self.token_key[:8]


class Heartbeat(models.Model):
    """When a periodic signal last arrived (`beat`: Celery beat's heartbeat task ran); read by /healthz."""

    name = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} {self.at:%Y-%m-%d %H:%M:%S}"
