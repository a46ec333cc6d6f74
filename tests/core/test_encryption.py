import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from reseller.core.encryption import SecretUnreadable
from tests.testapp.models import SecretNote


def stored_value(note) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {SecretNote._meta.db_table} WHERE id = %s", [note.pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_secret_is_encrypted_at_rest_and_read_back():
    note = SecretNote.objects.create(title="token", secret="abcdef1234567890")
    raw = stored_value(note)
    assert "abcdef1234567890" not in raw
    assert raw.startswith("gAAAA")  # a Fernet token
    assert SecretNote.objects.get(pk=note.pk).secret == "abcdef1234567890"


@pytest.mark.django_db
def test_empty_secret_stays_empty():
    note = SecretNote.objects.create(title="none", secret="")
    assert stored_value(note) == ""


@pytest.mark.django_db
def test_key_rotation_reencrypts_everything_so_the_old_key_can_go(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    secrets = {f"note-{i}": f"key-{i}-{'x' * i}" for i in range(25)}
    for title, secret in secrets.items():
        SecretNote.objects.create(title=title, secret=secret)
    before = {n.pk: stored_value(n) for n in SecretNote.objects.all()}

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encryption_keys", batch_size=10, stdout=open("/dev/null", "w"))

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is dropped
    for note in SecretNote.objects.all():
        assert note.secret == secrets[note.title]
        assert stored_value(note) != before[note.pk]


@pytest.mark.django_db
def test_dropping_a_key_before_rotation_is_a_clear_error(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    note = SecretNote.objects.create(title="t", secret="s3cret-value")
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(SecretUnreadable, match="rotate_encryption_keys"):
        SecretNote.objects.get(pk=note.pk)


@pytest.mark.django_db
def test_dumpdata_never_writes_secrets_in_the_clear(capsys):
    SecretNote.objects.create(title="t", secret="visible-if-leaked")
    call_command("dumpdata", "testapp")
    assert "visible-if-leaked" not in capsys.readouterr().out
