"""What a vendor fake records of each request it answered, for tests to assert on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Exchange"]


@dataclass
class Exchange:
    """One request (method, path, query, parsed body) and the answer the fake gave."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    response: Any
