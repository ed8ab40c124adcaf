"""Forms of the token pages. They only collect input; the rules live in tokens.services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tokens.countries import country_choices
from tokens.models import VPPToken


def _country_choices() -> list[tuple[str, str]]:
    # Evaluated per form: the names follow the reader's language.
    return [("", str(_("Select a country/region"))), *country_choices()]


class _TokenFieldsForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    apple_id = forms.CharField(
        label=_("Apple ID"),
        max_length=254,
        help_text=_("The Apple ID (or managed Apple ID) of the account the token was downloaded with."),
    )
    country_or_region = forms.ChoiceField(
        label=_("Country/region"),
        choices=_country_choices,
        help_text=_("App metadata and store links come from this store."),
    )
    automatic_app_updates = forms.TypedChoiceField(
        label=_("Automatic app updates"),
        choices=[
            ("false", _("Off")),
            ("true", _("On")),
        ],
        coerce=lambda value: value == "true",
        widget=forms.RadioSelect,
        initial="false",
        help_text=_("When On, newer versions of this token's apps are pushed to devices at check-in."),
    )


class TokenCreateForm(_TokenFieldsForm):
    token_file = forms.FileField(
        label=_("VPP token file"),
        help_text=_("The .vpptoken file downloaded from Apple Business Manager or Apple School Manager."),
    )
    account_type = forms.ChoiceField(label=_("Account type"), choices=VPPToken.AccountType.choices)
    take_control_from_external_mdm = forms.BooleanField(
        label=_("Take control of this token from another MDM"),
        required=False,
        help_text=_(
            "Only if this token is in use by another device management product that will stop using it."
        ),
    )
    acknowledge_single_mdm = forms.BooleanField(
        label=_(
            "I confirm that this token will be used by this console only, and that it cannot later be "
            "changed to a different VPP account."
        ),
        required=False,
    )

    field_order = [
        "token_file",
        "name",
        "apple_id",
        "country_or_region",
        "account_type",
        "automatic_app_updates",
        "take_control_from_external_mdm",
        "acknowledge_single_mdm",
    ]


class TokenEditForm(_TokenFieldsForm):
    token_file = forms.FileField(
        label=_("Renew: new VPP token file"),
        required=False,
        help_text=_("Optional. A newer token for the same location; apps and assignments are kept."),
    )

    field_order = ["token_file", "name", "apple_id", "country_or_region", "automatic_app_updates"]
