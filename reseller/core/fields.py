"""A model field that stores text encrypted at rest (see reseller/core/encryption.py)."""

from django.db import models

from reseller.core.encryption import decrypt_text, encrypt_text


class EncryptedTextField(models.TextField):
    """Text encrypted with the project's MultiFernet before it reaches the database.

    The stored value is a Fernet token, different on every save, so the field cannot be filtered
    or indexed on. An empty string is stored as an empty string (nothing to protect).
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_text(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(value)

    def value_to_string(self, obj):
        # Serialisation (dumpdata) must never write secrets out in the clear.
        return "<encrypted>"


def encrypted_fields():
    """Every (model, field name) pair that holds an encrypted secret, for key rotation."""
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field.name
