from django.apps import AppConfig


class TestAppConfig(AppConfig):
    """Models that exist only for the tests of shared machinery (encrypted fields, key rotation)."""

    name = "tests.testapp"
    label = "testapp"
