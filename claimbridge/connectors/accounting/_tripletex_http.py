"""Tripletex's transport details: session tokens, its error body, and its rate-limit headers.

Tripletex authenticates with a *session token* made from two long-lived secrets (the consumer
token of the integration and the employee token of the company) by ``PUT
/token/session/:create``; every other call sends it as the password of HTTP Basic auth, with
the company id (``0`` for the token's own company) as the user name. A session token is valid
until its ``expirationDate``, so it is kept in the credential store and reused by later runs
the same day instead of minting a new one each time.

Tripletex reports its budget in ``X-Rate-Limit-Limit``/``-Remaining``/``-Reset`` (seconds left
in the period) and answers 429 until the period ends, without ``Retry-After``. A response hook
keeps the latest budget so the connector can wait before it runs dry, and gives a 429 the
``Retry-After`` the core HTTP client understands.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import requests.auth
from pydantic import SecretStr

from claimbridge.credentials import CredentialStore
from claimbridge.transport.http import ErrorInfo

__all__ = [
    "RateBudget",
    "SessionAuth",
    "StoredSession",
    "load_session",
    "parse_tripletex_error",
    "save_session",
]

_MAX_MESSAGE = 300
_MAX_VALIDATION = 3


class SessionAuth(requests.auth.AuthBase):
    """HTTP Basic with ``<company id>:<session token>``; nothing is sent while no token is set
    (the session-creating call itself authenticates with its query parameters)."""

    def __init__(self, company_id: int) -> None:
        self._user = str(company_id)
        self._token: SecretStr | None = None

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def set_token(self, token: SecretStr | None) -> None:
        self._token = token

    def for_company(self, company_id: int) -> SessionAuth:
        """The same session acting for another company (``0``: the token's own company)."""
        other = SessionAuth(company_id)
        other._token = self._token
        return other

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._token is not None:
            pair = f"{self._user}:{self._token.get_secret_value()}".encode()
            request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return request

    def __repr__(self) -> str:
        return f"SessionAuth(user={self._user!r}, token='**********')"


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A session token and the last date it may be used (Tripletex's ``expirationDate``)."""

    token: SecretStr
    expires: dt.date

    def usable_on(self, today: dt.date) -> bool:
        """Renew a day early: a run that starts just before midnight must not lose it midway."""
        return (self.expires - today).days > 1


def load_session(store: CredentialStore, key: str) -> StoredSession | None:
    """The stored session, or None when absent or unreadable (a new one is then created)."""
    text = store.get(key)
    if not text:
        return None
    try:
        data = json.loads(text)
        return StoredSession(SecretStr(str(data["token"])), dt.date.fromisoformat(data["expires"]))
    except (ValueError, KeyError, TypeError):
        return None


def save_session(store: CredentialStore, key: str, session: StoredSession) -> None:
    value = {"token": session.token.get_secret_value(), "expires": session.expires.isoformat()}
    store.put(key, json.dumps(value))


def parse_tripletex_error(response: requests.Response) -> ErrorInfo:
    """Tripletex's error body: ``{status, code, message, validationMessages, requestId}``.

    The numeric ``code`` (e.g. 3000 authentication, 15000 value validation) becomes the
    error's code; the message gets the first field validation messages and the request id
    Tripletex support asks for.
    """
    try:
        data = response.json()
    except ValueError:
        return ErrorInfo()
    if not isinstance(data, dict):
        return ErrorInfo()
    code = data.get("code")
    parts: list[str] = []
    message = data.get("message")
    if isinstance(message, str) and message.strip():
        parts.append(message.strip())
    validations = data.get("validationMessages")
    if isinstance(validations, list):
        for item in validations[:_MAX_VALIDATION]:
            if isinstance(item, dict) and isinstance(item.get("message"), str):
                field = item.get("field")
                prefix = f"{field}: " if isinstance(field, str) and field else ""
                parts.append(prefix + item["message"].strip())
    request_id = data.get("requestId")
    if isinstance(request_id, str) and request_id.isprintable() and request_id:
        parts.append(f"request id {request_id[:64]}")
    text = "; ".join(parts)[:_MAX_MESSAGE] or None
    code_text = str(code) if isinstance(code, int) and not isinstance(code, bool) else None
    return ErrorInfo(code=code_text, message=text)


class RateBudget:
    """The budget Tripletex last reported; ``wait()`` sleeps out the period when it is spent.

    ``reserve`` requests are kept back so a sibling process sharing the employee's budget
    does not push us into 429s.
    """

    def __init__(
        self,
        *,
        reserve: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 120.0,
    ) -> None:
        self.reserve = reserve
        self.limit: int | None = None
        self.remaining: int | None = None
        self._reset_at: float | None = None
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """A ``requests`` response hook: remember the budget; give a 429 its Retry-After."""
        headers = response.headers
        limit = _int_header(headers.get("X-Rate-Limit-Limit"))
        remaining = _int_header(headers.get("X-Rate-Limit-Remaining"))
        reset = _int_header(headers.get("X-Rate-Limit-Reset"))
        if limit is not None:
            self.limit = limit
        if remaining is not None:
            self.remaining = remaining
        if reset is not None:
            self._reset_at = self._clock() + reset
        if response.status_code == 429 and "Retry-After" not in headers and reset is not None:
            headers["Retry-After"] = str(max(reset, 1))
        return response

    def wait(self) -> float:
        """Before a request: sleep until the period resets if the budget is spent."""
        if self.remaining is None or self._reset_at is None or self.remaining > self.reserve:
            return 0.0
        delay = min(max(0.0, self._reset_at - self._clock()), self._max_wait)
        self.remaining = None  # the next response tells the new budget
        if delay > 0:
            self._sleep(delay)
        return delay


def _int_header(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None
