"""The run lease: two runs of the same pipeline never overlap.

Acquiring is one conditional upsert (``INSERT … ON CONFLICT DO UPDATE … WHERE expired``), atomic
on SQLite and PostgreSQL alike, so two processes racing for it cannot both win. A heartbeat
thread extends the lease while the run works; a crashed run's lease simply expires.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from types import TracebackType

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from claimbridge.errors import LeaseHeldError
from claimbridge.state._sql import insert_for
from claimbridge.state.tables import leases

log = logging.getLogger("claimbridge.lease")

DEFAULT_TTL_S = 120.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Lease:
    """Held while a run of ``pipeline`` works. Use as a context manager."""

    def __init__(self, engine: Engine, pipeline: str, holder: str, ttl_s: float = DEFAULT_TTL_S):
        self._engine = engine
        self.pipeline = pipeline
        self.holder = holder
        self.ttl = dt.timedelta(seconds=ttl_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> Lease:
        now = _now()
        row = {
            "pipeline": self.pipeline,
            "holder": self.holder,
            "acquired_at": now,
            "heartbeat_at": now,
            "expires_at": now + self.ttl,
        }
        stmt = insert_for(self._engine, leases).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[leases.c.pipeline],
            set_={
                k: stmt.excluded[k] for k in ("holder", "acquired_at", "heartbeat_at", "expires_at")
            },
            where=(leases.c.expires_at < now) | (leases.c.holder == self.holder),
        ).returning(leases.c.holder)  # rowcount is not reliable across drivers; RETURNING is
        with self._engine.begin() as conn:
            won = conn.execute(stmt).first() is not None
            if not won:
                current = conn.execute(
                    select(leases.c.holder, leases.c.expires_at).where(
                        leases.c.pipeline == self.pipeline
                    )
                ).one()
        if not won:
            until = _aware(current.expires_at).isoformat(timespec="seconds")
            raise LeaseHeldError(
                f"pipeline {self.pipeline!r} is already running (run {current.holder}); "
                f"its lease expires at {until} unless it keeps working"
            )
        self._thread = threading.Thread(
            target=self._heartbeat, name=f"lease-{self.pipeline}", daemon=True
        )
        self._thread.start()
        return self

    def _heartbeat(self) -> None:
        """Extend the lease a third of its life at a time. A beat the database refuses is
        logged and tried again at the next one: should the store stay away, the lease simply
        expires, which is what a lease is for."""
        interval = self.ttl.total_seconds() / 3
        while not self._stop.wait(interval):
            now = _now()
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        update(leases)
                        .where(leases.c.pipeline == self.pipeline, leases.c.holder == self.holder)
                        .values(heartbeat_at=now, expires_at=now + self.ttl)
                    )
            except SQLAlchemyError as exc:
                log.warning(
                    "could not extend the lease of %s: %s", self.pipeline, type(exc).__name__
                )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._engine.begin() as conn:
            conn.execute(
                delete(leases).where(
                    leases.c.pipeline == self.pipeline, leases.c.holder == self.holder
                )
            )

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
