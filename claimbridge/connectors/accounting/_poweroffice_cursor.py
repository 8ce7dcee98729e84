"""The PowerOffice Go stream cursor: a change timestamp with a look-back window.

Go filters lists by "changed after" timestamps that are not inclusive. Clocks and commits are
not perfectly ordered, so each sync asks from ``since - lookback``; to keep an unchanged ledger
from yielding the same records again, the cursor also remembers the records it already saw
inside that window (id → their timestamp) and those are skipped unless their timestamp moved.
The remembered set is capped: past the cap a few records are read twice, which is harmless.

The cursor is opaque to the core: compact JSON, ``{"v": 1, "since": iso, "seen": {...}}``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from claimbridge.errors import ParseError

__all__ = ["MAX_SEEN", "Watermark", "parse_timestamp"]

MAX_SEEN = 2000
_VERSION = 1


def parse_timestamp(value: Any) -> dt.datetime | None:
    """Go's ``2021-09-30 08:03:00.123456+00:00`` (or ISO with ``T``/``Z``); None if absent."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass(slots=True)
class Watermark:
    """Where a stream stands: the newest change seen, and who changed inside the window."""

    since: dt.datetime | None = None
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, cursor: str | None) -> Watermark:
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
            if not isinstance(data, dict) or data.get("v") != _VERSION:
                raise ValueError("unknown cursor version")
            since = parse_timestamp(data.get("since"))
            seen = data.get("seen") or {}
            if not isinstance(seen, dict):
                raise ValueError("seen is not an object")
        except ValueError:
            raise ParseError(
                "stored cursor is not a PowerOffice Go cursor; reset the stream's cursor",
                field="cursor",
            ) from None
        return cls(since=since, seen={str(k): str(v) for k, v in seen.items()})

    def query_from(self, lookback: dt.timedelta) -> dt.datetime | None:
        """The "greater than" timestamp to ask Go for (None: a first, full sync)."""
        return None if self.since is None else self.since - lookback

    def is_repeat(self, record_id: str, changed: dt.datetime | None) -> bool:
        """A record already yielded by an earlier sync with this same change time."""
        return changed is not None and self.seen.get(record_id) == changed.isoformat()

    def advance(self, changes: Mapping[str, dt.datetime], lookback: dt.timedelta) -> Watermark:
        """The watermark after a sync that yielded ``changes`` (record id → change time)."""
        newest = max([self.since, *changes.values()], key=_sort_key)
        if newest is None:
            return Watermark()
        window = newest - lookback
        merged = {
            key: value
            for key, value in self.seen.items()
            if (stamp := parse_timestamp(value)) is not None and stamp > window
        }
        merged.update({k: v.isoformat() for k, v in changes.items() if v > window})
        if len(merged) > MAX_SEEN:
            newest_first = sorted(merged.items(), key=lambda kv: kv[1], reverse=True)
            merged = dict(newest_first[:MAX_SEEN])
        return Watermark(since=newest, seen=merged)

    def dump(self) -> str:
        since = self.since.isoformat() if self.since else None
        return json.dumps({"v": _VERSION, "since": since, "seen": self.seen}, sort_keys=True)


def _sort_key(value: dt.datetime | None) -> dt.datetime:
    return value if value is not None else dt.datetime.min.replace(tzinfo=dt.UTC)
