"""OAuth2 refresh-token auth for the accounting APIs that rotate refresh tokens.

Fiken, Fortnox and Visma eAccounting hand out a new refresh token with an access token and the
old one stops working. Losing the new one locks the integration out until a person authorizes
the app again, so the rules here are strict:

- the current refresh token is the one in the credential store (one key per connector
  instance); the configured one is only the first;
- a rotated refresh token is written to the store *before* the new access token is used; if
  that write fails, the access token is dropped and the run stops with
  :class:`~claimbridge.errors.AuthError` (the store still holds what it held);
- the token request goes through :class:`~claimbridge.transport.http.HttpClient` as a plain
  POST, so it is sent again only when it never left (or a 429 said it was not processed); a
  refresh whose answer was lost may already have rotated the token and ends in
  :class:`~claimbridge.errors.OutcomeUnknownError`;
- an access token is refreshed shortly before it expires, and once when the API answers 401 —
  around the whole request (:meth:`RefreshTokenAuth.send`), not inside the session as
  :class:`~claimbridge.transport.tokens.TokenAuth` renews a client-credentials token: a refresh
  whose answer was lost must surface as itself, never as the lost answer of the API request;
- tokens never appear in log lines, error messages or ``repr``.

What differs between vendors is data, an :class:`OAuthVendor`: name, how the client
credentials are sent, the answer's field names, the default lifetime, the error-body parser.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import requests
import requests.auth
from pydantic import SecretStr

from claimbridge.connectors.base import CheckItem, CheckKind, CheckResult, ConnectorContext
from claimbridge.credentials import CredentialStore
from claimbridge.errors import (
    AuthError,
    ClaimbridgeError,
    ConfigError,
    ConfigProblem,
    OutcomeUnknownError,
    RemoteError,
    UnreachableError,
)
from claimbridge.transport.http import (
    ErrorInfo,
    ErrorParser,
    HttpClient,
    HttpOptions,
    HttpSettings,
    parse_error_body,
)
from claimbridge.transport.tokens import token_endpoint_settings

__all__ = [
    "OAuthApp",
    "OAuthVendor",
    "RefreshTokenAuth",
    "TokenClient",
    "TokenGrant",
    "check_source",
    "connect_app",
    "refresh_token_key",
    "token_endpoint_settings",
]

log = logging.getLogger("claimbridge.oauth")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OAuthVendor:
    """How one vendor's token endpoint is spoken to; everything else is shared.

    ``client_auth`` is ``"basic"`` (HTTP Basic, RFC 6749 section 2.3.1, what all three
    vendors document) or ``"form"`` (``client_id``/``client_secret`` in the body).
    """

    name: str
    error_parser: ErrorParser = parse_error_body
    client_auth: Literal["basic", "form"] = "basic"
    access_token_field: str = "access_token"  # noqa: S105 - a field name, not a secret
    refresh_token_field: str = "refresh_token"  # noqa: S105 - a field name
    expires_in_field: str = "expires_in"
    default_lifetime_s: float = 3600.0  # when the answer says nothing about expiry
    expiry_skew_s: float = 60.0  # refresh this long before the token is said to expire


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a token endpoint answered: the tokens stay :class:`SecretStr` until used."""

    access_token: SecretStr
    refresh_token: SecretStr | None
    lifetime_s: float


class OAuthApp(Protocol):
    """The settings every refresh-token connector has (read-only, as pydantic models are)."""

    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> SecretStr: ...
    @property
    def refresh_token(self) -> SecretStr: ...
    @property
    def base_url(self) -> str: ...
    @property
    def token_url(self) -> str: ...
    @property
    def http(self) -> HttpOptions: ...


def refresh_token_key(connector_type: str, instance: str) -> str:
    """The credential-store key of one connector instance's refresh token."""
    return f"{connector_type}:{instance}:refresh_token"


