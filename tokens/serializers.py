"""API shapes of tokens and sync runs (docs/rules.md, Stable interfaces). Token contents and secrets never
appear."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tokens.models import SyncRun, VPPToken
from tokens.services import COUNTRY_CODES

COUNTRY_HELP = "ISO 3166-1 alpha-2 code of the store the token's app metadata comes from (US, DE, …)."


@extend_schema_field({"type": "string", "enum": list(COUNTRY_CODES), "description": COUNTRY_HELP})
class CountryField(serializers.ChoiceField):
    """The ISO 3166-1 alpha-2 code, exactly (the console's form offers the same list); the schema lists the
    codes without a line per code."""

    def __init__(self, **kwargs):
        super().__init__(choices=COUNTRY_CODES, help_text=COUNTRY_HELP, **kwargs)


class VPPTokenSerializer(serializers.ModelSerializer):
    app_count = serializers.IntegerField(read_only=True)
    days_left = serializers.IntegerField(read_only=True)

    class Meta:
        model = VPPToken
        fields = [
            "id",
            "name",
            "organization_name",
            "location_name",
            "apple_id",
            "account_type",
            "country_or_region",
            "state",
            "state_detail",
            "expires_at",
            "days_left",
            "token_uploaded_at",
            "last_sync_at",
            "last_sync_status",
            "automatic_app_updates",
            "app_count",
        ]
        read_only_fields = fields


class VPPTokenCreateSerializer(serializers.Serializer):
    """Multipart input of `POST vpp-tokens/`; the rules are checked by tokens.services.token_create."""

    token_file = serializers.FileField()
    name = serializers.CharField(max_length=200)
    apple_id = serializers.CharField(max_length=254)
    country_or_region = CountryField()
    account_type = serializers.ChoiceField(choices=VPPToken.AccountType.choices)
    automatic_app_updates = serializers.BooleanField(default=False)
    acknowledge_single_mdm = serializers.BooleanField(
        default=False,
        help_text=(
            "Must be true: the administrator confirms that the token belongs to this console only and "
            "cannot later be changed to a different VPP account."
        ),
    )
    take_control_from_external_mdm = serializers.BooleanField(default=False)


class VPPTokenUpdateSerializer(serializers.Serializer):
    """`PATCH vpp-tokens/{id}/`: only these fields can change without a new token file."""

    name = serializers.CharField(max_length=200, required=False)
    apple_id = serializers.CharField(max_length=254, required=False)
    country_or_region = CountryField(required=False)
    automatic_app_updates = serializers.BooleanField(required=False)


class VPPTokenRenewSerializer(serializers.Serializer):
    token_file = serializers.FileField()


class SyncRunSerializer(serializers.ModelSerializer):
    """`sync-runs/`: the `sync` runs of console.models.Run, in the shape this resource always had."""

    trigger = serializers.ChoiceField(choices=SyncRun.Trigger.choices, read_only=True)
    full = serializers.BooleanField(read_only=True)
    assets_count = serializers.IntegerField(read_only=True)
    apps_created = serializers.IntegerField(read_only=True)
    apps_updated = serializers.IntegerField(read_only=True)
    apps_removed = serializers.IntegerField(read_only=True)
    assignments_count = serializers.IntegerField(read_only=True)
    users_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "vpp_token",
            "trigger",
            "status",
            "progress",
            "stage",
            "full",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "error_number",
            "warning",
            "assets_count",
            "apps_created",
            "apps_updated",
            "apps_removed",
            "assignments_count",
            "users_count",
        ]
        read_only_fields = fields
