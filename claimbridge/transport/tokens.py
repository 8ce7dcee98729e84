"""Access tokens that expire: asked for, cached with their expiry, renewed once on a 401.

Amili (Norway and Sweden), Riverty and PowerOffice Go hand out access tokens that live from
minutes to a day for credentials that do not change (client credentials, an API code). The
vendors differ in how a token is asked for (a form with the client id and secret, HTTP Basic,
a signed JWT), what the answer calls it and how long it lives; the rest is the same and is here:

- a token is kept in the connector's credential store with its expiry, so a scheduled run that
  starts within its life asks for none (the vendors meter token requests and ask for this), and
  it is renewed a margin before it ends; a damaged cache entry only costs one token request;
- asking for a token changes nothing at the vendor, so the request is sent as idempotent
  (timeouts and 5xx are retried), and an answer that never came is an
  :class:`~claimbridge.errors.UnreachableError`: there is nothing to look up, the token is
  simply asked for again;
- a 401 from the API (a token revoked early) renews the token and sends the request once more,
  inside the auth hook — the way ``requests``' digest auth answers a challenge — so the core
  client's rate limit, timeouts and error mapping apply to both attempts;
- tokens never appear in log lines, error messages or ``repr``.

Refresh tokens that rotate (Fiken, Fortnox, Visma) follow stricter rules: :mod:`.oauth`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import requests
import requests.auth
from pydantic import SecretStr

from claimbridge.credentials import CredentialStore
from claimbridge.errors import AuthError, OutcomeUnknownError, UnreachableError
from claimbridge.transport.http import ErrorParser, HttpClient, HttpOptions, HttpSettings

__all__ = [
    "ExpiringTokens",
    "TokenAnswer",
    "TokenAuth",
    "TokenClients",
    "TokenRequest",
    "client_credentials",
    "token_endpoint_settings",
]

log = logging.getLogger("claimbridge.tokens")

TokenRequest = Callable[[HttpClient], requests.Response]
"""One request for a new token, through the token endpoint's client: how a vendor asks."""

_RENEWED = "_claimbridge_token_renewed"  # marks the one resend after a 401


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """Where a token endpoint's answer holds the token, and how long the token lives.

    ``lifetime_field`` None: the answer says nothing about it and ``default_lifetime_s`` is the
    lifetime. ``bearer_only`` refuses a ``token_type`` other than Bearer (a token the API would
    not take in an ``Authorization: Bearer`` header).
    """

    token_field: str = "access_token"  # noqa: S105 - a field name, not a secret
    lifetime_field: str | None = "expires_in"
    default_lifetime_s: float = 3600.0
    bearer_only: bool = False

    def read(self, response: requests.Response, connector: str) -> tuple[str, float]:
        """The token and its lifetime in seconds; an answer without a token is an AuthError."""
        try:
            data: Any = response.json()
        except (ValueError, RecursionError):
            data = None
        token = data.get(self.token_field) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise AuthError(self._missing(), connector=connector)
        kind = data.get("token_type")
        if self.bearer_only and isinstance(kind, str) and kind.strip().lower() != "bearer":
            message = f"the token endpoint issued a {kind[:20]!r} token, not Bearer"
            raise AuthError(message, connector=connector)
        lifetime = data.get(self.lifetime_field) if self.lifetime_field else None
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
            return token.strip(), float(lifetime)
        return token.strip(), self.default_lifetime_s

    def _missing(self) -> str:
        if self.token_field == "access_token":  # noqa: S105 - a field name
            return "the token endpoint answered without an access token"
        # a field of another name is always configuration: say which setting names it
        return f"the token endpoint answered without a '{self.token_field}' token (see token_field)"


_OAUTH_ANSWER = TokenAnswer()


def client_credentials(
    client_id: str, client_secret: SecretStr, **extra: str | None
) -> TokenRequest:
    """The OAuth2 client-credentials grant with the credentials in the form body (RFC 6749
    section 2.3.1's alternative; what Amili's Identiverse and Auth0 take), POSTed to the token
    endpoint's root. ``extra`` fields (``scope``, ``audience``) are sent when they are set."""

    def ask(client: HttpClient) -> requests.Response:
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret.get_secret_value(),
        }
        form |= {field: value for field, value in extra.items() if value}
        return client.request("POST", client.settings.base_url, data=form, idempotent=True)

    return ask