class TokenClient:
    """Asks one vendor's token endpoint for a new access token with a refresh token."""

    def __init__(
        self,
        settings: HttpSettings,
        vendor: OAuthVendor,
        *,
        client_id: str,
        client_secret: SecretStr,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        self.vendor = vendor
        self.name = name
        self._client_id = client_id
        self._client_secret = client_secret
        self._last_error = ErrorInfo()
        self._http = HttpClient(
            settings, error_parser=self._parse_error, sleep=sleep, clock=clock, name=name
        )

    def __repr__(self) -> str:
        return f"TokenClient(vendor={self.vendor.name!r}, client_secret='**********')"

    def refresh(self, refresh_token: str) -> TokenGrant:
        """One refresh-token grant (RFC 6749 section 6); a refusal is an :class:`AuthError`."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        auth: requests.auth.AuthBase | None = None
        secret = self._client_secret.get_secret_value()
        if self.vendor.client_auth == "basic":
            auth = requests.auth.HTTPBasicAuth(self._client_id, secret)
        else:
            form |= {"client_id": self._client_id, "client_secret": secret}
        self._last_error = ErrorInfo()
        try:
            response = self._http.request(
                "POST", self._http.settings.base_url, data=form, auth=auth
            )
        except AuthError as exc:
            raise self._refused(exc.status, exc.code) from None
        except RemoteError as exc:
            if exc.status != 400:  # 400 without an OAuth code is still the grant refused
                raise
            raise self._refused(exc.status, exc.code) from None
        except OutcomeUnknownError:
            raise OutcomeUnknownError(
                f"no answer from the {self.vendor.name} token endpoint; if {self.vendor.name} "
                "rotated the refresh token meanwhile, authorize the app again",
                connector=self.name,
            ) from None
        return self._grant(response)

    def close(self) -> None:
        self._http.close()

    def _parse_error(self, response: requests.Response) -> ErrorInfo:
        """The vendor's parser, remembering what it read for the refusal message."""
        self._last_error = self.vendor.error_parser(response)
        return self._last_error

    def _refused(self, status: int | None, code: str | None) -> AuthError:
        detail = f": {self._last_error.message}" if self._last_error.message else ""
        shown = f" (HTTP {status})" if status is not None else ""
        return AuthError(
            f"{self.vendor.name} refused the refresh token{shown}{detail}; authorize the app "
            "again and store the new refresh token",
            connector=self.name,
            code=code,
            status=status,
        )

    def _grant(self, response: requests.Response) -> TokenGrant:
        vendor = self.vendor
        try:
            body = response.json()
        except (ValueError, RecursionError):
            body = None
        access = body.get(vendor.access_token_field) if isinstance(body, dict) else None
        if not isinstance(access, str) or not access.strip():
            raise RemoteError(
                f"the {vendor.name} token endpoint answered without an access token",
                connector=self.name,
            )
        assert isinstance(body, dict)
        rotated = body.get(vendor.refresh_token_field)
        return TokenGrant(
            access_token=SecretStr(access.strip()),
            refresh_token=(
                SecretStr(rotated.strip()) if isinstance(rotated, str) and rotated.strip() else None
            ),
            lifetime_s=_seconds(body.get(vendor.expires_in_field), vendor.default_lifetime_s),
        )


def _seconds(value: Any, default: float) -> float:
    """``expires_in`` as seconds; a number or a numeric string, anything else the default."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        seconds = float(value)
    except ValueError:
        return default
    return max(seconds, 0.0) if math.isfinite(seconds) else default


@dataclass(slots=True)
class _Access:
    token: SecretStr
    expires_at: float = field(default=0.0)


class RefreshTokenAuth(requests.auth.AuthBase):
    """Bearer auth for an API client, backed by a rotating refresh token.

    Use :meth:`send` around each API request: it obtains a token first (so a refused refresh
    surfaces as itself, not from inside the session) and answers a 401 with one refresh and
    one more try. A 403 is about permissions and is never answered with a new token.
    """

    def __init__(
        self,
        token_client: TokenClient,
        *,
        initial_refresh_token: SecretStr,
        store: CredentialStore,
        store_key: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tokens = token_client
        self._vendor = token_client.vendor
        self._initial = initial_refresh_token
        self._store = store
        self._key = store_key
        self._clock = clock
        self._access: _Access | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RefreshTokenAuth(vendor={self._vendor.name!r}, access_token='**********')"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.access_token()}"
        return request

    # tokens -----------------------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid access token, refreshing first when there is none or it is about to expire."""
        with self._lock:
            access = self._access
            if access is None or self._clock() >= access.expires_at - self._vendor.expiry_skew_s:
                access = self._refresh()
            return access.token.get_secret_value()

    def invalidate(self, refused: str | None = None) -> None:
        """Forget the access token (the API refused it); the next request refreshes.

        With ``refused``, only if that is still the current token: when several requests get
        a 401 for the same token, the first refreshes and the others use its result.
        """
        with self._lock:
            if self._access is None:
                return
            if refused is None or self._access.token.get_secret_value() == refused:
                self._access = None

    def refresh_token(self) -> str:
        """The current refresh token: the stored one, else the configured first one."""
        stored = self._store.get(self._key)
        return stored if stored else self._initial.get_secret_value()

    def send(self, request: Callable[[], T]) -> T:
        """Run one API request; a 401 is answered with a refresh and exactly one more try."""
        token = self.access_token()
        try:
            return request()
        except AuthError as exc:
            if exc.status != 401:
                raise
        log.info("the %s API refused the access token; refreshing it", self._vendor.name)
        self.invalidate(token)
        self.access_token()
        return request()

    def close(self) -> None:
        self._tokens.close()

    # refresh ----------------------------------------------------------------------------------

    def _refresh(self) -> _Access:
        """Trade the refresh token for an access token; the caller holds the lock."""
        self._access = None
        current = self.refresh_token()
        if not current.strip():
            raise AuthError("no refresh token configured", connector=self._tokens.name)
        grant = self._tokens.refresh(current)
        rotated = grant.refresh_token
        if rotated is not None and rotated.get_secret_value() != current:
            self._persist(rotated)
        access = _Access(grant.access_token, self._clock() + grant.lifetime_s)
        self._access = access
        return access

    def _persist(self, rotated: SecretStr) -> None:
        """Make the rotated refresh token durable; failing that, nothing new is used."""
        try:
            self._store.put(self._key, rotated.get_secret_value())
        except Exception as exc:  # any failure: the new access token must stay unused
            raise AuthError(
                f"{self._vendor.name} rotated the refresh token but it could not be stored "
                f"({type(exc).__name__}); fix the credential store, then authorize the app again",
                connector=self._tokens.name,
            ) from None
        log.info("stored the rotated %s refresh token", self._vendor.name)


def connect_app(
    vendor: OAuthVendor,
    app: OAuthApp,
    context: ConnectorContext,
    connector_type: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[HttpSettings, RefreshTokenAuth]:
    """The API's settings and the token auth of one connector instance, from its settings.

    The refresh token is kept under :func:`refresh_token_key` of the instance's name. A bad
    ``base_url`` or ``token_url`` is a :class:`~claimbridge.errors.ConfigError`.
    """
    name = context.name or connector_type
    try:
        api = HttpSettings.from_options(app.base_url, app.http)
        token = token_endpoint_settings(app.token_url, app.http)
    except ValueError as exc:
        raise ConfigError(
            f"{connector_type}: invalid URL", [ConfigProblem("base_url/token_url", str(exc))]
        ) from None
    client = TokenClient(
        token,
        vendor,
        client_id=app.client_id,
        client_secret=app.client_secret,
        sleep=sleep,
        clock=clock,
        name=name,
    )
    auth = RefreshTokenAuth(
        client,
        initial_refresh_token=app.refresh_token,
        store=context.credentials,
        store_key=refresh_token_key(connector_type, name),
        clock=clock,
    )
    return api, auth


def check_source(
    name: str,
    config: CheckItem,
    tokens: RefreshTokenAuth,
    probe: Callable[[], object],
    *,
    reachable: str,
    not_found: str,
) -> CheckResult:
    """``check()`` of a source reached with a refresh token: config, auth, reachability.

    ``config`` is the connector's own config item; ``probe`` is one cheap API request (made
    through :meth:`RefreshTokenAuth.send`, as every API request of the connector is). A token
    endpoint that cannot be reached is a reachability failure, a refused refresh token an auth
    failure; on the probe, a 403 is a permission failure and a 404 means the configured company
    or API root is wrong (``not_found`` replaces the config item).
    """
    items = [config]
    try:
        tokens.access_token()
    except UnreachableError as exc:
        return CheckResult(name, (config, CheckItem(CheckKind.REACHABILITY, False, str(exc))))
    except ClaimbridgeError as exc:
        return CheckResult(name, (config, CheckItem(CheckKind.AUTH, False, str(exc))))
    items.append(CheckItem(CheckKind.AUTH, True, "access token obtained"))
    try:
        probe()
    except AuthError as exc:
        items.append(CheckItem(CheckKind.PERMISSION, False, str(exc)))
    except RemoteError as exc:
        if exc.status == 404:
            items[0] = CheckItem(CheckKind.CONFIG, False, not_found)
        else:
            items.append(CheckItem(CheckKind.REACHABILITY, False, str(exc)))
    except ClaimbridgeError as exc:  # unreachable, rate limited, an unreadable answer
        items.append(CheckItem(CheckKind.REACHABILITY, False, str(exc)))
    else:
        items.append(CheckItem(CheckKind.REACHABILITY, True, reachable))
    return CheckResult(name, tuple(items))
