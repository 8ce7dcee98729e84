"""What the REST agencies' ``check()`` does the same way: config, then a token, then the API.

A check never raises: every failure is a typed item. It makes clients of its own with one try
per request (a check should answer in seconds, not after a retry storm), reports settings that
do not make a client as config, tells refused credentials (auth) from a token endpoint that
cannot be reached (reachability), and says what it did not check because a step before failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing
from typing import Any

from pydantic import ValidationError

from claimbridge.connectors.base import CheckItem, CheckKind, CheckResult
from claimbridge.errors import AuthError, ClaimbridgeError
from claimbridge.transport.http import HttpClient, HttpOptions
from claimbridge.transport.tokens import TokenClients

__all__ = ["check_token_api", "config_failed", "first_line", "probe", "quick"]


def quick(options: HttpOptions) -> HttpOptions:
    """The connector's HTTP tuning with one try per request."""
    return options.model_copy(update={"max_retries": 0})


def first_line(exc: BaseException) -> str:
    """An error in one line; a settings error as ``field: problem`` without the input."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def config_failed(name: str, exc: BaseException) -> CheckResult:
    """The result when the settings do not even make a client."""
    return CheckResult(name, (CheckItem(CheckKind.CONFIG, False, first_line(exc)),))


def probe(call: Callable[[], object], *, answered: str) -> CheckItem:
    """One cheap API call with a token just issued: a refusal is about permission."""
    try:
        call()
    except AuthError as exc:
        return CheckItem(CheckKind.PERMISSION, False, str(exc))
    except ClaimbridgeError as exc:
        return CheckItem(CheckKind.REACHABILITY, False, str(exc))
    return CheckItem(CheckKind.REACHABILITY, True, answered)


def check_token_api(
    name: str,
    connect: Callable[[HttpOptions], TokenClients[Any]],
    options: HttpOptions,
    config: CheckItem,
    *,
    issued: str,
    api: Callable[[HttpClient], Sequence[CheckItem]],
) -> CheckResult:
    """``check()`` of an agency reached with expiring tokens.

    ``connect`` makes the clients (from ``options`` with one try each); ``config`` is the item
    shown when they could be made; a fresh token is asked for (``issued`` says so); ``api``
    checks the API with it and returns its items.
    """
    try:
        clients = connect(quick(options))
    except (ValueError, ClaimbridgeError) as exc:
        return config_failed(name, exc)
    with closing(clients):
        try:
            clients.tokens.token(renew=True)
        except AuthError as exc:
            return CheckResult(name, (config, CheckItem(CheckKind.AUTH, False, str(exc))))
        except ClaimbridgeError as exc:
            unreachable = (
                CheckItem(CheckKind.REACHABILITY, False, f"token endpoint: {exc}"),
                CheckItem(CheckKind.AUTH, False, "not checked: no token endpoint"),
            )
            return CheckResult(name, (config, *unreachable))
        token = CheckItem(CheckKind.AUTH, True, issued)
        return CheckResult(name, (config, token, *api(clients.api)))
