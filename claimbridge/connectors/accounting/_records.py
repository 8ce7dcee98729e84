"""What the JSON API sources do with a vendor's record: guard it, then map it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from claimbridge.connectors.base import RawRecord, StreamSpec
from claimbridge.errors import ConnectorError, RecordError
from claimbridge.mappings import load_mapping, to_model

__all__ = ["invalid_record", "normalize_record", "oversized_reasons"]

INVALID = "__invalid__"


def invalid_record(item: object, location: str) -> RawRecord:
    """A placeholder for a list entry that is not a JSON object: normalize quarantines it."""
    return RawRecord({INVALID: type(item).__name__}, location)


def normalize_record(
    stream: StreamSpec,
    record: RawRecord,
    *,
    models: Mapping[str, tuple[str, type[BaseModel]]],
    variables: Mapping[str, Any],
    max_text: int,
    max_depth: int,
    connector: str,
) -> BaseModel:
    """Guard a vendor's record (shape, size, depth), then map it to its canonical model."""
    data = record.data
    raw_id = data.get(stream.primary_key)
    record_id = str(raw_id)[:40] if isinstance(raw_id, int | str) else ""
    if INVALID in data:
        raise RecordError(
            [f"record is a JSON {data[INVALID]}, not an object"], location=record.location
        )
    reasons = oversized_reasons(data, max_text=max_text, max_depth=max_depth)
    if reasons:
        raise RecordError(reasons, record_id=record_id, location=record.location)
    if stream.name not in models:
        raise ConnectorError(f"unknown stream {stream.name!r}", connector=connector)
    mapping_name, model = models[stream.name]
    return to_model(
        load_mapping(mapping_name),
        data,
        model,
        variables,
        location=record.location,
        record_id=record_id,
    )


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
