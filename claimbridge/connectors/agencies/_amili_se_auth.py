"""Amili Sweden's access token: an API code exchanged at ``/authenticates/api-code``.

Amili Sweden ("ADA API") offers two ways to get an access token: ``GET`` with a short-lived JWT
(claims ``api_code`` and ``exp``, signed with the private key whose public half is registered
at Amili) in the ``X-API-Key`` header, or ``POST`` with ``{"api_code": …}`` from a static IP
Amili has registered. Every API call then carries the access token in ``X-API-Key``.

The name of the token field in the answer and the token's lifetime are not public: both are
settings. A 401 renews the token and resends once, inside the auth hook.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import jwt
import requests
import requests.auth
from pydantic import SecretStr

from claimbridge.credentials import CredentialStore
from claimbridge.errors import AuthError, ConfigError, OutcomeUnknownError, UnreachableError
from claimbridge.transport.http import HttpClient

__all__ = ["ApiCodeTokens", "ApiKeyAuth"]

log = logging.getLogger("claimbridge.amili_se")

EXPIRY_MARGIN_S = 60.0
JWT_LIFETIME_S = 600  # Amili: the signed JWT should expire after 10 minutes
AUTH_PATH = "/authenticates/api-code"


class ApiCodeTokens:
    """Access tokens for one Amili Sweden API code, cached in ``store`` under ``key``."""

    def __init__(
        self,
        client: HttpClient,
        *,
        method: Literal["jwt", "api_code"],
        api_code: SecretStr,
        private_key: SecretStr | None,
        algorithm: str,
        token_field: str,
        lifetime_s: float,
        store: CredentialStore,
        key: str,
        clock: Callable[[], float] = time.time,
        name: str = "amili_se",
    ) -> None:
        self._client = client
        self._method = method
        self._api_code = api_code
        self._private_key = private_key
        self._algorithm = algorithm
        self._token_field = token_field
        self._lifetime_s = lifetime_s
        self._store = store
        self._key = key
        self._clock = clock
        self._name = name
        self._lock = threading.Lock()
        self.requests = 0

    def token(self, *, renew: bool = False) -> str:
        with self._lock:
            if not renew:
                cached = self._cached()
                if cached is not None:
                    return cached
            return self._request_token()

    def _cached(self) -> str | None:
        raw = self._store.get(self._key)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            token, expires_at = str(data["token"]), float(data["expires_at"])
        except (ValueError, KeyError, TypeError):
            return None
        if not token or self._clock() >= expires_at - EXPIRY_MARGIN_S:
            return None
        return token

    def _request_token(self) -> str:
        self.requests += 1
        try:
            if self._method == "jwt":
                response = self._client.get(AUTH_PATH, headers={"X-API-Key": self._signed_jwt()})
            else:
                body = {"api_code": self._api_code.get_secret_value()}
                response = self._client.post(AUTH_PATH, json=body, idempotent=True)
        except OutcomeUnknownError:
            raise UnreachableError(
                "the token request got no answer", connector=self._name
            ) from None
        token = _token_from(response, self._token_field, self._name)
        expires_at = self._clock() + self._lifetime_s
        self._store.put(self._key, json.dumps({"token": token, "expires_at": expires_at}))
        log.info("obtained an Amili Sweden access token")
        return token

    def _signed_jwt(self) -> str:
        if self._private_key is None:
            raise ConfigError(f"{self._name}: auth method 'jwt' needs private_key")
        claims = {
            "api_code": self._api_code.get_secret_value(),
            "exp": int(time.time()) + JWT_LIFETIME_S,
        }
        try:
            return jwt.encode(
                claims, self._private_key.get_secret_value(), algorithm=self._algorithm
            )
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError(
                f"{self._name}: private_key cannot sign {self._algorithm} ({type(exc).__name__})"
            ) from None


def _token_from(response: requests.Response, field: str, name: str) -> str:
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    token = data.get(field) if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise AuthError(
            f"the token endpoint answered without a '{field}' token (see token_field)",
            connector=name,
        )
    return token.strip()


class ApiKeyAuth(requests.auth.AuthBase):
    """``X-API-Key: <access token>`` on every call; one renewal and resend on 401."""

    def __init__(self, tokens: ApiCodeTokens) -> None:
        self._tokens = tokens

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-API-Key"] = self._tokens.token()
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or getattr(response.request, "_amili_renewed", False):
            return response
        log.info("access token refused (HTTP 401); renewing it and sending once more")
        token = self._tokens.token(renew=True)
        retry = response.request.copy()
        retry.headers["X-API-Key"] = token
        retry._amili_renewed = True  # type: ignore[attr-defined]
        response.content  # noqa: B018 - drain the body so the connection can be reused
        response.close()
        sent = response.connection.send(retry, **kwargs)
        sent.history.append(response)
        sent.request = retry
        return sent

    def __repr__(self) -> str:
        return "ApiKeyAuth(token='**********')"
