"""PowerOffice Go's JSON bodies: a 204 or empty body is no content, numbers stay exact."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests

from claimbridge.errors import ParseError

__all__ = ["decode", "json_list", "json_object", "jsonable"]

_CENT = Decimal("0.01")


def decode(response: requests.Response, path: str) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json(parse_float=Decimal)
    except ValueError:
        raise ParseError("answer is not JSON", file=f"poweroffice:{path}") from None


def json_list(response: requests.Response, path: str) -> list[dict[str, Any]]:
    data = decode(response, path)
    if data is None:
        return []
    if not isinstance(data, list):
        raise ParseError("expected a JSON list", file=f"poweroffice:{path}")
    return [row if isinstance(row, dict) else {"_invalid": True} for row in data]


def json_object(response: requests.Response, path: str) -> dict[str, Any] | None:
    data = decode(response, path)
    if data is not None and not isinstance(data, dict):
        raise ParseError("expected a JSON object", file=f"poweroffice:{path}")
    return data


def jsonable(value: Any) -> Any:
    """Decimals as JSON numbers with their exact digits (requests' encoder refuses them)."""
    if isinstance(value, Decimal):
        return float(value) if value == value.quantize(_CENT) else str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value
