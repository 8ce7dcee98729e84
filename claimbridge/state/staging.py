"""Per-run staging: one run's grouping state, kept in the state store rather than in memory.

With invoices spread over debtors at random, grouping needs every claim of a debtor together,
which in memory would be the whole ledger. Instead the run stages each washed debtor and each
decided claim here and reads the sendable ones back in debtor order along an index. The rows
carry personal data: a run's rows are deleted when it ends, and a crashed run's at the start
of the pipeline's next.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, select, tuple_, update

from claimbridge.state._sql import chunked, insert_ignore, upsert
from claimbridge.state.engine import read_connection
from claimbridge.state.tables import runs, staged_claims, staged_parties

__all__ = ["DebtorFacts", "StagedClaim", "Staging"]

SENDABLE_PAGE = 2000  # staged claims read back per read transaction


@dataclass(frozen=True, slots=True)
class StagedClaim:
    """A sendable claim staged for grouping, with its debtor's already-serialized JSON."""

    debtor_key: str
    group_key: str
    invoice_number: str
    currency: str
    remaining_principal: Decimal
    claim_json: str
    decision_json: str
    debtor_id: str
    party_json: str
    quality_json: str
    score: int


@dataclass(frozen=True, slots=True)
class DebtorFacts:
    """What the policy needs of a debtor, without parsing the debtor's JSON."""

    debtor_key: str
    score: int
    consumer: bool
    tags: tuple[str, ...]
    holds: tuple[str, ...] = ()


class Staging:
    """The staging tables of one state database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def stage_parties(conn: Connection, run_id: str, rows: Sequence[dict[str, Any]]) -> None:
        upsert(
            conn,
            staged_parties,
            [{"run_id": run_id, **row} for row in rows],
            keys=("run_id", "debtor_id"),
        )

    @staticmethod
    def staged_invoice_numbers(conn: Connection, run_id: str, numbers: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunked(numbers):
            found.update(
                conn.execute(
                    select(staged_claims.c.invoice_number).where(
                        staged_claims.c.run_id == run_id,
                        staged_claims.c.invoice_number.in_(chunk),
                    )
                ).scalars()
            )
        return found

    @staticmethod
    def debtor_facts(
        conn: Connection, run_id: str, debtor_ids: Sequence[str]
    ) -> dict[str, DebtorFacts]:
        facts: dict[str, DebtorFacts] = {}
        columns = (
            staged_parties.c.debtor_id,
            staged_parties.c.debtor_key,
            staged_parties.c.score,
            staged_parties.c.consumer,
            staged_parties.c.tags,
            staged_parties.c.holds,
        )
        for chunk in chunked(debtor_ids):
            for row in conn.execute(
                select(*columns).where(
                    staged_parties.c.run_id == run_id, staged_parties.c.debtor_id.in_(chunk)
                )
            ):
                facts[row[0]] = DebtorFacts(
                    row[1], row[2], row[3], tuple(json.loads(row[4])), tuple(json.loads(row[5]))
                )
        return facts

    @staticmethod
    def stage_claims(conn: Connection, run_id: str, rows: Sequence[dict[str, Any]]) -> None:
        insert_ignore(conn, staged_claims, [{"run_id": run_id, **row} for row in rows])

    @staticmethod
    def restage_claims(conn: Connection, run_id: str, rows: Sequence[dict[str, Any]]) -> None:
        """Fill in the decision of claims staged before their debtor was seen."""
        if rows:
            conn.execute(
                update(staged_claims)
                .where(
                    staged_claims.c.run_id == run_id,
                    staged_claims.c.invoice_number == bindparam("b_number"),
                )
                .values(
                    debtor_key=bindparam("b_debtor_key"),
                    group_key=bindparam("b_group_key"),
                    outcome=bindparam("b_outcome"),
                    decision=bindparam("b_decision"),
                ),
                [{f"b_{k}": v for k, v in row.items()} for row in rows],
            )

    def deferred_claims(self, run_id: str) -> list[tuple[str, str, str]]:
        """(invoice number, debtor id, claim JSON) of claims staged before their debtor."""
        query = select(
            staged_claims.c.invoice_number, staged_claims.c.debtor_id, staged_claims.c.claim
        ).where(staged_claims.c.run_id == run_id, staged_claims.c.debtor_key.is_(None))
        with read_connection(self.engine) as conn:
            return [(row[0], row[1], row[2]) for row in conn.execute(query)]

    def iter_sendable(self, run_id: str) -> Iterator[StagedClaim]:
        """Sendable staged claims in (debtor, group, invoice) order, read along an index so
        the database never sorts the staged ledger.

        Read a page at a time, each page in its own short read transaction: one read held open
        across the whole grouping would keep SQLite from checkpointing the outbox rows written
        meanwhile, and its WAL (and the memory that indexes it) would grow with the ledger."""
        query = (
            select(
                staged_claims.c.debtor_key,
                staged_claims.c.group_key,
                staged_claims.c.invoice_number,
                staged_claims.c.currency,
                staged_claims.c.remaining_principal,
                staged_claims.c.claim,
                staged_claims.c.decision,
                staged_parties.c.debtor_id,
                staged_parties.c.party,
                staged_parties.c.quality,
                staged_parties.c.score,
            )
            .select_from(
                staged_claims.join(
                    staged_parties,
                    and_(
                        staged_parties.c.run_id == staged_claims.c.run_id,
                        staged_parties.c.debtor_id == staged_claims.c.debtor_id,
                    ),
                )
            )
            .where(
                staged_claims.c.run_id == run_id,
                staged_claims.c.debtor_key.is_not(None),
                staged_claims.c.outcome == "send",
            )
            .order_by(
                staged_claims.c.debtor_key,
                staged_claims.c.group_key,
                staged_claims.c.invoice_number,
            )
        )
        order = (
            staged_claims.c.debtor_key,
            staged_claims.c.group_key,
            staged_claims.c.invoice_number,
        )
        after: tuple[str, str, str] | None = None
        while True:
            page = query if after is None else query.where(tuple_(*order) > tuple_(*after))
            with read_connection(self.engine) as conn:
                rows = conn.execute(page.limit(SENDABLE_PAGE)).all()
            for row in rows:
                yield StagedClaim(*row)
            if len(rows) < SENDABLE_PAGE:
                return
            after = (rows[-1][0], rows[-1][1], rows[-1][2])

    def clear(self, pipeline: str, *, keep_run: str | None = None) -> None:
        """Drop the staged rows (personal data) of ``pipeline``'s finished or crashed runs.

        Other pipelines sharing the store may be running: their staging is left alone.
        """
        runs_of_pipeline = select(runs.c.run_id).where(runs.c.pipeline == pipeline)
        if keep_run:
            runs_of_pipeline = runs_of_pipeline.where(runs.c.run_id != keep_run)
        with self.engine.begin() as conn:
            for table in (staged_claims, staged_parties):
                conn.execute(delete(table).where(table.c.run_id.in_(runs_of_pipeline)))
