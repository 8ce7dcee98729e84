"""Fortnox's OAuth2 refresh flow and its error bodies.

Fortnox hands out a new refresh token with *every* access token and the old one stops working
at once. Losing the new one locks the integration out until a person authorizes the app again,
so the rotated token is written to the credential store (atomic, fsynced, 0600 in production)
*before* the new access token is used: if that write fails the access token is dropped and the
run stops with an :class:`~claimbridge.errors.AuthError`, and whatever the store held before is
still there. The first refresh token comes from the config; afterwards the stored one wins.

The token endpoint (``https://apps.fortnox.se/oauth-v1/token``) wants a form-encoded body and
HTTP Basic client credentials. :class:`~claimbridge.transport.http.HttpClient` only posts JSON,
so the call goes through that client's session (the one seam tests intercept) without the
retry policy: a refresh whose answer was lost may already have rotated the token, so it is never
repeated blindly.
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

__all__ = ["FortnoxTokens", "fortnox_error_info"]

log = logging.getLogger("claimbridge.fortnox")

EXPIRY_MARGIN_S = 60.0  # refresh this long before the access token runs out
DEFAULT_LIFETIME_S = 3600.0  # Fortnox's access tokens live one hour
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


class FortnoxTokens(requests.auth.AuthBase):
    """Bearer auth for the API client; remembers whether Fortnox refused the token (401).

    ``rejected`` lets the connector tell an expired or revoked access token (refresh and try
    once more) from a 403 for a resource the app's scopes do not cover (a real error).
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
        return "FortnoxTokens(access_token='**********')"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        request.register_hook("response", self._note_status)  # type: ignore[no-untyped-call]
        return request

    def _note_status(self, response: requests.Response, *_: Any, **__: Any) -> requests.Response:
        self.rejected = response.status_code == 401
        return response

    def access_token(self) -> str:
        """A valid access token, refreshing first when there is none or it is about to expire."""
        with self._lock:
            if self._access is None or self._clock() >= self._expires_at - EXPIRY_MARGIN_S:
                self._refresh()
            assert self._access is not None
            return self._access.get_secret_value()

    def invalidate(self) -> None:
        """Forget the access token (Fortnox refused it); the next request refreshes."""
        with self._lock:
            self._access = None

    def refresh_token(self) -> str:
        stored = self._store.get(self._key)
        return stored if stored else self._initial.get_secret_value()

    def _refresh(self) -> None:
        self._access = None
        refresh_token = self.refresh_token()
        if not refresh_token.strip():
            raise AuthError("no refresh token configured", connector=self._name)
        response = self._post({"grant_type": "refresh_token", "refresh_token": refresh_token})
        body = _token_body(response, self._name)
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated.strip() and rotated != refresh_token:
            try:
                self._store.put(self._key, rotated)
            except Exception as exc:  # the new access token must not be used: stop here
                raise AuthError(
                    f"Fortnox rotated the refresh token but it could not be stored "
                    f"({type(exc).__name__}); authorize the app again",
                    connector=self._name,
                ) from None
            log.info("stored the rotated Fortnox refresh token")
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
                    f"could not connect to the Fortnox token endpoint ({type(exc).__name__})",
                    connector=self._name,
                ) from None
            raise OutcomeUnknownError(
                "no answer from the Fortnox token endpoint; if Fortnox rotated the refresh "
                "token meanwhile, authorize the app again",
                connector=self._name,
            ) from None
        except requests.RequestException as exc:
            raise UnreachableError(
                f"the Fortnox token endpoint failed ({type(exc).__name__})", connector=self._name
            ) from None
        log.info("POST /oauth-v1/token %d", response.status_code)
        if response.status_code < 400:
            return response
        info = fortnox_error_info(response)
        detail = f": {info.message}" if info.message else ""
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"Fortnox refused the refresh token (HTTP {response.status_code}){detail}; "
                "authorize the app again and store the new refresh token",
                connector=self._name,
                code=info.code,
            )
        raise RemoteError(
            f"Fortnox token endpoint: HTTP {response.status_code}{detail}",
            connector=self._name,
            code=info.code,
            status=response.status_code,
            retryable=response.status_code >= 500,
        )


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection never opened, so Fortnox cannot have rotated anything."""
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
    if not isinstance(body, dict) or not isinstance(token, str) or not token.strip():
        raise RemoteError(
            "the Fortnox token endpoint answered without an access token", connector=name
        )
    return body
