"""A small SQLite cache of registry answers, so a debtor with many invoices is looked up once.

The cache knows nothing of what it stores: a key (the organization number), a text payload, when
it was fetched and until when it may be used. The enricher decides the lifetime of each answer
(a found company lives longer than a "not found"), and never stores an answer it did not get.

SQLite gives a file that survives runs and can be read by a person (``sqlite3 cache.db``);
``None`` as the path keeps the cache in memory for one process. One connection is shared
behind a lock, so the cache may be used from several threads. The number of rows is bounded:
beyond ``max_entries`` the entries fetched longest ago are evicted.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

from claimbridge.errors import StateError

__all__ = ["CachedEntry", "RegistryCache"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registry_entries (
    key         TEXT PRIMARY KEY,
    payload     TEXT NOT NULL,
    fetched_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS registry_entries_fetched ON registry_entries (fetched_at)"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CachedEntry:
    payload: str
    fetched_at: datetime
    expires_at: datetime


class RegistryCache:
    """Key → payload with an expiry time; thread-safe and bounded in size."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.path = path
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    # Registry data of sole proprietorships carries the owner's name: not
                    # for other users of the machine to read.
                    path.touch(mode=0o600)
            self._db = sqlite3.connect(
                ":memory:" if path is None else os.fspath(path),
                check_same_thread=False,
                isolation_level=None,  # autocommit; each statement is its own transaction
            )
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute(_SCHEMA)
            self._db.execute(_INDEX)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(
                f"registry cache {path or ':memory:'} cannot be opened ({type(exc).__name__})"
            ) from None

    def get(self, key: str) -> CachedEntry | None:
        """The entry for ``key`` if it has not expired; an expired entry is deleted."""
        now = self._clock()
        with self._lock:
            row = self._execute(
                "SELECT payload, fetched_at, expires_at FROM registry_entries WHERE key = ?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            entry = CachedEntry(
                row[0], datetime.fromisoformat(row[1]), datetime.fromisoformat(row[2])
            )
            if entry.expires_at <= now:
                self._execute("DELETE FROM registry_entries WHERE key = ?", (key,))
                return None
            return entry

    def put(self, key: str, payload: str, ttl: timedelta) -> None:
        """Store ``payload`` for ``ttl`` from now, then evict the oldest beyond the bound."""
        now = self._clock()
        with self._lock:
            self._execute(
                "INSERT OR REPLACE INTO registry_entries (key, payload, fetched_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (key, payload, now.isoformat(), (now + ttl).isoformat()),
            )
            self._execute(
                "DELETE FROM registry_entries WHERE key IN (SELECT key FROM registry_entries "
                "ORDER BY fetched_at DESC, key LIMIT -1 OFFSET ?)",
                (self.max_entries,),
            )

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._execute("SELECT COUNT(*) FROM registry_entries").fetchone()
        return int(count)

    def clear(self) -> None:
        with self._lock:
            self._execute("DELETE FROM registry_entries")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StateError(
                f"registry cache {self.path or ':memory:'} failed ({type(exc).__name__})"
            ) from None
