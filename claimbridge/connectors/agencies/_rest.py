"""What the REST agencies share about one request: the outcomes of a send that failed, and an
answer that must be a JSON object.

The mapping of a failed send is the delivery rules of ``docs/architecture.md`` in one place:
wrong credentials stop the run (no later attempt does better), an answer lost after sending is
``UNKNOWN`` (looked up, never sent blindly again), a refusal is ``REJECTED`` with the agency's
reason, and what may pass (rate limits, an agency out of reach, a 5xx) is ``RETRYABLE``.
Agencies whose errors mean more (Riverty may hold a claim it answered 5xx or 409 for) map
their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import requests

from claimbridge.connectors.base import PushOutcome, PushStatus
from claimbridge.errors import (
    AuthError,
    OutcomeUnknownError,
    ParseError,
    RateLimitedError,
    RemoteError,
    UnreachableError,
)

__all__ = ["json_object", "send_outcome"]


def send_outcome(
    send: Callable[[], requests.Response], keys: Sequence[str]
) -> requests.Response | list[PushOutcome]:
    """The response, or the outcome every key gets when the send failed."""
    try:
        return send()
    except AuthError:
        raise
    except OutcomeUnknownError as exc:
        return _all(keys, PushStatus.UNKNOWN, str(exc))
    except (RateLimitedError, UnreachableError) as exc:
        return _all(keys, PushStatus.RETRYABLE, str(exc))
    except RemoteError as exc:
        status = PushStatus.RETRYABLE if exc.retryable else PushStatus.REJECTED
        return _all(keys, status, str(exc))


def _all(keys: Sequence[str], status: PushStatus, reason: str) -> list[PushOutcome]:
    return [PushOutcome(key, status, reason=reason) for key in keys]


def json_object(response: requests.Response, what: str, sender: str) -> dict[str, Any]:
    """The answer's JSON object; anything else (not JSON, too deep, a list) is a ParseError
    that names ``what`` ``sender`` sent, never the body."""
    try:
        data = response.json()
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise ParseError(f"{sender} sent a {what} that is not a JSON object")
    return data
