"""The clients' redaction is the back-office's own (`reseller.core.redaction`), named here for the
clients' modules: credentials in `Secret`s, `redact` for every text that leaves the transport,
`register_secrets` for log records, `mask_delivered_keys` for raw bodies kept on errors."""

from reseller.core.redaction import (  # noqa: F401
    MASK,
    Secret,
    mask_delivered_keys,
    redact,
    register_secrets,
)
