"""Guards every API source applies to a vendor's record before mapping it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["oversized_reasons"]


def oversized_reasons(
    value: Any, *, max_text: int, max_depth: int, path: str = "", depth: int = 0
) -> list[str]:
    """Reasons for text too long or nesting too deep (at most five): hostile records stop
    here, before the mapping engine or pydantic spend time on them."""
    if depth > max_depth:
        return [f"{path or 'record'}: nested too deeply"]
    if isinstance(value, str):
        return [f"{path}: text longer than {max_text} characters"] if len(value) > max_text else []
    if isinstance(value, Mapping):
        items: Iterator[tuple[str, Any]] = (
            (f"{path}.{k}" if path else str(k), v) for k, v in value.items()
        )
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return []
    reasons: list[str] = []
    for child_path, child in items:
        reasons.extend(
            oversized_reasons(
                child,
                max_text=max_text,
                max_depth=max_depth,
                path=child_path[:80],
                depth=depth + 1,
            )
        )
        if len(reasons) >= 5:
            break
    return reasons[:5]
