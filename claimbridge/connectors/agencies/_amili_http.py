"""What the Amili connectors share about HTTP: error bodies and JSON answers.

Amili's Norwegian API is an ASP.NET service whose error answers are RFC 7807 problem details
(``title``, ``detail``, ``errors``); its older batch answers list ``errors`` of ``{code,
message}``. Amili Sweden's API answers ``{"_status": "ERR", "_error": {"code", "message"},
"_issues": {field: message}}``. :func:`amili_error_info` reads all of them, so a refusal is
recorded with Amili's own reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests

from claimbridge.connectors.agencies._rest import json_object as answer_object
from claimbridge.transport.http import ErrorInfo, parse_error_body

__all__ = ["amili_error_info", "json_object"]

_MAX_TEXT = 300
_MAX_ISSUES = 5


def amili_error_info(response: requests.Response) -> ErrorInfo:
    try:
        data = response.json()
    except ValueError:
        return ErrorInfo()
    if not isinstance(data, dict):
        return ErrorInfo()
    if isinstance(data.get("_error"), dict) or isinstance(data.get("_issues"), dict):
        raw_error, raw_issues = data.get("_error"), data.get("_issues")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        issues: dict[str, Any] = raw_issues if isinstance(raw_issues, dict) else {}
        parts = [_clip(error.get("message"))] + [
            f"{_clip(k)}: {_clip(v)}" for k, v in list(issues.items())[:_MAX_ISSUES]
        ]
        return ErrorInfo(_clip(error.get("code")), _join(parts))
    title, detail = data.get("title"), data.get("detail")
    errors = data.get("errors")
    listed: list[str | None] = []
    if isinstance(errors, dict):
        listed = [f"{_clip(k)}: {_clip(_first(v))}" for k, v in list(errors.items())[:_MAX_ISSUES]]
    elif isinstance(errors, list):
        for item in errors[:_MAX_ISSUES]:
            if isinstance(item, dict):
                listed.append(_join([_clip(item.get("code")), _clip(item.get("message"))], ": "))
    if isinstance(title, str) or isinstance(detail, str) or listed:
        message = _join([_clip(title), _clip(detail), *listed])
        code = data.get("code") if isinstance(data.get("code"), str) else _clip(title)
        return ErrorInfo(_clip(code), message)
    return parse_error_body(response)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _clip(value: Any) -> str | None:
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:_MAX_TEXT]
    return None


def _join(parts: Sequence[str | None], sep: str = "; ") -> str | None:
    text = sep.join(p for p in parts if p)
    return text[:_MAX_TEXT] if text else None


def json_object(response: Any, what: str, connector: str) -> dict[str, Any]:
    """An Amili answer's JSON object (see :func:`._rest.json_object`)."""
    return answer_object(response, what, f"{connector}: Amili")
