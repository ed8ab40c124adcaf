"""SCIM clients: the identity providers (Entra ID, Okta) allowed to provision the directory."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ScimClient(models.Model):
    """An identity provider and its bearer token (stored as a SHA-256 hash; shown once when issued).

    The client acts through `account`, a user in the "Identity providers" role that cannot sign in: the
    audit log names it, and the directory lets it change the users and groups it provisioned. Revoking clears
    the token; a new token can be issued for the same client, which keeps the objects it provisioned.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL, related_name="scim_client", on_delete=models.PROTECT
    )
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # The first characters of the token, to tell tokens apart on the page; not enough to use it.
    token_prefix = models.CharField(_("token starts with"), max_length=8, blank=True)
    token_issued_at = models.DateTimeField(_("token issued"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        related_name="+",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("SCIM client")
        verbose_name_plural = _("SCIM clients")

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.token_hash is not None
