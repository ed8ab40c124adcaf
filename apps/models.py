"""The purchased catalogue: one App per token × Apple asset (T12), and Apple's view of its assignments."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class App(models.Model):
    """An app or book bought on one location.

    Counts are Apple's, kept current by syncs and notifications (A5).
    """

    class ProductType(models.TextChoices):
        APP = "app", _("App")
        BOOK = "book", _("Book")

    vpp_token = models.ForeignKey("tokens.VPPToken", related_name="apps", on_delete=models.CASCADE)
    adam_id = models.CharField(_("Adam ID"), max_length=32)
    pricing_param = models.CharField(_("pricing"), max_length=8, default="STDQ")
    product_type = models.CharField(
        _("type"), max_length=8, choices=ProductType.choices, default=ProductType.APP
    )

    name = models.CharField(_("name"), max_length=300, blank=True)
    bundle_id = models.CharField(_("bundle ID"), max_length=300, blank=True)
    version = models.CharField(_("version"), max_length=100, blank=True)
    platforms = models.JSONField(_("platforms"), default=list, blank=True)
    icon_url = models.URLField(_("icon"), max_length=500, blank=True)
    store_url = models.URLField(_("store URL"), max_length=500, blank=True)
    release_date = models.DateField(_("release date"), null=True, blank=True)
    publisher = models.CharField(_("publisher"), max_length=300, blank=True)
    is_custom_app = models.BooleanField(_("custom (B2B) app"), default=False)
    supports_device_licensing = models.BooleanField(_("device licensing"), default=False)
    supports_user_licensing = models.BooleanField(_("user licensing"), default=True)
    revocable = models.BooleanField(_("revocable"), default=True)
    is_unlimited = models.BooleanField(_("unlimited"), default=False)
    # The storefront the metadata came from (T10): a country change refreshes it on the next sync.
    metadata_country = models.CharField(max_length=2, blank=True)

    total_licenses = models.PositiveIntegerField(_("total"), default=0)
    used_licenses = models.PositiveIntegerField(_("used"), default=0)
    available_licenses = models.PositiveIntegerField(_("available"), default=0)
    retired_licenses = models.PositiveIntegerField(_("retired"), default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("app")
        verbose_name_plural = _("apps")
        constraints = [
            models.UniqueConstraint(
                fields=["vpp_token", "adam_id", "pricing_param"], name="unique_asset_per_token"
            )
        ]
        indexes = [
            models.Index(fields=["bundle_id"]),
            models.Index(fields=["product_type", "name"]),
            # Licenses and install states sorted by app name walk the apps in this order and each app's rows
            # by its own index, instead of sorting a million joined rows (issue 13).
            models.Index(fields=["name", "id"], name="app_list_name"),
        ]

    def __str__(self) -> str:
        return self.name or self.adam_id


class AppleAssignment(models.Model):
    """An assignment as Apple reports it (GET assignments / notifications).

    One row per asset × serial number or asset × client user id.
    """

    # No database foreign keys on this mirror: a full sync writes a million rows in one transaction and
    # PostgreSQL would check each one's two deferred constraints at commit (as long as writing the rows).
    # Integrity is the sync's: `app_id` comes from a join with the token's apps in the same transaction, and
    # deleting an app or a token still deletes its rows (Django's CASCADE). `vpp_token` needs no index of
    # its own: the unique constraint starts with it.
    vpp_token = models.ForeignKey(
        "tokens.VPPToken",
        related_name="apple_assignments",
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
    )
    app = models.ForeignKey(
        App,
        related_name="apple_assignments",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_constraint=False,
    )
    adam_id = models.CharField(max_length=32)
    pricing_param = models.CharField(max_length=8, default="STDQ")
    serial_number = models.CharField(max_length=64, blank=True, default="")
    client_user_id = models.CharField(max_length=256, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["vpp_token", "adam_id", "pricing_param", "serial_number", "client_user_id"],
                name="unique_apple_assignment",
            )
        ]
        # A row has a serial number or a client user id, never both: each lookup index holds only the rows
        # with its value (half the writes of a full index). Queries name `serial_number <> ''` (or
        # `client_user_id <> ''`) to use them; a comparison of every column goes through the unique index.
        indexes = [
            models.Index(
                fields=["vpp_token", "serial_number"],
                condition=~Q(serial_number=""),
                name="apple_assignment_serial",
            ),
            models.Index(
                fields=["vpp_token", "client_user_id"],
                condition=~Q(client_user_id=""),
                name="apple_assignment_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.adam_id} → {self.serial_number or self.client_user_id}"
