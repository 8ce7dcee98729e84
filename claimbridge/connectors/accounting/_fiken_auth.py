"""Fiken's side of OAuth2: its token endpoint's parameters and its error bodies.

The refresh-token flow itself (rotation, persistence, 401 handling) is shared:
:mod:`claimbridge.transport.oauth`.
"""

from __future__ import annotations

import requests

from claimbridge.transport.http import ErrorInfo, parse_error_body
from claimbridge.transport.oauth import OAuthVendor

__all__ = ["FIKEN_OAUTH", "fiken_error_info"]

_MAX_TEXT = 300


def fiken_error_info(response: requests.Response) -> ErrorInfo:
    """Fiken's documented error body is OAuth's ``{"error", "error_description"}``."""
    try:
        data = response.json()
    except ValueError:
        return ErrorInfo()
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        description = data.get("error_description")
        if isinstance(description, str) and description.strip():
            return ErrorInfo(data["error"].strip()[:_MAX_TEXT], description.strip()[:_MAX_TEXT])
    return parse_error_body(response)


# Fiken may rotate the refresh token on every refresh; access tokens live about an hour.
FIKEN_OAUTH = OAuthVendor("Fiken", error_parser=fiken_error_info)
