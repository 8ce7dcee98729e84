"""The state store's tables (SQLAlchemy Core). Changes go through an Alembic migration.

What is kept is what reconciliation and reports need: amounts, dates, statuses, ids and
references. Debtor personal data lives here only transiently: in the per-run staging tables
(cleared at the end of the run) and in an outbox payload until the agency has it.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

MONEY = Numeric(18, 2, asdecimal=True)
NAME = String(120)
KEY = String(200)


def _ts(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


cursors = Table(
    "cursors",
    metadata,
    Column("pipeline", NAME, primary_key=True),
    Column("stream", NAME, primary_key=True),
    Column("cursor", Text, nullable=True),
    _ts("updated_at"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("pipeline", NAME, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    _ts("started_at"),
    _ts("finished_at", nullable=True),
    Column("stats", Text, nullable=True),
    Column("error", Text, nullable=True),
    Index(None, "pipeline", "started_at"),
)

leases = Table(
    "leases",
    metadata,
    Column("pipeline", NAME, primary_key=True),
    Column("holder", String(100), nullable=False),
    _ts("acquired_at"),
    _ts("heartbeat_at"),
    _ts("expires_at"),
)

claims = Table(
    "claims",
    metadata,
    Column("pipeline", NAME, primary_key=True),
    Column("invoice_number", KEY, primary_key=True),
    Column("source_system", NAME, nullable=False),
    Column("source_company", NAME, nullable=False, default=""),
    Column("source_record_id", KEY, nullable=False),
    Column("debtor_id", KEY, nullable=False),
    Column("debtor_key", KEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("original_amount", MONEY, nullable=False),
    Column("remaining_principal", MONEY, nullable=False),
    Column("invoice_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("kid", String(40), nullable=True),
    Column("agency_payment_ref", String(60), nullable=True),  # what the debtor pays the agency with
    Column("outcome", String(20), nullable=False),
    Column("decision", Text, nullable=False),  # Decision JSON: reasons in plain words, no PII
    Column("decided_on", Date, nullable=False),
    Column("review_on", Date, nullable=True),  # a waiting claim: decide again on this day
    Column("limitation_on", Date, nullable=True),  # set when the limitation date is near
    Column("approved_on", Date, nullable=True),  # approved for hand-over by a person
    Column("approved_by", String(120), nullable=True),
    Column("case_key", String(40), nullable=True),
    Column("handed_over_on", Date, nullable=True),
    Column("status", String(20), nullable=False),  # open | handed_over | paid | credited | …
    Column("run_id", String(36), nullable=False),
    _ts("updated_at"),
    Index(None, "pipeline", "case_key"),
    Index(None, "pipeline", "debtor_key"),
    Index(None, "pipeline", "kid"),
    Index(None, "pipeline", "review_on"),
    Index(None, "pipeline", "limitation_on"),
    Index(None, "pipeline", "agency_payment_ref"),
)

cases = Table(
    "cases",
    metadata,
    Column("case_key", String(40), primary_key=True),
    Column("pipeline", NAME, nullable=False),
    Column("agency", NAME, nullable=False),
    Column("debtor_key", KEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total_principal", MONEY, nullable=False),
    Column("claim_count", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    # what delivery left (sent | accepted | rejected), kept once the agency's lifecycle statuses
    # take over ``status``: the start of every lifecycle replay (see claimbridge/reconcile)
    Column("delivery_status", String(20), nullable=True),
    Column("agency_ref", KEY, nullable=True),
    Column("quality_score", Integer, nullable=True),
    Column("forced", Boolean, nullable=False, default=False),
    _ts("created_at"),
    _ts("updated_at"),
    Index(None, "pipeline", "status"),
    Index(None, "agency", "agency_ref"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("delivery_id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", NAME, nullable=False),
    Column("agency", NAME, nullable=False),
    Column("case_key", String(40), nullable=False),
    Column("idempotency_key", String(80), nullable=False, unique=True),
    Column("kind", String(20), nullable=False, default="case"),  # case | payment | reduce | …
    Column("status", String(20), nullable=False),  # pending → sending → accepted|rejected|unknown
    Column("payload", Text, nullable=True),  # cleared once the outcome is final
    Column("attempts", Integer, nullable=False, default=0),
    Column("agency_ref", KEY, nullable=True),
    Column("reason", Text, nullable=True),
    Column("run_id", String(36), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    Index(None, "pipeline", "status"),
)

id_map = Table(
    "id_map",
    metadata,
    Column("pipeline", NAME, primary_key=True),
    Column("source_kind", String(20), primary_key=True),  # customer | invoice
    Column("source_id", KEY, primary_key=True),
    Column("case_key", String(40), primary_key=True),
    Column("agency_ref", KEY, nullable=True),
    Index(None, "case_key"),
)

payments_seen = Table(
    "payments_seen",
    metadata,
    Column("source", NAME, primary_key=True),
    Column("payment_id", KEY, primary_key=True),
    Column("pipeline", NAME, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("booking_date", Date, nullable=False),
    Column("reference", String(140), nullable=True),
    Column("case_key", String(40), nullable=True),
    Column("invoice_number", KEY, nullable=True),
    # matched | unmatched | ignored | to_report | reported | manual
    Column("status", String(20), nullable=False),
    Column("reason", String(40), nullable=True),  # why unmatched or ignored (a code)
    Column("kind", String(20), nullable=False, server_default="payment"),  # payment | credit_note
    _ts("seen_at"),
    Index(None, "pipeline", "status"),
)

settlements_seen = Table(
    "settlements_seen",
    metadata,
    Column("agency", NAME, primary_key=True),
    Column("line_id", KEY, primary_key=True),
    Column("settlement_id", KEY, nullable=False),
    Column("pipeline", NAME, nullable=False),
    Column("case_key", String(40), nullable=True),
    Column("invoice_number", KEY, nullable=True),
    Column("principal", MONEY, nullable=False),
    Column("interest", MONEY, nullable=False),
    Column("fees", MONEY, nullable=False),
    Column("commission", MONEY, nullable=False),
    Column("status", String(20), nullable=False),  # seen | booking | booked | unmatched
    Column("ledger_ref", KEY, nullable=True),  # the principal's payment id in the ledger
    Column("currency", String(3), nullable=True),
    Column("settlement_date", Date, nullable=True),
    Column("agency_ref", KEY, nullable=True),
    Column("voucher_ref", KEY, nullable=True),  # interest, fees and commission as one voucher
    Column("not_booked", Text, nullable=True),  # why a part was left unbooked (plain words)
    Column("run_id", String(36), nullable=True),
    _ts("seen_at"),
    _ts("booked_at", nullable=True),
    Index(None, "pipeline", "status"),
    Index(None, "ledger_ref"),
    Index(None, "pipeline", "invoice_number"),
)

updates_seen = Table(
    "updates_seen",
    metadata,
    Column("pipeline", NAME, primary_key=True),
    Column("agency", NAME, primary_key=True),
    Column("update_id", KEY, primary_key=True),
    Column("kind", String(20), nullable=False),  # receipt | status | message | settlement
    Column("case_key", String(40), nullable=True),  # NULL: no case of this pipeline
    Column("status", String(20), nullable=True),
    _ts("at", nullable=True),  # the agency's own time of a status change
    Column("run_id", String(36), nullable=False),
    _ts("seen_at"),
    Index(None, "pipeline", "case_key"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("quarantine_id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", NAME, nullable=False),
    Column("run_id", String(36), nullable=False),
    Column("stream", NAME, nullable=False),
    Column("location", String(500), nullable=False),  # file:line or stream:record id
    Column("record_id", KEY, nullable=True),
    Column("reasons", Text, nullable=False),  # JSON list of plain-words reasons, no PII
    _ts("created_at"),
    _ts("resolved_at", nullable=True),
    Index(None, "pipeline", "resolved_at"),
)

events = Table(
    "events",
    metadata,
    Column("event_id", KEY, primary_key=True),
    Column("case_key", String(40), nullable=False),
    _ts("at"),
    Column("kind", String(30), nullable=False),
    Column("direction", String(10), nullable=False),
    Column("status", String(20), nullable=True),
    Column("agency_ref", KEY, nullable=True),
    Column("message", Text, nullable=False),
    Index(None, "case_key", "at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    _ts("at"),
    Column("pipeline", NAME, nullable=False),
    Column("run_id", String(36), nullable=True),
    Column("action", String(50), nullable=False),
    Column("subject", KEY, nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

staged_parties = Table(
    "staged_parties",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("debtor_id", KEY, primary_key=True),
    Column("debtor_key", KEY, nullable=False),
    Column("score", Integer, nullable=False),
    Column("consumer", Boolean, nullable=False),
    Column("tags", Text, nullable=False),  # JSON list
    Column("holds", Text, nullable=False, default="[]"),  # JSON list of registry hold codes
    Column("party", Text, nullable=False),
    Column("quality", Text, nullable=False),
)

staged_claims = Table(
    "staged_claims",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("invoice_number", KEY, primary_key=True),
    Column("debtor_id", KEY, nullable=False),
    Column("debtor_key", KEY, nullable=True),  # NULL: debtor not seen yet, decided later
    Column("group_key", KEY, nullable=True),
    Column("outcome", String(20), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("remaining_principal", MONEY, nullable=False),
    Column("claim", Text, nullable=False),  # canonical JSON; empty unless sendable/deferred
    Column("decision", Text, nullable=True),
    Index(None, "run_id", "debtor_key", "group_key", "invoice_number"),
)
