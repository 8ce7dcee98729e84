"""How Amili Sweden's access token is asked for: an API code exchanged for a token.

Amili Sweden ("ADA API") offers two ways to get one at ``/authenticates/api-code``: ``GET``
with a short-lived JWT (claims ``api_code`` and ``exp``, signed with the private key whose
public half is registered at Amili) in the ``X-API-Key`` header, or ``POST`` with
``{"api_code": …}`` from a static IP Amili has registered. Every API call then carries the
access token in ``X-API-Key``.

The name of the token field in the answer and the token's lifetime are not public: both are
settings (a :class:`~claimbridge.transport.tokens.TokenAnswer`). The caching and the renewal on
a 401 are :mod:`claimbridge.transport.tokens`'s.
"""

from __future__ import annotations

import time
from typing import Literal

import jwt
import requests
from pydantic import SecretStr

from claimbridge.errors import ConfigError
from claimbridge.transport.http import HttpClient
from claimbridge.transport.tokens import TokenRequest

__all__ = ["AUTH_PATH", "api_code_request"]

JWT_LIFETIME_S = 600  # Amili: the signed JWT should expire after 10 minutes
AUTH_PATH = "/authenticates/api-code"


def api_code_request(
    method: Literal["jwt", "api_code"],
    api_code: SecretStr,
    private_key: SecretStr | None,
    algorithm: str,
    name: str,
) -> TokenRequest:
    """The token request of one API code, by ``method``; a key that cannot sign is config."""

    def signed_jwt() -> str:
        if private_key is None:
            raise ConfigError(f"{name}: auth method 'jwt' needs private_key")
        claims = {"api_code": api_code.get_secret_value(), "exp": int(time.time()) + JWT_LIFETIME_S}
        try:
            return jwt.encode(claims, private_key.get_secret_value(), algorithm=algorithm)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError(
                f"{name}: private_key cannot sign {algorithm} ({type(exc).__name__})"
            ) from None

    def ask(client: HttpClient) -> requests.Response:
        if method == "jwt":
            return client.get(AUTH_PATH, headers={"X-API-Key": signed_jwt()})
        body = {"api_code": api_code.get_secret_value()}
        return client.post(AUTH_PATH, json=body, idempotent=True)

    return ask
