"""HMAC signatures on pushed webhook deliveries, verified before anything in them is used.

An agency signs the raw request body (optionally prefixed with a timestamp it sends in its own
header) with a shared secret; the receiver recomputes the HMAC and compares in constant time.
Where an agency documents the header but not the exact construction (Amili: ``X-Webhook-
Signature``), every part is a setting with the common default — HMAC-SHA256 over the raw body,
hex-encoded — so a deployment matches what the agency tells it without a code change.

With a timestamp header, the signed content is ``"{timestamp}.{body}"`` and a delivery older
(or newer) than the tolerance is refused: a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from claimbridge.errors import AuthError

__all__ = ["HmacScheme", "header", "verify_hmac"]

_MAX_SIGNATURE = 1024


class HmacScheme(BaseModel):
    """How an agency signs its webhook deliveries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: SecretStr = Field(description="the shared signing secret (a ${ENV} reference)")
    signature_header: str = Field(default="X-Webhook-Signature", min_length=1)
    algorithm: Literal["sha256", "sha512", "sha1"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = Field(default="", description="text before the digest, e.g. 'sha256='")
    timestamp_header: str | None = Field(
        default=None, description="header with the signing time (Unix seconds); signs 't.body'"
    )
    tolerance_s: int = Field(default=300, ge=1, le=86_400)

    def sign(self, body: bytes, timestamp: str | None = None) -> str:
        """The header value this scheme expects for ``body`` (tests and fakes use it)."""
        digest = hmac.new(
            self.secret.get_secret_value().encode(),
            _signed_content(body, timestamp),
            getattr(hashlib, self.algorithm),
        ).digest()
        encoded = digest.hex() if self.encoding == "hex" else base64.b64encode(digest).decode()
        return self.prefix + encoded


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (HTTP header names are case-insensitive)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_hmac(
    scheme: HmacScheme,
    headers: Mapping[str, str],
    body: bytes,
    *,
    connector: str,
    clock: Callable[[], float] = time.time,
) -> None:
    """Return quietly when the delivery is authentic; raise ``AuthError`` saying why not.

    The reasons never include the body, the secret or the signature itself."""
    given = header(headers, scheme.signature_header)
    if not given or len(given) > _MAX_SIGNATURE:
        raise AuthError(
            f"webhook has no usable {scheme.signature_header} header", connector=connector
        )
    timestamp = None
    if scheme.timestamp_header:
        timestamp = header(headers, scheme.timestamp_header)
        if timestamp is None or not timestamp.strip().isdigit():
            raise AuthError(
                f"webhook has no usable {scheme.timestamp_header} header", connector=connector
            )
        timestamp = timestamp.strip()
        if abs(clock() - int(timestamp)) > scheme.tolerance_s:
            raise AuthError(
                "webhook timestamp is outside the tolerance (replayed or clock skew)",
                connector=connector,
            )
    expected = _decode(scheme, scheme.sign(body, timestamp))
    received = _decode(scheme, given.strip())
    if received is None or expected is None or not hmac.compare_digest(expected, received):
        raise AuthError("webhook signature does not verify", connector=connector)


def _signed_content(body: bytes, timestamp: str | None) -> bytes:
    return body if timestamp is None else timestamp.encode() + b"." + body


def _decode(scheme: HmacScheme, value: str) -> bytes | None:
    """The raw digest from a header value; compared as bytes so hex case does not matter."""
    if scheme.prefix:
        if not value.startswith(scheme.prefix):
            return None
        value = value[len(scheme.prefix) :]
    try:
        if scheme.encoding == "hex":
            return bytes.fromhex(value)
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None
