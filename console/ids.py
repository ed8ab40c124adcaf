"""Object ids from outside (filters, form fields, API bodies) as bounded integers.

An id the database cannot hold (``99999999999999999999``) must be bad input, never an ``OverflowError``: every
id filter, form field and API field uses the types below, and code that reads a raw id calls ``parse_id``.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# Primary keys are BigAutoField: a signed 64-bit integer on SQLite and PostgreSQL alike.
MAX_ID = 2**63 - 1


def parse_id(value: object) -> int | None:
    """`value` as an id (1 … MAX_ID), or None when it is not one (missing, not a number, out of range)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        return None
    return number if 1 <= number <= MAX_ID else None


class IdFormField(forms.IntegerField):
    """A whole number from 1 to MAX_ID; anything else is a form error, not a database error."""

    default_error_messages = {"invalid": _("Enter an id (a whole number).")}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.Filter):
    """Filter on an id column (`?app=12`); a value that cannot be an id is a filter error (API: 400)."""

    field_class = IdFormField


class IdSerializerField(serializers.IntegerField):
    """An id in an API body (`{"groups": [12]}`): a whole number from 1 to MAX_ID, else 400."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)
