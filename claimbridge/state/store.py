"""The state store: cursors, runs, the outbox, claims and cases, quarantine and the logs.

Connectors never write here; the pipeline and reconciliation do, always inside transactions
that keep a cursor and the work it covers together.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    bindparam,
    func,
    literal_column,
    null,
    select,
    update,
)

from claimbridge.state import audit
from claimbridge.state._sql import chunked, insert_ignore, upsert
from claimbridge.state.engine import create_state_engine, read_connection, upgrade
from claimbridge.state.lease import DEFAULT_TTL_S, Lease
from claimbridge.state.staging import Staging
from claimbridge.state.tables import (
    cases,
    claims,
    cursors,
    events,
    id_map,
    outbox,
    quarantine,
    runs,
)

__all__ = ["OutboxItem", "StateStore"]

_AGENCY_STATUSES = ("active", "paused", "paid", "closed", "withdrawn", "returned")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    delivery_id: int
    idempotency_key: str
    case_key: str
    status: str
    payload: str | None
    attempts: int
    claim_count: int


class StateStore:
    """One state database. Open with :meth:`open`; migrations are applied on open."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.staging = Staging(engine)

    @classmethod
    def open(cls, url: str) -> StateStore:
        engine = create_state_engine(url)
        upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- runs and the lease ---------------------------------------------------------------

    def lease(self, pipeline: str, holder: str, ttl_s: float = DEFAULT_TTL_S) -> Lease:
        return Lease(self.engine, pipeline, holder, ttl_s)

    def start_run(self, pipeline: str, kind: str) -> str:
        run_id = str(uuid.uuid4())
        with self.begin() as conn:
            conn.execute(
                runs.insert().values(
                    run_id=run_id,
                    pipeline=pipeline,
                    kind=kind,
                    status="running",
                    started_at=utcnow(),
                )
            )
        return run_id

    def finish_run(
        self, run_id: str, status: str, stats: dict[str, Any], error: str | None = None
    ) -> None:
        with self.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(status=status, finished_at=utcnow(), stats=json.dumps(stats), error=error)
            )

    # --- cursors --------------------------------------------------------------------------

    def get_cursor(self, pipeline: str, stream: str) -> str | None:
        with read_connection(self.engine) as conn:
            return conn.execute(
                select(cursors.c.cursor).where(
                    cursors.c.pipeline == pipeline, cursors.c.stream == stream
                )
            ).scalar()

    @staticmethod
    def set_cursor(conn: Connection, pipeline: str, stream: str, cursor: str | None) -> None:
        upsert(
            conn,
            cursors,
            [{"pipeline": pipeline, "stream": stream, "cursor": cursor, "updated_at": utcnow()}],
            keys=("pipeline", "stream"),
        )

    # --- claims, cases, id map, events ----------------------------------------------------

    @staticmethod
    def known_claims(
        conn: Connection, pipeline: str, numbers: Sequence[str]
    ) -> dict[str, tuple[str | None, dt.date | None]]:
        """Invoice number → (case key if handed over, approval date), for claims seen before."""
        found: dict[str, tuple[str | None, dt.date | None]] = {}
        for chunk in chunked(numbers):
            found.update(
                (row[0], (row[1], row[2]))
                for row in conn.execute(
                    select(claims.c.invoice_number, claims.c.case_key, claims.c.approved_on).where(
                        claims.c.pipeline == pipeline,
                        claims.c.invoice_number.in_(chunk),
                        (claims.c.case_key.is_not(None)) | (claims.c.approved_on.is_not(None)),
                    )
                )
            )
        return found

    def approve(
        self,
        pipeline: str,
        numbers: Sequence[str] | None,
        *,
        by: str,
        today: dt.date,
        max_amount: Decimal | None = None,
        currency: str | None = None,
        due_before: dt.date | None = None,
    ) -> list[str]:
        """Approve claims waiting for approval (all matching the filters when ``numbers`` is
        None); returns the invoice numbers approved. The next run hands them over."""
        conditions = [
            claims.c.pipeline == pipeline,
            claims.c.outcome == "pending_approval",
            claims.c.case_key.is_(None),
        ]
        if numbers is not None:
            conditions.append(claims.c.invoice_number.in_(list(numbers)))
        if max_amount is not None:
            conditions.append(claims.c.remaining_principal <= max_amount)
        if currency:
            conditions.append(claims.c.currency == currency.upper())
        if due_before:
            conditions.append(claims.c.due_date < due_before)
        with self.begin() as conn:
            chosen = list(
                conn.execute(select(claims.c.invoice_number).where(*conditions)).scalars()
            )
            for chunk in chunked(chosen):
                conn.execute(
                    update(claims)
                    .where(claims.c.pipeline == pipeline, claims.c.invoice_number.in_(chunk))
                    .values(approved_on=today, approved_by=by, updated_at=utcnow())
                )
            if chosen:
                self.audit(
                    conn,
                    pipeline=pipeline,
                    run_id=None,
                    action="claims.approved",
                    subject=by,
                    detail={"invoices": chosen},
                )
        return chosen

    @staticmethod
    def upsert_claims(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        upsert(conn, claims, rows, keys=("pipeline", "invoice_number"))

    @staticmethod
    def insert_cases(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        insert_ignore(conn, cases, rows)

    @staticmethod
    def map_ids(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        insert_ignore(conn, id_map, rows)

    @staticmethod
    def add_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        insert_ignore(conn, events, rows)

    def due_for_review(self, pipeline: str, today: dt.date) -> list[str]:
        """Source record ids of waiting claims whose wait ends by ``today``."""
        query = select(claims.c.source_record_id).where(
            claims.c.pipeline == pipeline,
            claims.c.case_key.is_(None),
            claims.c.review_on <= today,
        )
        with read_connection(self.engine) as conn:
            return list(conn.execute(query).scalars())

    def claim(self, pipeline: str, invoice_number: str) -> Row[Any] | None:
        with read_connection(self.engine) as conn:
            return conn.execute(
                select(claims).where(
                    claims.c.pipeline == pipeline, claims.c.invoice_number == invoice_number
                )
            ).first()

    def find_claims(self, invoice_number: str) -> list[Row[Any]]:
        with read_connection(self.engine) as conn:
            return list(
                conn.execute(select(claims).where(claims.c.invoice_number == invoice_number))
            )

    def case(self, case_key: str) -> Row[Any] | None:
        with read_connection(self.engine) as conn:
            return conn.execute(select(cases).where(cases.c.case_key == case_key)).first()

    def case_claims(self, case_key: str) -> list[Row[Any]]:
        with read_connection(self.engine) as conn:
            return list(
                conn.execute(
                    select(claims)
                    .where(claims.c.case_key == case_key)
                    .order_by(claims.c.invoice_number)
                )
            )

    def list_cases(
        self, pipeline: str | None = None, status: Iterable[str] | None = None, limit: int = 1000
    ) -> list[Row[Any]]:
        query = select(cases).order_by(cases.c.created_at, cases.c.case_key).limit(limit)
        if pipeline:
            query = query.where(cases.c.pipeline == pipeline)
        if status:
            query = query.where(cases.c.status.in_(list(status)))
        with read_connection(self.engine) as conn:
            return list(conn.execute(query))

    def held_claims(self, pipeline: str | None = None, limit: int = 1000) -> list[Row[Any]]:
        """Claims that need a person, those nearest their limitation date first."""
        query = (
            select(claims)
            .where(claims.c.outcome.in_(["hold", "pending_approval"]), claims.c.case_key.is_(None))
            .order_by(claims.c.limitation_on.is_(None), claims.c.limitation_on, claims.c.due_date)
            .limit(limit)
        )
        if pipeline:
            query = query.where(claims.c.pipeline == pipeline)
        with read_connection(self.engine) as conn:
            return list(conn.execute(query))

    def limitation_claims(self, pipeline: str | None = None, limit: int = 1000) -> list[Row[Any]]:
        """Claims not yet handed over whose limitation date is near, nearest first."""
        query = (
            select(claims)
            .where(claims.c.limitation_on.is_not(None), claims.c.case_key.is_(None))
            .order_by(claims.c.limitation_on, claims.c.due_date)
            .limit(limit)
        )
        if pipeline:
            query = query.where(claims.c.pipeline == pipeline)
        with read_connection(self.engine) as conn:
            return list(conn.execute(query))

    def case_events(self, case_key: str) -> list[Row[Any]]:
        with read_connection(self.engine) as conn:
            return list(
                conn.execute(
                    select(events).where(events.c.case_key == case_key).order_by(events.c.at)
                )
            )

    # --- outbox ---------------------------------------------------------------------------

    @staticmethod
    def enqueue(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Store deliveries (with their idempotency keys) before anything is sent."""
        now = utcnow()
        insert_ignore(
            conn,
            outbox,
            [
                {
                    "status": "pending",
                    "attempts": 0,
                    "kind": "case",
                    "created_at": now,
                    "updated_at": now,
                    **row,
                }
                for row in rows
            ],
        )

    def _outbox_query(self, *, with_payload: bool = True) -> Any:
        return select(
            outbox.c.delivery_id,
            outbox.c.idempotency_key,
            outbox.c.case_key,
            outbox.c.status,
            outbox.c.payload if with_payload else null().label("payload"),
            outbox.c.attempts,
            func.coalesce(cases.c.claim_count, 0),
        ).select_from(outbox.outerjoin(cases, cases.c.case_key == outbox.c.case_key))

    def outbox_items(
        self,
        pipeline: str,
        agency: str,
        statuses: Sequence[str],
        limit: int,
        *,
        after_id: int = 0,
        kinds: Sequence[str] | None = None,
        with_payload: bool = True,
    ) -> list[OutboxItem]:
        """Deliveries in ``statuses`` (of ``kinds``: all when None), oldest first, after
        ``after_id`` (for one pass)."""
        query = (
            self._outbox_query(with_payload=with_payload)
            .where(
                outbox.c.pipeline == pipeline,
                outbox.c.agency == agency,
                outbox.c.status.in_(list(statuses)),
                outbox.c.delivery_id > after_id,
            )
            .order_by(outbox.c.delivery_id)
            .limit(limit)
        )
        if kinds is not None:
            query = query.where(outbox.c.kind.in_(list(kinds)))
        with read_connection(self.engine) as conn:
            return [OutboxItem(*row) for row in conn.execute(query)]

    def outbox_by_keys(
        self, keys: Sequence[str], *, with_payload: bool = False
    ) -> list[OutboxItem]:
        found: list[OutboxItem] = []
        with read_connection(self.engine) as conn:
            for chunk in chunked(keys):
                query = self._outbox_query(with_payload=with_payload).where(
                    outbox.c.idempotency_key.in_(list(chunk))
                )
                found.extend(OutboxItem(*row) for row in conn.execute(query))
        return found

    def outbox_payloads(self, keys: Sequence[str]) -> dict[str, str | None]:
        """Idempotency key → payload, for a batch read without them."""
        with read_connection(self.engine) as conn:
            return {
                row[0]: row[1]
                for chunk in chunked(keys)
                for row in conn.execute(
                    select(outbox.c.idempotency_key, outbox.c.payload).where(
                        outbox.c.idempotency_key.in_(list(chunk))
                    )
                )
            }

    def mark_sending(self, keys: Sequence[str]) -> None:
        """Committed before the send: a crash after this leaves 'sending' = outcome unknown."""
        with self.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.idempotency_key.in_(list(keys)))
                .values(status="sending", attempts=outbox.c.attempts + 1, updated_at=utcnow())
            )

    @staticmethod
    def set_outbox(conn: Connection, updates: Sequence[dict[str, Any]]) -> None:
        """Record outcomes: each update has key, status, agency_ref, reason (one executemany)."""
        if not updates:
            return
        now = utcnow()
        final = [u for u in updates if u["status"] in {"accepted", "rejected"}]
        other = [u for u in updates if u["status"] not in {"accepted", "rejected"}]
        where = outbox.c.idempotency_key == bindparam("b_key")
        values = {
            "status": bindparam("b_status"),
            "reason": bindparam("b_reason"),
            "agency_ref": func.coalesce(bindparam("b_ref"), outbox.c.agency_ref),
            "updated_at": now,
        }
        for rows, extra in ((final, {"payload": None}), (other, {})):
            # payload dropped once final: the agency has it, or never will
            if rows:
                conn.execute(
                    update(outbox).where(where).values(**values, **extra),
                    [
                        {
                            "b_key": u["key"],
                            "b_status": u["status"],
                            "b_reason": u.get("reason"),
                            "b_ref": u.get("agency_ref"),
                        }
                        for u in rows
                    ],
                )

    @staticmethod
    def set_case_statuses(conn: Connection, updates: Sequence[dict[str, Any]]) -> None:
        """Each update has case_key, status, agency_ref (one executemany per table)."""
        if not updates:
            return
        params = [
            {"b_key": u["case_key"], "b_status": u["status"], "b_ref": u.get("agency_ref")}
            for u in updates
        ]
        conn.execute(
            update(cases)
            .where(
                cases.c.case_key == bindparam("b_key"),
                # a late delivery outcome never moves back a case the agency has moved on
                cases.c.status.not_in([literal_column(f"'{s}'") for s in _AGENCY_STATUSES]),
            )
            .values(
                status=bindparam("b_status"),
                agency_ref=func.coalesce(bindparam("b_ref"), cases.c.agency_ref),
                updated_at=utcnow(),
            ),
            params,
        )
        with_ref = [p for p in params if p["b_ref"]]
        if with_ref:
            conn.execute(
                update(id_map)
                .where(id_map.c.case_key == bindparam("b_key"))
                .values(agency_ref=bindparam("b_ref")),
                [{"b_key": p["b_key"], "b_ref": p["b_ref"]} for p in with_ref],
            )

    def outbox_counts(self, pipeline: str | None = None) -> dict[str, int]:
        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        if pipeline:
            query = query.where(outbox.c.pipeline == pipeline)
        with read_connection(self.engine) as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    # --- quarantine and audit -------------------------------------------------------------

    @staticmethod
    def quarantine(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            now = utcnow()
            conn.execute(
                quarantine.insert(),
                [{**row, "reasons": json.dumps(row["reasons"]), "created_at": now} for row in rows],
            )

    def list_quarantine(
        self, pipeline: str | None = None, *, include_resolved: bool = False, limit: int = 1000
    ) -> list[Row[Any]]:
        query = select(quarantine).order_by(quarantine.c.quarantine_id.desc()).limit(limit)
        if pipeline:
            query = query.where(quarantine.c.pipeline == pipeline)
        if not include_resolved:
            query = query.where(quarantine.c.resolved_at.is_(None))
        with read_connection(self.engine) as conn:
            return list(conn.execute(query))

    def resolve_quarantine(self, pipeline: str, *, before_run: str) -> None:
        """Records quarantined by earlier runs are superseded by this run's own findings."""
        with self.begin() as conn:
            conn.execute(
                update(quarantine)
                .where(
                    quarantine.c.pipeline == pipeline,
                    quarantine.c.run_id != before_run,
                    quarantine.c.resolved_at.is_(None),
                )
                .values(resolved_at=utcnow())
            )

    @staticmethod
    def audit(
        conn: Connection,
        *,
        pipeline: str,
        run_id: str | None,
        action: str,
        subject: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        audit.append(
            conn, pipeline=pipeline, run_id=run_id, action=action, subject=subject, detail=detail
        )

    def verify_audit(self) -> int:
        return audit.verify_chain(self.engine)
