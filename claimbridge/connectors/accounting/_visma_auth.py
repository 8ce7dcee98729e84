"""Visma eAccounting's OAuth2 refresh-token flow and its error bodies.

Visma's identity server hands out a new refresh token with every access token and the old one
cannot be used again, so a rotated token is written to the credential store *before* the new
access token is used: a crash after the refresh must never leave only the spent token on disk.
The first refresh token comes from the config; afterwards the stored one wins.

The token endpoint (``identity.vismaonline.com``) wants a form-encoded body with HTTP Basic
client credentials, which :class:`~claimbridge.transport.http.HttpClient` cannot send yet (it
posts JSON only). It is called through that client's session — the one seam tests intercept —
without the retry policy: a refresh whose answer was lost may already have spent the token, so
it is never repeated blindly.
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
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from claimbridge.credentials import CredentialStore
from claimbridge.errors import AuthError, OutcomeUnknownError, RemoteError, UnreachableError
from claimbridge.transport.http import ErrorInfo, HttpClient, parse_error_body

__all__ = ["VismaTokens", "visma_error_info"]

log = logging.getLogger("claimbridge.visma")

EXPIRY_MARGIN_S = 60.0  # refresh this long before the token is said to expire
DEFAULT_LIFETIME_S = 3600.0  # Visma's access tokens live an hour
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


class VismaTokens(requests.auth.AuthBase):
    """Bearer auth for the API clients that also remembers whether Visma answered 401.

    ``rejected`` tells the connector that the access token itself was refused (expired or
    revoked early), as opposed to a 403 for a scope the app was not granted.
    """

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
        self.rejected = False

    def __repr__(self) -> str:
        return "VismaTokens(access_token='**********')"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        request.register_hook("response", self._note_status)  # type: ignore[no-untyped-call]
        return request

    def _note_status(self, response: requests.Response, *_: Any, **__: Any) -> requests.Response:
        self.rejected = response.status_code == 401
        return response

    def access_token(self) -> str:
        """A valid access token, refreshing first when it is missing or about to expire."""
        with self._lock:
            if self._access is None or self._clock() >= self._expires_at - EXPIRY_MARGIN_S:
                self._refresh()
            assert self._access is not None
            return self._access.get_secret_value()

    def invalidate(self) -> None:
        """Forget the access token (Visma refused it); the next request refreshes."""
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
            log.info("stored the rotated Visma refresh token")
        lifetime = body.get("expires_in")
        seconds = (
            float(lifetime)
            if isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
            else DEFAULT_LIFETIME_S
        )
        self._access = SecretStr(body["access_token"])
        self._expires_at = self._clock() + max(seconds, 0.0)
        self.rejected = False

    def _post(self, form: dict[str, str]) -> requests.Response:
        settings = self._client.settings
        try:
            response = self._client.session.post(
                settings.base_url,
                data=form,
                auth=self._basic,
                timeout=(settings.timeout_connect, settings.timeout_read),
            )
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                raise UnreachableError(
                    f"could not connect to the Visma token endpoint ({type(exc).__name__})",
                    connector=self._name,
                ) from None
            raise OutcomeUnknownError(
                "no answer from the Visma token endpoint; if Visma spent the refresh token "
                "meanwhile, authorize the app again",
                connector=self._name,
            ) from None
        except requests.RequestException as exc:
            raise UnreachableError(
                f"the Visma token endpoint failed ({type(exc).__name__})", connector=self._name
            ) from None
        log.info("POST /connect/token %d", response.status_code)
        if response.status_code < 400:
            return response
        info = visma_error_info(response)
        detail = f": {info.message}" if info.message else ""
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"Visma refused the refresh token (HTTP {response.status_code}){detail}; "
                "authorize the app again and store the new refresh token",
                connector=self._name,
                code=info.code,
            )
        raise RemoteError(
            f"Visma token endpoint: HTTP {response.status_code}{detail}",
            connector=self._name,
            code=info.code,
            status=response.status_code,
            retryable=response.status_code >= 500,
        )


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection never opened, so Visma cannot have spent the token."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _token_body(response: requests.Response, name: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise RemoteError(
            "the Visma token endpoint answered without an access token", connector=name
        )
    assert isinstance(body, dict)
    return body
