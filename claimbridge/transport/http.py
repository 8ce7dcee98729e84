"""The one HTTP client every connector uses: timeouts, TLS, rate limit, retries, error mapping.

Connectors never build their own ``requests.Session``: they get an :class:`HttpClient`, whose
session is also the single seam tests intercept with ``responses``.

Retries are only made where they cannot cause a second effect at the remote:

- the connection failed before the request was sent (refused, DNS, connect timeout);
- 429 Too Many Requests, waiting ``Retry-After`` (seconds or an HTTP date) up to a cap;
- 502/503/504, read timeouts and connections dropped after sending, but only for idempotent
  methods, or a call that says ``idempotent=True`` (a POST whose idempotency key the remote
  honours).

A request that was sent but got no answer, and may not be repeated, ends in
:class:`~claimbridge.errors.OutcomeUnknownError`: the caller must ask the remote what happened
instead of sending again. :func:`failed_before_sending` tells the two cases apart for callers
that handle transport errors of their own.

401 and 403 become :class:`~claimbridge.errors.AuthError` with the status kept on it; so does
a 400 whose OAuth2 error code says the client or grant was refused (RFC 6749 section 5.2:
``invalid_client``, ``invalid_grant``, ``unauthorized_client``), which is how token endpoints
answer a wrong secret or a dead refresh token. Bodies are JSON (``json=``) or form-encoded
(``data=``, what OAuth2 token endpoints want).

Log lines and error messages never carry headers, tokens, query strings or bodies: only
method, path, status, elapsed time and attempt.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack
from urllib.parse import urlsplit

import requests
import requests.auth
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from claimbridge import __version__
from claimbridge.errors import (
    AuthError,
    ConnectorError,
    OutcomeUnknownError,
    RateLimitedError,
    RemoteError,
    UnreachableError,
)
from claimbridge.transport.ratelimit import TokenBucket

__all__ = [
    "IDEMPOTENT_METHODS",
    "BearerAuth",
    "ErrorInfo",
    "ErrorParser",
    "HttpClient",
    "HttpOptions",
    "HttpSettings",
    "RequestOptions",
    "check_base_url",
    "failed_before_sending",
    "parse_error_body",
    "parse_retry_after",
]

log = logging.getLogger("claimbridge.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # no effect at the remote
_RETRY_STATUSES = frozenset({502, 503, 504})
_OAUTH_REFUSALS = frozenset({"invalid_client", "invalid_grant", "unauthorized_client"})
_MAX_MESSAGE = 300


# --- settings -----------------------------------------------------------------------------


def check_base_url(value: str) -> str:
    """Validate a service root URL; returns it without a trailing slash.

    Plain ``http`` is allowed only to loopback (the sandbox): anywhere else a bearer token
    would cross the network in clear text. Credentials, queries and fragments do not belong
    in a base URL (they would end up in logs and proxies).
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"}:
        raise ValueError("URL must start with https:// (or http:// for a loopback address)")
    if not parts.hostname:
        raise ValueError("URL has no host name")
    if parts.username or parts.password:
        raise ValueError("URL must not contain credentials; use the connector's secret settings")
    if parts.query or parts.fragment:
        raise ValueError("URL must not contain a query string or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError("URL has an invalid port") from None
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("plain http:// is only allowed for loopback addresses; use https://")
    return value.strip().rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpOptions(BaseModel):
    """Tuning of an HTTP connection, without the URL: embed it in a connector's Settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_connect: float = Field(default=10, gt=0, description="seconds to open a connection")
    timeout_read: float = Field(default=60, gt=0, description="seconds to wait for an answer")
    verify: bool | Path = Field(
        default=True, description="TLS verification; a path to a CA bundle, never false"
    )
    client_cert: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    client_key: Path | None = Field(default=None, description="its private key, if separate")
    max_retries: int = Field(default=5, ge=0, le=20)
    retry_after_cap: float = Field(default=120, ge=0, description="longest Retry-After honoured")
    rate_limit_per_s: float | None = Field(default=None, gt=0, description="client-side limit")
    backoff_initial: float = Field(default=0.5, ge=0, description="first backoff, seconds")
    backoff_max: float = Field(default=30, ge=0, description="longest backoff, seconds")
    user_agent: str = Field(default=f"claimbridge/{__version__}", min_length=1)

    @field_validator("verify")
    @classmethod
    def _verification_stays_on(cls, value: bool | Path) -> bool | Path:
        if value is False:
            raise ValueError(
                "TLS verification cannot be turned off; give the path of a CA bundle instead"
            )
        if isinstance(value, Path) and not value.exists():
            raise ValueError(f"CA bundle {value} does not exist")
        return value

    @field_validator("client_cert", "client_key")
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    @model_validator(mode="after")
    def _key_needs_cert(self) -> Self:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key is set without client_cert")
        return self


class HttpSettings(HttpOptions):
    """Everything an :class:`HttpClient` needs: the service root plus its tuning."""

    base_url: str

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        return check_base_url(value)

    @classmethod
    def from_options(cls, base_url: str, options: HttpOptions) -> HttpSettings:
        return cls(base_url=base_url, **options.model_dump())


# --- auth and error bodies ----------------------------------------------------------------


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``; the token never shows in ``repr`` or logs."""

    def __init__(self, token: SecretStr | str) -> None:
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(token='**********')"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What an error body said: the remote's own code and message, when it gave them."""

    code: str | None = None
    message: str | None = None


ErrorParser = Callable[[requests.Response], ErrorInfo]


def parse_error_body(response: requests.Response) -> ErrorInfo:
    """Read the common JSON error shapes; vendors with their own pass an ``error_parser``.

    Understood: ``{"error": {"code", "message"}}``, ``{"error": "...", "message": "..."}``,
    ``{"code", "message"}`` and ``{"detail": "..."}``. Anything else gives an empty result.
    """
    try:
        data = response.json()
    except ValueError:
        return ErrorInfo()
    if not isinstance(data, dict):
        return ErrorInfo()
    error = data.get("error")
    if isinstance(error, dict):
        return ErrorInfo(_text(error.get("code")), _text(error.get("message")))
    message = data.get("message", data.get("detail"))
    code = error if isinstance(error, str) else data.get("code")
    return ErrorInfo(_text(code), _text(message))


def _text(value: object) -> str | None:
    if isinstance(value, int | str) and str(value).strip():
        return str(value).strip()[:_MAX_MESSAGE]
    return None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --- the client ---------------------------------------------------------------------------


class _Retry(Exception):  # a signal to tenacity; never leaves this module
    """Wraps the error an attempt ended in when trying again is safe."""

    def __init__(self, error: ConnectorError, delay: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay = delay


class RequestOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`HttpClient.request`, for the verb helpers."""

    json: Any
    data: Mapping[str, str] | None
    params: Mapping[str, str | int] | None
    headers: Mapping[str, str] | None
    auth: requests.auth.AuthBase | None
    idempotent: bool | None


@dataclass(slots=True)
class _Call:
    method: str
    url: str
    path: str
    host: str
    retry_safe: bool
    attempt: int = 0

    @property
    def where(self) -> str:
        return f"{self.method} {self.path}"


class HttpClient:
    """A configured session: every request has a timeout, TLS checks, rate limit and retries.

    ``sleep`` and ``clock`` are injectable so tests neither sleep nor depend on wall time.
    ``name`` (the connector's) prefixes error messages.
    """

    def __init__(
        self,
        settings: HttpSettings,
        *,
        auth: requests.auth.AuthBase | None = None,
        error_parser: ErrorParser | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        self.settings = settings
        self.name = name
        self._error_parser = error_parser or parse_error_body
        self._sleep = sleep
        self._timeout = (settings.timeout_connect, settings.timeout_read)
        self._bucket = (
            TokenBucket(settings.rate_limit_per_s, clock=clock, sleep=sleep)
            if settings.rate_limit_per_s
            else None
        )
        self._backoff = wait_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max
        ) + wait_random(0, settings.backoff_initial)
        self._origin = urlsplit(settings.base_url)
        # verify is passed on every request too: a session-level value loses to the
        # REQUESTS_CA_BUNDLE environment variable, and the configured bundle must win.
        self._verify: bool | str = (
            str(settings.verify) if isinstance(settings.verify, Path) else True
        )
        session = requests.Session()
        session.headers["User-Agent"] = settings.user_agent
        session.headers["Accept"] = "application/json"
        session.verify = self._verify
        if settings.client_cert is not None:
            session.cert = (
                (str(settings.client_cert), str(settings.client_key))
                if settings.client_key is not None
                else str(settings.client_cert)
            )
        session.auth = auth
        self.session = session

    # public API --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: requests.auth.AuthBase | None = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send one request with the retry policy; a 2xx/3xx response or a claimbridge error.

        The body is ``json`` or ``data`` (form-encoded), never both. ``auth`` replaces the
        client's own auth for this request (a token endpoint's client credentials).
        ``idempotent`` overrides the method's own idempotency: pass True for a POST whose
        idempotency key the remote honours, so read timeouts and 5xx can be retried.
        """
        if json is not None and data is not None:
            raise TypeError("pass json or data, not both")
        method = method.upper()
        url = self._url(path)
        parts = urlsplit(url)
        call = _Call(
            method=method,
            url=url,
            path=parts.path or "/",
            host=parts.hostname or "",
            retry_safe=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
        )
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(
                self._attempt,
                call,
                json=json,
                data=data,
                params=params,
                headers=dict(headers or {}),
                auth=auth,
            )
        except _Retry as exc:
            raise exc.error from None

    def get(self, path: str, **kwargs: Unpack[RequestOptions]) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Unpack[RequestOptions]) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Unpack[RequestOptions]) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Unpack[RequestOptions]) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # one attempt -------------------------------------------------------------------------

    def _attempt(
        self,
        call: _Call,
        *,
        json: Any,
        data: Mapping[str, str] | None,
        params: Mapping[str, str | int] | None,
        headers: dict[str, str],
        auth: requests.auth.AuthBase | None,
    ) -> requests.Response:
        call.attempt += 1
        if self._bucket is not None:
            self._bucket.acquire()
        started = time.perf_counter()
        try:
            response = self.session.request(
                call.method,
                call.url,
                json=json,
                data=data,
                params=params,
                headers=headers,
                auth=auth,
                timeout=self._timeout,
                verify=self._verify,
            )
        except requests.RequestException as exc:
            log.warning(
                "%s %s failed: %s after %d ms (attempt %d)",
                call.method,
                call.path,
                type(exc).__name__,
                _ms_since(started),
                call.attempt,
            )
            raise self._transport_failure(call, exc) from None
        log.info(
            "%s %s %d %d ms (attempt %d)",
            call.method,
            call.path,
            response.status_code,
            _ms_since(started),
            call.attempt,
        )
        if response.status_code < 400:
            return response
        raise self._status_failure(call, response)

    def _transport_failure(self, call: _Call, exc: requests.RequestException) -> Exception:
        kind = type(exc).__name__
        if isinstance(exc, requests.exceptions.SSLError):
            return UnreachableError(
                f"TLS handshake with {call.host} failed; check its certificate and the CA bundle",
                connector=self.name,
            )
        if failed_before_sending(exc):
            return _Retry(
                UnreachableError(f"could not connect to {call.host} ({kind})", connector=self.name)
            )
        if isinstance(exc, ValueError):  # InvalidURL, InvalidHeader, …: nothing was sent
            return ConnectorError(f"{call.where}: invalid request ({kind})", connector=self.name)
        error: UnreachableError
        if call.method in _SAFE_METHODS:
            error = UnreachableError(f"{call.where}: no answer ({kind})", connector=self.name)
        else:
            error = OutcomeUnknownError(
                f"{call.where}: no answer after the request was sent ({kind}); the outcome is "
                "unknown, look it up before sending again",
                connector=self.name,
            )
        return _Retry(error) if call.retry_safe else error

    def _status_failure(self, call: _Call, response: requests.Response) -> Exception:
        status = response.status_code
        info = self._error_parser(response)
        detail = f": {info.message}" if info.message else ""
        if status in (401, 403) or (status == 400 and info.code in _OAUTH_REFUSALS):
            return AuthError(
                f"{call.where} was refused (HTTP {status}); check the credentials{detail}",
                connector=self.name,
                code=info.code,
                status=status,
            )
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            return _Retry(
                RateLimitedError(
                    f"{call.where}: rate limited (HTTP 429){detail}",
                    connector=self.name,
                    code=info.code,
                    retry_after=retry_after,
                ),
                delay=retry_after,
            )
        if not detail:  # the standard phrase: a remote's own reason text may echo input
            detail = f" {_phrase(status)}"
        error = RemoteError(
            f"{call.where}: HTTP {status}{detail}",
            connector=self.name,
            code=info.code,
            status=status,
            retryable=status >= 500,
        )
        if status in _RETRY_STATUSES and call.retry_safe:
            return _Retry(error, delay=retry_after)
        return error

    # retry plumbing ----------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Retry) and exc.delay is not None:
            return min(exc.delay, self.settings.retry_after_cap)
        return float(self._backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        reason = type(exc.error).__name__ if isinstance(exc, _Retry) else "error"
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.info("retrying after %s in %.1f s (attempt %d)", reason, delay, state.attempt_number)

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            target = urlsplit(path)
            if (target.scheme, target.netloc) != (self._origin.scheme, self._origin.netloc):
                raise ConnectorError(
                    "refusing to follow a URL on another host than the configured one",
                    connector=self.name,
                )
            return path
        return f"{self.settings.base_url}/{path.lstrip('/')}"


def failed_before_sending(exc: BaseException) -> bool:
    """True when the connection never opened, so the remote cannot have seen the request.

    A refused connection, a failed name lookup or a connect timeout qualify; a read timeout or
    a connection dropped after the request went out do not (the remote may have acted on it).
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
