from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken
from knox.settings import CONSTANTS


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
    object_repr = models.CharField(_("object"), max_length=300, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_repr}"


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
