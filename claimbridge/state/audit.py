"""The audit log: hash-chained, append-only, no personal data.

Each entry's hash covers the previous hash and the entry itself, so editing or deleting any
entry breaks the chain from there on; ``verify_chain`` finds where.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from claimbridge.errors import StateError
from claimbridge.state.engine import read_connection
from claimbridge.state.tables import audit_head, audit_log

GENESIS = "0" * 64


def _digest(prev_hash: str, entry: dict[str, Any]) -> str:
    body = json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def append(
    conn: Connection,
    *,
    pipeline: str,
    run_id: str | None,
    action: str,
    subject: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry inside the caller's transaction.

    The head row serializes writers: on PostgreSQL ``FOR UPDATE`` locks it; on SQLite the
    transaction already holds the write lock (BEGIN IMMEDIATE).
    """
    head_query = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
    if conn.dialect.name == "postgresql":
        head_query = head_query.with_for_update()
    head = conn.execute(head_query).first()
    if head is None:
        conn.execute(insert(audit_head).values(id=1, seq=0, hash=GENESIS))
        seq, prev = 0, GENESIS
    else:
        seq, prev = head.seq, head.hash
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    entry = {
        "seq": seq + 1,
        "at": at.isoformat(),
        "pipeline": pipeline,
        "run_id": run_id,
        "action": action,
        "subject": subject,
        "detail": detail or {},
    }
    digest = _digest(prev, entry)
    conn.execute(
        insert(audit_log).values(
            seq=seq + 1,
            at=at,
            pipeline=pipeline,
            run_id=run_id,
            action=action,
            subject=subject,
            detail=json.dumps(detail or {}, sort_keys=True, default=str),
            prev_hash=prev,
            hash=digest,
        )
    )
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq + 1, hash=digest))


def verify_chain(engine: Engine) -> int:
    """Check every link; returns the number of entries. Raises StateError at the first break."""
    prev = GENESIS
    count = 0
    with read_connection(engine) as conn:
        for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)):
            at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)
            entry = {
                "seq": row.seq,
                "at": at.isoformat(),
                "pipeline": row.pipeline,
                "run_id": row.run_id,
                "action": row.action,
                "subject": row.subject,
                "detail": json.loads(row.detail),
            }
            if row.prev_hash != prev or _digest(prev, entry) != row.hash:
                raise StateError(f"audit log chain broken at entry {row.seq}")
            prev = row.hash
            count += 1
    return count
