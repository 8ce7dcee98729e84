"""The OAuth2 side the vendor fakes share: form bodies, client credentials, bearer tokens, and
the refresh-token endpoint of Fiken, Fortnox and Visma.

The three refresh-token vendors speak RFC 6749 section 6 alike: HTTP Basic client
authentication, a form-encoded ``grant_type=refresh_token`` request, a new access token and
(where the vendor rotates) a new refresh token that replaces the old one. They differ only in
their error bodies and a few answer fields; a fake subclasses :class:`RefreshTokenEndpoint`
and says those. The client-credentials fakes (Amili, Riverty, PowerOffice Go) check
credentials their own ways and use the request helpers.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any, ClassVar
from urllib.parse import parse_qs

import requests

__all__ = ["RefreshTokenEndpoint", "basic_authorization", "bearer_of", "form_of"]

Reply = tuple[int, dict[str, str], str]


def form_of(request: requests.PreparedRequest) -> dict[str, str]:
    """A form-encoded body's fields (the first value of each)."""
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
    return {name: values[0] for name, values in parse_qs(body).items()}


def basic_authorization(user: str, password: str) -> str:
    """The ``Authorization`` header of HTTP Basic client credentials (RFC 6749 section 2.3.1)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def bearer_of(request: requests.PreparedRequest) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if the request has one."""
    header = str(request.headers.get("Authorization", ""))
    return header.removeprefix("Bearer ") if header.startswith("Bearer ") else None


class RefreshTokenEndpoint:
    """An OAuth app's token endpoint and the access tokens it issued.

    ``refresh_token`` is the one the endpoint takes now; with ``rotate`` every grant replaces
    it. Tests read ``token_requests`` and call :meth:`expire_tokens` (the API then refuses
    every access token issued so far).
    """

    #: further fields of a granted answer, as the vendor documents them
    answer_fields: ClassVar[dict[str, Any]] = {}
    token_type = "bearer"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        token_lifetime: int,
        rotate: bool = True,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.token_lifetime = token_lifetime
        self.rotate = rotate
        self.access_tokens: set[str] = set()
        self.token_requests = 0
        self._serials = itertools.count(1)

    def expire_tokens(self) -> None:
        self.access_tokens.clear()

    def authorized(self, request: requests.PreparedRequest) -> bool:
        """The request carries an access token this endpoint issued (and has not expired)."""
        return bearer_of(request) in self.access_tokens

    def refused(self, code: str) -> Reply:
        """The vendor's answer to a token request refused with an RFC 6749 section 5.2 code."""
        status = 401 if code == "invalid_client" else 400
        body = json.dumps({"error": code, "error_description": code.replace("_", " ")})
        return status, {"Content-Type": "application/json"}, body

    def token(self, request: requests.PreparedRequest) -> Reply:
        """``POST`` to the token endpoint: a refresh-token grant, or the vendor's refusal."""
        self.token_requests += 1
        if request.headers.get("Authorization") != basic_authorization(
            self.client_id, self.client_secret
        ):
            return self.refused("invalid_client")
        if "x-www-form-urlencoded" not in str(request.headers.get("Content-Type", "")):
            return self.refused("invalid_request")  # RFC 6749 section 4.1.3: form-encoded
        form = form_of(request)
        if form.get("grant_type") != "refresh_token":
            return self.refused("unsupported_grant_type")
        if form.get("refresh_token") != self.refresh_token:
            return self.refused("invalid_grant")
        serial = next(self._serials)
        access = f"at-{serial}"
        self.access_tokens.add(access)
        if self.rotate:
            self.refresh_token = f"rt-{serial}"
        answer = {
            "access_token": access,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_in": self.token_lifetime,
            **self.answer_fields,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)
