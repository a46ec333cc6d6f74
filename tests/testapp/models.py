from django.db import models

from reseller.core.fields import EncryptedTextField


class SecretNote(models.Model):
    title = models.CharField(max_length=50)
    secret = EncryptedTextField(blank=True)
