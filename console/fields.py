"""An encrypted text field: the database only ever holds Fernet ciphertext."""

from __future__ import annotations

from django.db import models

from console import crypto


class EncryptedTextField(models.TextField):
    """Text encrypted at rest with FIELD_ENCRYPTION_KEY; not searchable, never in forms or serializers."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(value)
