"""Fiken's OAuth2 refresh-token flow: access tokens on demand, rotated refresh tokens kept.

Fiken may hand out a new refresh token with every access token and the old one then stops
working, so a rotated token is written to the credential store *before* the new access token
is used: a crash after the refresh must never leave only the dead token on disk. The first
refresh token comes from the config; afterwards the stored one wins.

The token endpoint lives on another host than the API and wants a form-encoded body with HTTP
Basic client credentials. It is called through its own
:class:`~claimbridge.transport.http.HttpClient` as a plain (non-idempotent) POST: a refresh
whose answer was lost may already have rotated the token, so it is retried only when it failed
before it was sent, never after.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import requests.auth
from pydantic import SecretStr

from claimbridge.credentials import CredentialStore
from claimbridge.errors import AuthError, OutcomeUnknownError, RemoteError
from claimbridge.transport.http import ErrorInfo, HttpClient, parse_error_body

__all__ = ["FikenTokens", "fiken_error_info"]

log = logging.getLogger("claimbridge.fiken")

EXPIRY_MARGIN_S = 60.0  # refresh this long before Fiken says the token expires
_DEFAULT_LIFETIME_S = 3600.0  # when the answer has no expires_in
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


class FikenTokens(requests.auth.AuthBase):
    """Bearer auth for the API client, refreshing the access token when it runs out."""

    def __init__(
        self,
        *,
        token_client: HttpClient,
        client_id: str,
        client_secret: SecretStr,
        initial_refresh_token: SecretStr,
        store: CredentialStore,
        store_key: str,
        connector: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = token_client
        self._basic = requests.auth.HTTPBasicAuth(client_id, client_secret.get_secret_value())
        self._initial = initial_refresh_token
        self._store = store
        self._key = store_key
        self._name = connector
        self._clock = clock
        self._access: SecretStr | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "FikenTokens(access_token='**********')"

    # requests.auth hook ----------------------------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        return request

    # tokens ---------------------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid access token, refreshing first when it is missing or about to expire."""
        with self._lock:
            if self._access is None or self._clock() >= self._expires_at - EXPIRY_MARGIN_S:
                self._refresh()
            assert self._access is not None
            return self._access.get_secret_value()

    def invalidate(self) -> None:
        """Forget the access token (Fiken refused it); the next request refreshes."""
        with self._lock:
            self._access = None

    def refresh_token(self) -> str:
        stored = self._store.get(self._key)
        return stored if stored else self._initial.get_secret_value()

    def _refresh(self) -> None:
        refresh_token = self.refresh_token()
        if not refresh_token.strip():
            raise AuthError("no refresh token configured", connector=self._name)
        response = self._post({"grant_type": "refresh_token", "refresh_token": refresh_token})
        body = _token_body(response, self._name)
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != refresh_token:
            self._store.put(self._key, rotated)  # durable before the new access token is used
            log.info("stored the rotated Fiken refresh token")
        lifetime = body.get("expires_in")
        seconds = (
            float(lifetime)
            if isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
            else _DEFAULT_LIFETIME_S
        )
        self._access = SecretStr(body["access_token"])
        self._expires_at = self._clock() + max(seconds, 0.0)

    def _post(self, form: dict[str, str]) -> requests.Response:
        """POST to the token endpoint; Fiken refusing the refresh token is an AuthError."""
        try:
            return self._client.request(
                "POST", self._client.settings.base_url, data=form, auth=self._basic
            )
        except AuthError:
            log.warning(
                "Fiken refused the refresh token; authorize the app again and store the new "
                "refresh token"
            )
            raise
        except OutcomeUnknownError:
            raise OutcomeUnknownError(
                "no answer from the Fiken token endpoint; if Fiken rotated the refresh token "
                "meanwhile, authorize the app again",
                connector=self._name,
            ) from None


def _token_body(response: requests.Response, name: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise RemoteError(
            "the Fiken token endpoint answered without an access token", connector=name
        )
    if not body["access_token"]:
        raise RemoteError("the Fiken token endpoint answered an empty access token", connector=name)
    return body
