"""Amili Norway's access token: OAuth2 client credentials at Identiverse, cached, renewed.

Amili's Collection API (AutoCollect) takes ``Authorization: Bearer <access_token>``; the token
comes from ``POST {identiverse}/token`` with a form body (``grant_type=client_credentials``,
``client_id``, ``client_secret``) and lives about an hour (``expires_in``). Amili asks
integrations to cache it until it ends rather than ask for one per call, so it is kept in the
connector's credential store with its expiry and renewed a minute before.

A 401 from the API (a token revoked early) renews the token and sends the request once more,
inside the auth hook, so the core client's rate limit, timeouts and error mapping apply to both
attempts. Asking for a token changes nothing at Amili, so the token request is idempotent.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import requests.auth
from pydantic import SecretStr

from claimbridge.credentials import CredentialStore
from claimbridge.errors import AuthError, OutcomeUnknownError, UnreachableError
from claimbridge.transport.http import HttpClient

__all__ = ["AmiliBearerAuth", "ClientCredentialTokens"]

log = logging.getLogger("claimbridge.amili")

EXPIRY_MARGIN_S = 60.0
_DEFAULT_LIFETIME_S = 3600.0  # Amili: "typically 3600 s / 1 hour"


class ClientCredentialTokens:
    """Access tokens for one Amili integration; cached in ``store`` under ``key`` as JSON."""

    def __init__(
        self,
        client: HttpClient,
        *,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        scope: str | None,
        store: CredentialStore,
        key: str,
        clock: Callable[[], float] = time.time,
        name: str = "amili",
    ) -> None:
        self._client = client
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._store = store
        self._key = key
        self._clock = clock
        self._name = name
        self._lock = threading.Lock()
        self.requests = 0  # token requests made, for tests

    def token(self, *, renew: bool = False) -> str:
        """A valid access token: the cached one unless it is near its end or ``renew``."""
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
            token, expires_at = str(data["access_token"]), float(data["expires_at"])
        except (ValueError, KeyError, TypeError):
            return None  # a damaged cache entry only costs one token request
        if not token or self._clock() >= expires_at - EXPIRY_MARGIN_S:
            return None
        return token

    def _request_token(self) -> str:
        self.requests += 1
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }
        if self._scope:
            form["scope"] = self._scope
        try:
            response = self._client.request("POST", self._token_url, data=form, idempotent=True)
        except OutcomeUnknownError:  # nothing to look up: a lost token is simply asked again
            raise UnreachableError(
                "the token request got no answer", connector=self._name
            ) from None
        token, lifetime = _token_from(response, self._name)
        self._store.put(
            self._key,
            json.dumps({"access_token": token, "expires_at": self._clock() + lifetime}),
        )
        log.info("obtained an Amili access token valid for %d s", int(lifetime))
        return token


def _token_from(response: requests.Response, name: str) -> tuple[str, float]:
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise AuthError("the token endpoint answered without an access token", connector=name)
    lifetime = data.get("expires_in")
    if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
        return token.strip(), float(lifetime)
    return token.strip(), _DEFAULT_LIFETIME_S


class AmiliBearerAuth(requests.auth.AuthBase):
    """The bearer token on every API call; one renewal and resend on 401."""

    def __init__(self, tokens: ClientCredentialTokens) -> None:
        self._tokens = tokens

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._tokens.token()}"
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or getattr(response.request, "_amili_renewed", False):
            return response
        log.info("access token refused (HTTP 401); renewing it and sending once more")
        token = self._tokens.token(renew=True)
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {token}"
        retry._amili_renewed = True  # type: ignore[attr-defined]
        response.content  # noqa: B018 - drain the body so the connection can be reused
        response.close()
        sent = response.connection.send(retry, **kwargs)
        sent.history.append(response)
        sent.request = retry
        return sent

    def __repr__(self) -> str:
        return "AmiliBearerAuth(token='**********')"
