from django.apps import AppConfig


class TestAppConfig(AppConfig):
    """Models and a template that exist only for the tests of shared machinery (encrypted fields,
    key rotation, the choice between a page and one of its partials)."""

    name = "tests.testapp"
    label = "testapp"
