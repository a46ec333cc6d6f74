"""The base of the project's error vocabulary. Each app subclasses it for its own refusals.

Views turn an ApplicationError into a message or a form error for the user; tasks sort them into
retry, give up, or record.
"""


class ApplicationError(Exception):
    """A rule of the back-office refused the request; `message` is safe to show to staff."""

    def __init__(self, message: str, *, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
