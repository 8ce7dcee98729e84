"""Riverty's access tokens (OAuth 2.0 client credentials at Auth0) and its error bodies.

Riverty's collection API takes a bearer token from its Auth0 tenant: a form-encoded POST of
``grant_type=client_credentials``, ``client_id``, ``client_secret`` and ``audience`` to
``https://<tenant>/oauth/token`` answers ``access_token``, ``expires_in`` (86,400 s in the
documented example) and ``token_type: Bearer``. The token is cached with its expiry and its
audience in the connector's credential store — Auth0 meters machine-to-machine tokens, and a
daily run should not ask for a new one each time — and renewed a few minutes before it ends;
:mod:`claimbridge.transport.tokens` does the caching and the renewal on a 401.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests
from pydantic import SecretStr

from claimbridge.credentials import CredentialStore
from claimbridge.transport.http import ErrorInfo, HttpClient, parse_error_body
from claimbridge.transport.tokens import ExpiringTokens, TokenAnswer, client_credentials

__all__ = ["riverty_error_info", "riverty_tokens"]

log = logging.getLogger("claimbridge.riverty")

EXPIRY_MARGIN_S = 300.0
_ANSWER = TokenAnswer(bearer_only=True)  # 3,600 s only when an answer names no lifetime
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


def riverty_tokens(
    client: HttpClient,
    *,
    client_id: str,
    client_secret: SecretStr,
    audience: str,
    store: CredentialStore,
    key: str,
    clock: Callable[[], float] = time.time,
    name: str = "riverty",
) -> ExpiringTokens:
    """Access tokens for one Riverty client, cached in ``store`` under ``key`` with the
    audience they were issued for (a config moved to another environment asks anew)."""
    return ExpiringTokens(
        client,
        client_credentials(client_id, client_secret, audience=audience),
        store=store,
        key=key,
        answer=_ANSWER,
        margin_s=EXPIRY_MARGIN_S,
        bound_to={"audience": audience},
        clock=clock,
        name=name,
        what="a Riverty access token",
        logger=log,
    )
