"""Type-ahead pickers for filters and forms that take a reference (app, token, user, device, group).

The field still carries the object's id (so the page's query string and the API's filter stay the same);
static/js/console.js turns the input into a search box that asks the API's `search` and keeps the chosen id.
Without JavaScript the id can still be typed.
"""

from __future__ import annotations

from django import forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

# The API list each picker searches and the fields that name an object to a person.
PICKERS: dict[str, tuple[str, str]] = {
    "app": ("app-list", "name adam_id"),
    "token": ("vpp-token-list", "name location_name"),
    "user": ("directory-user-list", "display_name user_principal_name"),
    "device": ("directory-device-list", "name serial_number"),
    "group": ("directory-group-list", "name"),
}


class PickerInput(forms.NumberInput):
    """An id input that the browser turns into a type-ahead search over the API."""

    def __init__(self, kind: str, attrs=None):
        if kind not in PICKERS:
            raise ValueError(f"no picker for {kind!r}")
        self.kind = kind
        super().__init__(attrs)

    def get_context(self, name, value, attrs):
        route, label_fields = PICKERS[self.kind]
        attrs = {
            **(attrs or {}),
            "data-picker-url": reverse(route),
            "data-picker-label": label_fields,
            "data-picker-kind": self.kind,
            "data-picker-placeholder": str(_("Type to search")),
        }
        return super().get_context(name, value, attrs)