class ExpiringTokens:
    """Access tokens for one set of credentials, cached in ``store`` under ``key`` as JSON.

    ``request`` asks the vendor for a token through ``client``; ``answer`` reads it. A cached
    token is used until ``margin_s`` before it ends. ``bound_to`` is stored with the token and
    must match when it is read back (Riverty's audience: a config moved to another environment
    must not use the old one's token). ``what`` names the token in the log lines, which go to
    ``logger`` (the connector's).
    """

    def __init__(
        self,
        client: HttpClient,
        request: TokenRequest,
        *,
        store: CredentialStore,
        key: str,
        answer: TokenAnswer = _OAUTH_ANSWER,
        margin_s: float = 60.0,
        bound_to: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        name: str = "",
        what: str = "an access token",
        logger: logging.Logger = log,
    ) -> None:
        self._client = client
        self._request = request
        self._store = store
        self._key = key
        self._answer = answer
        self._margin_s = margin_s
        self._bound_to = dict(bound_to or {})
        self._clock = clock
        self._name = name
        self._what = what
        self.log = logger
        self._lock = threading.Lock()
        self.requests = 0  # token requests made, for tests and benchmarks

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
            bound = {field: str(data.get(field, "")) for field in self._bound_to}
        except (ValueError, KeyError, TypeError, RecursionError):
            return None  # a damaged cache entry only costs one token request
        fresh = self._clock() < expires_at - self._margin_s  # False for a NaN too
        return token if token and fresh and bound == self._bound_to else None

    def _request_token(self) -> str:
        self.requests += 1
        try:
            response = self._request(self._client)
        except OutcomeUnknownError:  # nothing to look up: a lost token is simply asked again
            raise UnreachableError(
                "the token request got no answer", connector=self._name
            ) from None
        token, lifetime = self._answer.read(response, self._name)
        entry = {"access_token": token, "expires_at": self._clock() + lifetime, **self._bound_to}
        self._store.put(self._key, json.dumps(entry))
        self.log.info("obtained %s valid for %d s", self._what, int(lifetime))
        return token


class TokenAuth(requests.auth.AuthBase):
    """The access token on every API call; one renewal and resend on a 401.

    ``header`` and ``scheme`` say how the API takes the token: ``Authorization: Bearer <token>``
    by default, ``scheme=None`` for the bare token (Amili Sweden's ``X-API-Key``). ``headers``
    are further secrets every call carries (PowerOffice's subscription key).
    """

    def __init__(
        self,
        tokens: ExpiringTokens,
        *,
        header: str = "Authorization",
        scheme: str | None = "Bearer",
        headers: Mapping[str, SecretStr] | None = None,
    ) -> None:
        self._tokens = tokens
        self._header = header
        self._scheme = scheme
        self._headers = dict(headers or {})

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self._sign(request, self._tokens.token())
        for name, value in self._headers.items():
            request.headers[name] = value.get_secret_value()
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _sign(self, request: requests.PreparedRequest, token: str) -> None:
        request.headers[self._header] = f"{self._scheme} {token}" if self._scheme else token

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or getattr(response.request, _RENEWED, False):
            return response
        self._tokens.log.info("access token refused (HTTP 401); renewing it and sending once more")
        token = self._tokens.token(renew=True)
        retry = response.request.copy()
        self._sign(retry, token)
        setattr(retry, _RENEWED, True)
        response.content  # noqa: B018 - drain the body so the connection can be reused
        response.close()
        sent = response.connection.send(retry, **kwargs)
        sent.history.append(response)
        sent.request = retry
        return sent

    def __repr__(self) -> str:
        return f"TokenAuth(header={self._header!r}, token='**********')"


T = TypeVar("T", bound=ExpiringTokens)


def token_endpoint_settings(token_url: str, options: HttpOptions) -> HttpSettings:
    """The token endpoint's settings: the API's tuning without its client-side rate limit
    (the endpoint is metered apart from the API, and tokens are cached and asked for rarely).

    Raises ``ValueError`` for a bad URL, like :meth:`HttpSettings.from_options`.
    """
    return HttpSettings.from_options(
        token_url, options.model_copy(update={"rate_limit_per_s": None})
    )


@dataclass(frozen=True, slots=True)
class TokenClients(Generic[T]):
    """An API's client, whose calls carry the tokens, and the token endpoint's own client."""

    api: HttpClient
    token_endpoint: HttpClient
    tokens: T

    @classmethod
    def connect(
        cls,
        api: HttpSettings,
        token_endpoint: HttpSettings,
        tokens: Callable[[HttpClient], T],
        *,
        auth: Callable[[T], requests.auth.AuthBase] = TokenAuth,
        error_parser: ErrorParser | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> TokenClients[T]:
        """Both clients, with the connector's error parser and timing; ``tokens`` makes the
        token source on the token endpoint's client, ``auth`` the API's auth from it."""

        def client(settings: HttpSettings, signed: requests.auth.AuthBase | None) -> HttpClient:
            return HttpClient(
                settings,
                auth=signed,
                error_parser=error_parser,
                sleep=sleep,
                clock=clock,
                name=name,
            )

        endpoint = client(token_endpoint, None)
        source = tokens(endpoint)
        return cls(client(api, auth(source)), endpoint, source)

    def close(self) -> None:
        self.api.close()
        self.token_endpoint.close()
