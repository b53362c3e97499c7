"""Standard Webhooks signing: ``whsec_`` secrets, ``v1`` signatures, masked display.

A signature is ``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), where the key is
the base64-decoded part of the secret after ``whsec_``. With several active secrets (during a
rotation) the header carries one signature per secret, separated by spaces; a receiver accepts
the message if any one of them verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from pydantic import SecretStr

SECRET_PREFIX = "whsec_"
_KEY_BYTES = 32
_MIN_KEY_BYTES = 24
_MAX_KEY_BYTES = 64


class InvalidSecret(ValueError):
    """Raised for a malformed secret; the message never contains the secret itself."""


def generate_secret() -> SecretStr:
    """A fresh random secret in the ``whsec_`` base64 form."""
    key = secrets.token_bytes(_KEY_BYTES)
    return SecretStr(SECRET_PREFIX + base64.b64encode(key).decode("ascii"))


def parse_secret(text: str) -> SecretStr:
    """Validate a user-supplied secret and return it wrapped; raises InvalidSecret."""
    candidate = text.strip()
    _secret_key(candidate)
    return SecretStr(candidate)


def _secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret(f"a webhook secret must start with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("a webhook secret must be base64 after its prefix") from None
    if not _MIN_KEY_BYTES <= len(key) <= _MAX_KEY_BYTES:
        raise InvalidSecret(
            f"a webhook secret must decode to {_MIN_KEY_BYTES}-{_MAX_KEY_BYTES} bytes"
        )
    return key


def sign(message_id: str, timestamp: int, body: bytes, active: Iterable[SecretStr]) -> str:
    """The ``webhook-signature`` header value: one ``v1,`` signature per active secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    signatures = []
    for secret in active:
        key = _secret_key(secret.get_secret_value())
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode("ascii"))
    return " ".join(signatures)


def fingerprint(secret: SecretStr) -> str:
    """A short, non-reversible tag to tell secrets apart in listings and logs."""
    digest = hashlib.sha256(secret.get_secret_value().encode("utf-8")).hexdigest()
    return f"whsec_…{digest[:8]}"
