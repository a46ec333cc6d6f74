import logging

from reseller.core.redaction import RedactSecretsFilter, redact, register_secrets


def test_registered_secrets_and_secret_shapes_are_masked():
    register_secrets("abcdef1234567890abcdef1234567890")
    text = (
        "POST https://api.telegram.org/bot123456:AAE-secret_part/sendCustomRequest "
        "Authorization: abcdef1234567890abcdef1234567890 "
        "headers={'Authorization': 'Bearer eyJhbGciOi.payload.sig'}"
    )
    cleaned = redact(text)
    assert "AAE-secret_part" not in cleaned
    assert "abcdef1234567890abcdef1234567890" not in cleaned
    assert "eyJhbGciOi" not in cleaned
    assert "sendCustomRequest" in cleaned


def test_log_records_and_their_tracebacks_are_cleaned():
    register_secrets("tok-zz9-plural-z-alpha")
    logger = logging.getLogger("tests.redaction")
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record) + (record.exc_text or ""))

    handler = Keep()
    handler.addFilter(RedactSecretsFilter())
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError("failed with token tok-zz9-plural-z-alpha")
        except RuntimeError:
            logger.exception("call using %s failed", "tok-zz9-plural-z-alpha")
    finally:
        logger.removeHandler(handler)
    assert records and all("tok-zz9-plural-z-alpha" not in r for r in records)
