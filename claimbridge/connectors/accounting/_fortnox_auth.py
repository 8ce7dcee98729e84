"""Fortnox's side of OAuth2: its token endpoint's parameters and its error bodies.

Fortnox replaces the refresh token on *every* refresh; the flow that keeps the new one safe is
shared: :mod:`claimbridge.transport.oauth`.
"""

from __future__ import annotations

import requests

from claimbridge.transport.http import ErrorInfo, parse_error_body
from claimbridge.transport.oauth import OAuthVendor

__all__ = ["FORTNOX_OAUTH", "fortnox_error_info"]

_MAX_TEXT = 300


def fortnox_error_info(response: requests.Response) -> ErrorInfo:
    """Read Fortnox's ``ErrorInformation`` body, whatever the case of its keys.

    The spec documents ``{"ErrorInformation": {"Error", "Message", "Code"}}``; the live API
    answers with lower-case keys, and a refused token gets a bare ``{"message": ...}``.
    """
    try:
        data = response.json()
    except ValueError:
        return ErrorInfo()
    if isinstance(data, dict):
        inner = data.get("ErrorInformation", data.get("errorInformation"))
        if isinstance(inner, dict):
            folded = {str(k).lower(): v for k, v in inner.items()}
            return ErrorInfo(_text(folded.get("code")), _text(folded.get("message")))
        if "error_description" in data:  # the OAuth token endpoint's own shape
            return ErrorInfo(_text(data.get("error")), _text(data.get("error_description")))
    return parse_error_body(response)


def _text(value: object) -> str | None:
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:_MAX_TEXT]
    return None


# https://apps.fortnox.se/oauth-v1/token: form body, HTTP Basic client credentials.
FORTNOX_OAUTH = OAuthVendor("Fortnox", error_parser=fortnox_error_info)
