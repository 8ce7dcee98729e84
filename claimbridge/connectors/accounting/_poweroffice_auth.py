"""PowerOffice Go's client-credentials token, cached with its expiry, renewed before it ends.

Go v2 hands out short-lived access tokens (about 20 minutes) for the application key (OAuth
client id) and the client key (client secret) of one Go client; every call, the token request
included, also carries the product subscription key in ``Ocp-Apim-Subscription-Key``. The token
is cached in the connector's credential store with its expiry, so a scheduled run that starts
within a token's life does not ask for a new one, and is renewed a minute before it ends; a
401 renews it and resends once (:mod:`claimbridge.transport.tokens` does both).

The token endpoint wants a form-encoded body with HTTP Basic client credentials; it is called
through its own :class:`~claimbridge.transport.http.HttpClient`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import requests
import requests.auth
from pydantic import SecretStr

from claimbridge.credentials import CredentialStore
from claimbridge.transport.http import ErrorInfo, HttpClient, parse_error_body
from claimbridge.transport.tokens import ExpiringTokens, TokenAnswer, TokenAuth

__all__ = ["SUBSCRIPTION_HEADER", "TokenSource", "poweroffice_error_info"]

log = logging.getLogger("claimbridge.poweroffice")

SUBSCRIPTION_HEADER = "Ocp-Apim-Subscription-Key"
_ANSWER = TokenAnswer(default_lifetime_s=1200.0)  # Go v2 documents 20 minutes
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


class TokenSource(ExpiringTokens):
    """Access tokens for one Go client; cached in ``store`` under ``key`` as JSON.

    The token request sends the application key and the client key as HTTP Basic client
    credentials, and the subscription key as every Go call does.
    """

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
        super().__init__(
            client,
            self._ask,
            store=store,
            key=key,
            answer=_ANSWER,
            clock=clock,
            name=name,
            what="a PowerOffice Go access token",
            logger=log,
        )
        self._application_key = application_key
        self._client_key = client_key
        self._subscription_key = subscription_key

    def api_auth(self) -> TokenAuth:
        """Bearer token plus subscription key on every API call; one renewal on a 401."""
        return TokenAuth(self, headers={SUBSCRIPTION_HEADER: self._subscription_key})

    def _ask(self, client: HttpClient) -> requests.Response:
        credentials = requests.auth.HTTPBasicAuth(
            self._application_key.get_secret_value(), self._client_key.get_secret_value()
        )
        return client.request(
            "POST",
            client.settings.base_url,
            data={"grant_type": "client_credentials"},
            auth=credentials,
            headers={SUBSCRIPTION_HEADER: self._subscription_key.get_secret_value()},
            idempotent=True,
        )
