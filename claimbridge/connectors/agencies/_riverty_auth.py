"""Riverty's access tokens (OAuth 2.0 client credentials at Auth0) and its error bodies.

Riverty's collection API takes a bearer token from its Auth0 tenant: a form-encoded POST of
``grant_type=client_credentials``, ``client_id``, ``client_secret`` and ``audience`` to
``https://<tenant>/oauth/token`` answers ``access_token``, ``expires_in`` (86,400 s in the
documented example) and ``token_type: Bearer``. The token is cached with its expiry in the
connector's credential store — Auth0 meters machine-to-machine tokens, and a daily run should
not ask for a new one each time — and renewed a few minutes before it ends. A 401 from the API
(a token revoked early) renews it and sends the request once more, inside the auth hook, so
the core client's rate limit, timeouts and error mapping still apply to both attempts.

A client-credentials grant changes nothing at the remote (it only issues a token), so the
token request is sent as idempotent: timeouts and 5xx answers are retried like a GET.
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
from claimbridge.transport.http import ErrorInfo, HttpClient, parse_error_body

__all__ = ["RivertyAuth", "TokenSource", "riverty_error_info"]

log = logging.getLogger("claimbridge.riverty")

EXPIRY_MARGIN_S = 300.0
_DEFAULT_LIFETIME_S = 3600.0  # used only when an answer names no lifetime
_MAX_TEXT = 300
_MAX_FIELDS = 5


def riverty_error_info(response: requests.Response) -> ErrorInfo:
    """The agency's reason from an error body.

    Riverty documents RFC 7807 problem details (``title``, ``detail``, ``errors``) for its
    APIs, its checkout API answers a list of ``{code, message, fieldReference}`` messages, and
    Auth0 answers ``{error, error_description}``. Field-level ``errors`` contribute their field
    names only: their messages may quote the value that was refused.
    """
    try:
        data: Any = response.json()
    except ValueError:
        return ErrorInfo()
    if isinstance(data, list):
        return _messages_info(data)
    if not isinstance(data, dict):
        return ErrorInfo()
    title, detail = _clip(data.get("title")), _clip(data.get("detail"))
    if title or detail:
        parts = [p for p in (title, detail) if p]
        fields = _field_names(data.get("errors"))
        if fields:
            parts.append("fields: " + ", ".join(fields))
        code = _clip(data.get("code")) or _clip(data.get("type")) or title
        return ErrorInfo(code, _clip(": ".join(parts)))
    error = data.get("error")
    if isinstance(error, str):
        return ErrorInfo(_clip(error), _clip(data.get("error_description")))
    return parse_error_body(response)


def _messages_info(items: list[Any]) -> ErrorInfo:
    messages = [item for item in items if isinstance(item, dict)]
    if not messages:
        return ErrorInfo()
    first = messages[0]
    text = _clip(first.get("message"))
    field = _clip(first.get("fieldReference"))
    if field:
        text = f"{text} ({field})" if text else field
    return ErrorInfo(_clip(first.get("code")), text)


def _field_names(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        names = [str(k) for k in errors]
    elif isinstance(errors, list):
        names = [
            str(e.get("field") or e.get("fieldReference") or e.get("name"))
            for e in errors
            if isinstance(e, dict) and (e.get("field") or e.get("fieldReference") or e.get("name"))
        ]
    else:
        return []
    return [n[:80] for n in names[:_MAX_FIELDS]]


def _clip(value: object) -> str | None:
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip():
        text = " ".join(str(value).split())
        return text[:_MAX_TEXT]
    return None


class TokenSource:
    """Access tokens for one Riverty client; cached in ``store`` under ``key`` as JSON."""

    def __init__(
        self,
        client: HttpClient,
        *,
        client_id: str,
        client_secret: SecretStr,
        audience: str,
        store: CredentialStore,
        key: str,
        clock: Callable[[], float] = time.time,
        name: str = "riverty",
    ) -> None:
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret
        self._audience = audience
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
            audience = str(data.get("audience", ""))
        except (ValueError, KeyError, TypeError):
            return None  # a damaged cache entry only costs one token request
        if audience != self._audience:  # the config moved to another environment
            return None
        if not token or self._clock() >= expires_at - EXPIRY_MARGIN_S:
            return None
        return token

    def _request_token(self) -> str:
        self.requests += 1
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "audience": self._audience,
        }
        try:
            response = self._client.request(
                "POST", self._client.settings.base_url, data=form, idempotent=True
            )
        except OutcomeUnknownError:  # a lost token answer is simply asked again
            raise UnreachableError(
                "the token request got no answer", connector=self._name
            ) from None
        token, lifetime = _token_from(response, self._name)
        self._store.put(
            self._key,
            json.dumps(
                {
                    "access_token": token,
                    "expires_at": self._clock() + lifetime,
                    "audience": self._audience,
                }
            ),
        )
        log.info("obtained a Riverty access token valid for %d s", int(lifetime))
        return token


def _token_from(response: requests.Response, name: str) -> tuple[str, float]:
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise AuthError("the token endpoint answered without an access token", connector=name)
    kind = data.get("token_type")
    if isinstance(kind, str) and kind.strip().lower() != "bearer":
        message = f"the token endpoint issued a {kind[:20]!r} token, not Bearer"
        raise AuthError(message, connector=name)
    lifetime = data.get("expires_in")
    if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
        return token.strip(), float(lifetime)
    return token.strip(), _DEFAULT_LIFETIME_S


class RivertyAuth(requests.auth.AuthBase):
    """Bearer token on every API call; one renewal and resend on a 401."""

    def __init__(self, tokens: TokenSource) -> None:
        self._tokens = tokens

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._tokens.token()}"
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or getattr(response.request, "_riverty_renewed", False):
            return response
        log.info("access token refused (HTTP 401); renewing it and sending once more")
        token = self._tokens.token(renew=True)
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {token}"
        retry._riverty_renewed = True  # type: ignore[attr-defined]
        response.content  # noqa: B018 - drain the body so the connection can be reused
        response.close()
        sent = response.connection.send(retry, **kwargs)
        sent.history.append(response)
        sent.request = retry
        return sent

    def __repr__(self) -> str:
        return "RivertyAuth(token='**********')"
