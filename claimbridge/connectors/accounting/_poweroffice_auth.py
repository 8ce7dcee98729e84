"""PowerOffice Go's client-credentials token, cached with its expiry, renewed before it ends.

Go v2 hands out short-lived access tokens (about 20 minutes) for the application key (OAuth
client id) and the client key (client secret) of one Go client; every call, the token request
included, also carries the product subscription key in ``Ocp-Apim-Subscription-Key``. The token
is cached in the connector's credential store with its expiry, so a scheduled run that starts
within a token's life does not ask for a new one, and is renewed a minute before it ends.

A 401 from the API (a token revoked or expired early) renews the token and sends the request
once more, inside the auth hook — the way ``requests``' digest auth answers a challenge — so
the core client's rate limit, timeouts and error mapping still apply to both attempts.

The token endpoint wants a form-encoded body with HTTP Basic client credentials; it is called
through its own :class:`~claimbridge.transport.http.HttpClient`. A client-credentials grant
changes nothing at Go (it only issues a token), so the request is sent as idempotent: timeouts
and 5xx answers are retried like a GET.
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

__all__ = ["SUBSCRIPTION_HEADER", "PowerOfficeAuth", "TokenSource", "poweroffice_error_info"]

log = logging.getLogger("claimbridge.poweroffice")

SUBSCRIPTION_HEADER = "Ocp-Apim-Subscription-Key"
EXPIRY_MARGIN_S = 60.0
_DEFAULT_LIFETIME_S = 1200.0  # Go v2 documents 20 minutes
_MAX_TEXT = 300


def poweroffice_error_info(response: requests.Response) -> ErrorInfo:
    """Go answers errors with RFC 7807 ``ProblemDetails`` (``Title``, ``Detail``, ``Type``);
    the token endpoint with OAuth's ``{"error", "error_description"}``."""
    try:
        data = response.json()
    except ValueError:
        return ErrorInfo()
    if not isinstance(data, dict):
        return ErrorInfo()
    folded = {str(k).lower(): v for k, v in data.items()}
    title, detail = folded.get("title"), folded.get("detail")
    if isinstance(title, str) or isinstance(detail, str):
        message = ": ".join(t.strip() for t in (title, detail) if isinstance(t, str) and t.strip())
        code = folded.get("type") if isinstance(folded.get("type"), str) else title
        return ErrorInfo(_clip(code), _clip(message))
    error = folded.get("error")
    if isinstance(error, str):
        return ErrorInfo(_clip(error), _clip(folded.get("error_description")))
    return parse_error_body(response)


def _clip(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:_MAX_TEXT]
    return None


class TokenSource:
    """Access tokens for one Go client; cached in ``store`` under ``key`` as JSON."""

    def __init__(
        self,
        client: HttpClient,
        *,
        application_key: SecretStr,
        client_key: SecretStr,
        subscription_key: SecretStr,
        store: CredentialStore,
        key: str,
        clock: Callable[[], float] = time.time,
        name: str = "poweroffice",
    ) -> None:
        self._client = client
        self._application_key = application_key
        self._client_key = client_key
        self._subscription_key = subscription_key
        self._store = store
        self._key = key
        self._clock = clock
        self._name = name
        self._lock = threading.Lock()
        self.requests = 0  # token requests made, for tests and benchmarks

    @property
    def subscription_key(self) -> str:
        return self._subscription_key.get_secret_value()

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
        credentials = requests.auth.HTTPBasicAuth(
            self._application_key.get_secret_value(), self._client_key.get_secret_value()
        )
        try:
            response = self._client.request(
                "POST",
                self._client.settings.base_url,
                data={"grant_type": "client_credentials"},
                auth=credentials,
                headers={SUBSCRIPTION_HEADER: self.subscription_key},
                idempotent=True,
            )
        except OutcomeUnknownError:  # nothing to look up: a lost token is simply asked again
            raise UnreachableError(
                "the token request got no answer", connector=self._name
            ) from None
        token, lifetime = _token_from(response, self._name)
        self._store.put(
            self._key,
            json.dumps({"access_token": token, "expires_at": self._clock() + lifetime}),
        )
        log.info("obtained a PowerOffice Go access token valid for %d s", int(lifetime))
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


class PowerOfficeAuth(requests.auth.AuthBase):
    """Bearer token plus subscription key on every API call; one renewal and resend on 401."""

    def __init__(self, tokens: TokenSource) -> None:
        self._tokens = tokens

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._tokens.token()}"
        request.headers[SUBSCRIPTION_HEADER] = self._tokens.subscription_key
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or getattr(response.request, "_po_renewed", False):
            return response
        log.info("access token refused (HTTP 401); renewing it and sending once more")
        token = self._tokens.token(renew=True)
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {token}"
        retry._po_renewed = True  # type: ignore[attr-defined]
        response.content  # noqa: B018 - drain the body so the connection can be reused
        response.close()
        sent = response.connection.send(retry, **kwargs)
        sent.history.append(response)
        sent.request = retry
        return sent

    def __repr__(self) -> str:
        return "PowerOfficeAuth(token='**********')"
