"""Visma eAccounting's side of OAuth2: its token endpoint's parameters and its error bodies.

Visma's identity server spends the refresh token on every refresh; the flow that keeps the new
one safe is shared: :mod:`claimbridge.transport.oauth`.
"""

from __future__ import annotations

import requests

from claimbridge.transport.http import ErrorInfo, parse_error_body
from claimbridge.transport.oauth import OAuthVendor

__all__ = ["VISMA_OAUTH", "visma_error_info"]

_MAX_TEXT = 300


def visma_error_info(response: requests.Response) -> ErrorInfo:
    """Visma's API errors are ``{"ErrorCode", "DeveloperErrorMessage", "ErrorId"}``; its
    identity server answers OAuth's ``{"error", "error_description"}``."""
    try:
        data = response.json()
    except (ValueError, RecursionError):
        return ErrorInfo()
    if not isinstance(data, dict):
        return ErrorInfo()
    code = data.get("ErrorCode")
    message = data.get("DeveloperErrorMessage")
    if code is not None or message is not None:
        return ErrorInfo(_text(code), _text(message))
    if isinstance(data.get("error"), str):
        return ErrorInfo(_text(data["error"]), _text(data.get("error_description")))
    return parse_error_body(response)


def _text(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    return text[:_MAX_TEXT] if text else None


# identity.vismaonline.com/connect/token: form body, HTTP Basic client credentials.
VISMA_OAUTH = OAuthVendor("Visma", error_parser=visma_error_info)
