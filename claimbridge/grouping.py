"""Grouping sendable claims into cases, and writing them to the outbox.

Claims arrive already decided and serialized (staged by the pipeline, in debtor order). A case
is assembled from those JSON fragments rather than rebuilt as objects: the payload is
canonical Case JSON, validated once more by the Case model when it is delivered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from claimbridge.schemas import SCHEMA_VERSION, CaseStatus, Creditor, Outcome, case_key
from claimbridge.state import StagedClaim, StateStore

__all__ = ["CaseWriter", "assemble_case_json", "handed_over_claim_row", "idempotency_key"]


def idempotency_key(agency: str, key: str, kind: str = "case") -> str:
    """Deterministic per (agency, case, kind): a rerun after a crash finds the same key."""
    return "cbk-" + hashlib.sha256(f"{agency}\x00{kind}\x00{key}".encode()).hexdigest()[:32]


def assemble_case_json(
    key: str,
    creditor_json: str,
    items: list[StagedClaim],
    today: dt.date,
    decisions: list[dict[str, Any]] | None = None,
) -> str:
    """Canonical Case JSON from staged fragments (field for field what ``Case`` dumps).

    ``decisions`` are the items' decision JSON already parsed, when the caller has them."""
    reasons: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    if decisions is None:
        decisions = [json.loads(item.decision_json) for item in items]
    for item, decision in zip(items, decisions, strict=True):
        prefix = f"invoice {item.invoice_number}: "
        reasons.extend({**r, "message": prefix + r["message"]} for r in decision["reasons"])
        warnings.extend({**w, "message": prefix + w["message"]} for w in decision["warnings"])
    decision_json = json.dumps(
        {
            "outcome": Outcome.SEND.value,
            "decided_on": today.isoformat(),
            "reasons": reasons,
            "warnings": warnings,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    claims_json = ",".join(item.claim_json for item in items)
    return (
        f'{{"schema_version":{SCHEMA_VERSION},"case_key":"{key}",'
        f'"creditor":{creditor_json},"debtor":{items[0].party_json},'
        f'"claims":[{claims_json}],"currency":"{items[0].currency}",'
        f'"decision":{decision_json},"quality":{items[0].quality_json},'
        f'"status":"{CaseStatus.QUEUED.value}"}}'
    )


def handed_over_claim_row(
    item: StagedClaim,
    decision: dict[str, Any],
    *,
    pipeline: str,
    case: str,
    run_id: str,
    today: dt.date,
    now: dt.datetime,
) -> dict[str, Any]:
    """The ``claims`` row of a claim handed over in ``case``: written once, with its case,
    rather than decided in one write and linked in another."""
    claim = json.loads(item.claim_json)
    source = claim["source"]
    limitation = next(
        (w.get("until") for w in decision["warnings"] if w["code"] == "limitation_near"), None
    )
    return {
        "pipeline": pipeline,
        "invoice_number": item.invoice_number,
        "source_system": source["system"],
        "source_company": source.get("company") or "",
        "source_record_id": source["record_id"],
        "debtor_id": claim["debtor_id"],
        "debtor_key": item.debtor_key,
        "currency": item.currency,
        "original_amount": Decimal(claim["original_amount"]),
        "remaining_principal": Decimal(item.remaining_principal),
        "invoice_date": dt.date.fromisoformat(claim["invoice_date"]),
        "due_date": dt.date.fromisoformat(claim["due_date"]),
        "kid": claim.get("kid"),
        "outcome": Outcome.SEND.value,
        "decision": item.decision_json,
        "decided_on": today,
        "review_on": None,
        "limitation_on": dt.date.fromisoformat(limitation) if limitation else None,
        "case_key": case,
        "handed_over_on": today,
        "status": "handed_over",
        "run_id": run_id,
        "updated_at": now,
    }


class CaseWriter:
    """Collects the rows of many cases and writes them in one transaction per batch."""

    def __init__(
        self,
        store: StateStore,
        *,
        pipeline: str,
        agency: str,
        creditor: Creditor,
        run_id: str,
        today: dt.date,
        forced: bool,
        dry_run: bool,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.agency = agency
        self.creditor = creditor
        self.creditor_json = creditor.model_dump_json()
        self.run_id = run_id
        self.today = today
        self.forced = forced
        self.dry_run = dry_run
        self.cases: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.ids: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.claims: list[dict[str, Any]] = []
        self.quarantine: list[dict[str, Any]] = []
        self.cursors: dict[str, str | None] = {}
        self.cases_written = 0
        self.claims_written = 0

    def add_case(self, items: list[StagedClaim]) -> None:
        """One case from the staged claims of one group (one debtor, one currency)."""
        first = items[0]
        numbers = [item.invoice_number for item in items]
        key = case_key(self.creditor.organization_number, first.debtor_key, numbers)
        principal = sum((Decimal(item.remaining_principal) for item in items), Decimal("0"))
        now = dt.datetime.now(dt.UTC)
        decisions = [json.loads(item.decision_json) for item in items]
        self.cases.append(
            {
                "case_key": key,
                "pipeline": self.pipeline,
                "agency": self.agency,
                "debtor_key": first.debtor_key,
                "currency": first.currency,
                "total_principal": principal,
                "claim_count": len(items),
                "status": CaseStatus.QUEUED.value,
                "quality_score": first.score,
                "forced": self.forced,
                "created_at": now,
                "updated_at": now,
            }
        )
        self.outbox.append(
            {
                "pipeline": self.pipeline,
                "agency": self.agency,
                "case_key": key,
                "idempotency_key": idempotency_key(self.agency, key),
                "payload": assemble_case_json(
                    key, self.creditor_json, items, self.today, decisions
                ),
                "run_id": self.run_id,
            }
        )
        # invoices map to their case through the claims table; customers through here
        self.ids.append(
            {
                "pipeline": self.pipeline,
                "source_kind": "customer",
                "source_id": first.debtor_id,
                "case_key": key,
            }
        )
        self.events.append(
            {
                "event_id": f"{key}:queued:{self.run_id}",
                "case_key": key,
                "at": now,
                "kind": "decision",
                "direction": "internal",
                "status": CaseStatus.QUEUED.value,
                "message": f"queued for {self.agency}: {len(items)} claim(s), "
                f"{principal} {first.currency}" + (" (forced)" if self.forced else ""),
            }
        )
        self.claims.extend(
            handed_over_claim_row(
                item,
                decision,
                pipeline=self.pipeline,
                case=key,
                run_id=self.run_id,
                today=self.today,
                now=now,
            )
            for item, decision in zip(items, decisions, strict=True)
        )
        self.cases_written += 1
        self.claims_written += len(items)

    def flush(self) -> None:
        if not self.dry_run:
            with self.store.begin() as conn:
                self._write(conn)
        for rows in (self.cases, self.outbox, self.ids, self.events, self.claims, self.quarantine):
            rows.clear()

    def _write(self, conn: Connection) -> None:
        store = self.store
        store.insert_cases(conn, self.cases)
        store.enqueue(conn, self.outbox)  # idempotency keys stored before anything is sent
        store.upsert_claims(conn, self.claims)  # each claim's row, linked to its case
        store.map_ids(conn, self.ids)
        store.add_events(conn, self.events)
        store.quarantine(
            conn,
            [{"pipeline": self.pipeline, "run_id": self.run_id, **q} for q in self.quarantine],
        )
        if self.cases:  # one chained entry per batch keeps the log cheap at 100,000s of cases
            store.audit(
                conn,
                pipeline=self.pipeline,
                run_id=self.run_id,
                action="cases.queued",
                subject=self.run_id,
                detail={
                    "cases": {
                        row["case_key"]: f"{row['total_principal']} {row['currency']}"
                        + (" forced" if row["forced"] else "")
                        for row in self.cases
                    }
                },
            )
        for stream, cursor in self.cursors.items():
            store.set_cursor(conn, self.pipeline, stream, cursor)
