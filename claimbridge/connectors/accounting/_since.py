"""The cursor of a source that reads what changed since a moment: ``{"v": 1, "since": …}``.

Fiken, Fortnox and Visma keep one such cursor per stream; they differ only in how the moment
is written (a date, Fortnox's local minutes, an ISO time with its offset). The cursor is
opaque to the core and versioned, so a later format can tell an old cursor apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from claimbridge.errors import ParseError

__all__ = ["read_since", "since_cursor"]

VERSION = 1
T = TypeVar("T")


def since_cursor(stamp: str) -> str:
    """The cursor text of a moment already written as the vendor writes it."""
    return json.dumps({"v": VERSION, "since": stamp}, separators=(",", ":"))


def read_since(cursor: str | None, parse: Callable[[str], T], vendor: str) -> T | None:
    """The moment a cursor names, read with ``parse`` (which raises ``ValueError`` on what it
    cannot read); None for a first, full read. Anything else is a ParseError."""
    if cursor is None:
        return None
    try:
        data = json.loads(cursor)
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise ValueError
        return parse(str(data["since"]))
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ParseError(f"not a {vendor} cursor", field="cursor") from None
