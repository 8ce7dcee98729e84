"""Matching bank payments to claims: by KID/OCR reference first, then by amount and debtor.

A wrong match books someone else's money against a claim and tells the agency a debt is paid
when it is not, so the engine never guesses: a payment is matched only when its reference names
one claim, or when something in it names the debtor and exactly one open claim of that debtor
has exactly the paid amount. Everything else goes to the review list with a reason code.

The work streams in chunks: per chunk one lookup of the payments already seen, one of the
claims by KID, one of the invoice numbers quoted in the text and one of those debtors' open
claims, then one insert of the outcomes. Memory holds one chunk, never the ledger. Claims are
not changed here; reconciliation books partial and over-payments later.

Outcomes go to ``payments_seen``; for ``unmatched`` and ``ignored`` rows its ``reason`` column
holds the reason code (see docs/matching.md).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from typing import Any

from sqlalchemy import Connection, select
from stdnum import iso11649

from claimbridge.quality.reference import kid_is_valid, ocr_is_valid
from claimbridge.schemas.payment import Payment, PaymentKind
from claimbridge.state._sql import chunked, insert_ignore
from claimbridge.state.engine import read_connection
from claimbridge.state.store import StateStore
from claimbridge.state.tables import claims, payments_seen

__all__ = [
    "CLOSED_STATUSES",
    "REASONS",
    "MatchReport",
    "UnmatchedPayment",
    "invoice_numbers_in",
    "match_payments",
    "reference_keys",
    "source_key",
    "unmatched",
]

DEFAULT_CHUNK = 5000
CLOSED_STATUSES = frozenset({"paid", "credited", "withdrawn", "written_off", "closed"})
"""Claim statuses that take no more money by amount; a KID still matches them (over-payment)."""

REASONS: dict[str, str] = {
    "not_a_credit": "the amount is zero or negative (a reversal or a debit)",
    "no_reference": "nothing in the payment names a claim or a debtor",
    "unknown_reference": "no claim has this KID/OCR reference or invoice number",
    "kid_ambiguous": "several claims share this KID and the amount singles out none",
    "currency_mismatch": "the claim or debtor found is in another currency",
    "debtor_ambiguous": "the invoice numbers quoted belong to different debtors",
    "amount_not_found": "no open claim of the debtor has exactly this remaining amount",
    "amount_ambiguous": "several open claims of the debtor have exactly this remaining amount",
    "agency_settlement": "the agency's own settlement, reconciled from its settlement lines",
}
"""Reason codes of unmatched and ignored payments, with the words the review list shows."""

_TEXT_LIMIT = 500  # characters of free text searched for invoice numbers
_MAX_INVOICE_CANDIDATES = 5
_KEYWORD_INVOICE = re.compile(
    r"\b(?:faktura|fakt|fact|invoice|inv|rechnung|lasku)\.?\s*"
    r"(?:nr|no|num|number|nummer)?\.?\s*[:#-]?\s*([A-Z0-9][A-Z0-9/-]{0,29})\b",
    re.IGNORECASE | re.ASCII,
)
_BARE_INVOICE = re.compile(  # a whole text that is one invoice-number-like token
    r"(?=(?:[^0-9]*[0-9]){3})[A-Z]{0,4}[-/]?[0-9]+(?:[-/][0-9]+){0,3}", re.IGNORECASE | re.ASCII
)


@dataclass(slots=True)
class MatchReport:
    """Counts of one matching pass; no per-payment data, so it stays small for any input."""

    seen: int = 0
    duplicates: int = 0
    matched: Counter[str] = field(default_factory=Counter)  # by method: kid | invoice | amount
    unmatched: Counter[str] = field(default_factory=Counter)  # by reason code
    ignored: Counter[str] = field(default_factory=Counter)  # by reason code
    partial: int = 0
    over: int = 0

    @property
    def matched_total(self) -> int:
        return sum(self.matched.values())

    @property
    def unmatched_total(self) -> int:
        return sum(self.unmatched.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "duplicates": self.duplicates,
            "matched": dict(self.matched),
            "unmatched": dict(self.unmatched),
            "ignored": dict(self.ignored),
            "partial": self.partial,
            "over": self.over,
        }


@dataclass(frozen=True, slots=True)
class UnmatchedPayment:
    """One row of the review list (``claimbridge payments unmatched``)."""

    source: str
    payment_id: str
    amount: Decimal
    currency: str
    booking_date: dt.date
    reference: str | None
    reason: str
    seen_at: dt.datetime

    @property
    def reason_text(self) -> str:
        return REASONS.get(self.reason, self.reason)


@dataclass(frozen=True, slots=True)
class _Claim:
    invoice_number: str
    debtor_key: str
    currency: str
    remaining: Decimal
    case_key: str | None
    status: str

    @property
    def is_open(self) -> bool:
        return self.remaining > 0 and self.status not in CLOSED_STATUSES


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: str  # matched | unmatched | ignored
    code: str  # method when matched, reason otherwise
    claim: _Claim | None = None


def source_key(payment: Payment) -> str:
    """The ``payments_seen.source`` of a payment: its system, and company when it has one."""
    ref = payment.source
    return f"{ref.system}:{ref.company}" if ref.company else ref.system


def reference_keys(reference: str | None) -> tuple[str, ...]:
    """The KID/OCR/RF forms a reference could be stored under in ``claims.kid``.

    Only references whose check digit is right count, so a mistyped or free-text reference
    can never select a claim by itself.
    """
    if not reference:
        return ()
    compact = "".join(reference.split())
    if not compact or len(compact) > 35 or not compact.isascii():
        return ()
    if kid_is_valid(compact) or ocr_is_valid(compact):
        return (compact,)
    if compact[:2].upper() == "RF" and iso11649.is_valid(compact):
        return (iso11649.compact(compact),)
    return ()


def invoice_numbers_in(*texts: str | None) -> tuple[str, ...]:
    """Invoice numbers a payer wrote: after a keyword (``faktura 12345``, ``inv. no 77``), or
    a text that is nothing but one number-like token. At most a few, in order of appearance."""
    found: list[str] = []
    for text in texts:
        if not text:
            continue
        text = text[:_TEXT_LIMIT]
        for match in _KEYWORD_INVOICE.finditer(text):
            token = match.group(1).strip("/-")
            if any(c.isdigit() for c in token):
                found.append(token)
        stripped = text.strip()
        if len(stripped) <= 30 and _BARE_INVOICE.fullmatch(stripped):
            found.append(stripped)
    return tuple(dict.fromkeys(found))[:_MAX_INVOICE_CANDIDATES]


def _is_agency_settlement(
    payment: Payment, accounts: Collection[str], prefixes: Sequence[str]
) -> bool:
    if payment.kind is PaymentKind.SETTLEMENT:
        return True
    if payment.payer_account and "".join(payment.payer_account.split()) in accounts:
        return True
    reference = (payment.reference or "").strip().upper()
    return bool(reference) and any(reference.startswith(p) for p in prefixes)


def _compact(reference: str | None) -> str:
    return "".join((reference or "").split())


def _agency_payment_refs(conn: Connection, pipeline: str, payments: Sequence[Payment]) -> set[str]:
    """References that are what a debtor pays the agency with (``claims.agency_payment_ref``,
    e.g. Amili Sweden's OCR numbers): money paid with them is the agency's, never direct."""
    wanted = sorted({_compact(p.reference) for p in payments} - {""})
    found: set[str] = set()
    for batch in chunked(wanted):
        query = select(claims.c.agency_payment_ref).where(
            claims.c.pipeline == pipeline, claims.c.agency_payment_ref.in_(list(batch))
        )
        found.update(str(ref) for (ref,) in conn.execute(query))
    return found


def _claim_columns() -> tuple[Any, ...]:
    return (
        claims.c.invoice_number,
        claims.c.debtor_key,
        claims.c.currency,
        claims.c.remaining_principal,
        claims.c.case_key,
        claims.c.status,
    )


def _to_claim(row: Sequence[Any]) -> _Claim:
    return _Claim(row[0], row[1], row[2], Decimal(row[3]).quantize(Decimal("0.01")), *row[4:])


def _claims_where(conn: Connection, pipeline: str, column: Any, values: set[str]) -> list[_Claim]:
    found: list[_Claim] = []
    for batch in chunked(sorted(values)):
        query = select(*_claim_columns()).where(claims.c.pipeline == pipeline, column.in_(batch))
        found.extend(_to_claim(row) for row in conn.execute(query))
    return found


def _already_seen(conn: Connection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Keys already in ``payments_seen``, looked up per source so the primary key is used
    (a row-value ``IN`` makes SQLite scan the table, which grows with every run)."""
    by_source: dict[str, list[str]] = {}
    for source, payment_id in keys:
        by_source.setdefault(source, []).append(payment_id)
    seen: set[tuple[str, str]] = set()
    for source, ids in by_source.items():
        for batch in chunked(ids):
            query = select(payments_seen.c.payment_id).where(
                payments_seen.c.source == source, payments_seen.c.payment_id.in_(batch)
            )
            seen.update((source, payment_id) for payment_id in conn.execute(query).scalars())
    return seen


def _by_amount(
    payment: Payment, candidates: Sequence[_Claim], method: str, missing: str
) -> _Outcome:
    """Exactly one claim with the paid amount, or unmatched with why not."""
    same = [c for c in candidates if c.remaining == payment.amount]
    if len(same) == 1:
        return _Outcome("matched", method, same[0])
    return _Outcome("unmatched", "amount_ambiguous" if same else missing)


class _Chunk:
    """The claims one chunk of payments can reach, fetched in a few queries."""

    def __init__(self, conn: Connection, pipeline: str, payments: Sequence[Payment]) -> None:
        self.parsed = [
            (
                p,
                reference_keys(p.reference),
                invoice_numbers_in(p.invoice_number, p.reference, p.message),
            )
            for p in payments
        ]
        self.by_kid: dict[str, list[_Claim]] = {}
        kids = {k for _, ks, _ in self.parsed for k in ks}
        for claim_kid, claim in _claims_by_kid(conn, pipeline, kids):
            self.by_kid.setdefault(claim_kid, []).append(claim)
        numbers = {n for _, _, ns in self.parsed for n in ns}
        self.by_invoice = {
            c.invoice_number: c
            for c in _claims_where(conn, pipeline, claims.c.invoice_number, numbers)
        }
        debtors = {c.debtor_key for c in self.by_invoice.values()}
        self.open_by_debtor: dict[str, list[_Claim]] = {}
        for claim in _claims_where(conn, pipeline, claims.c.debtor_key, debtors):
            if claim.is_open:
                self.open_by_debtor.setdefault(claim.debtor_key, []).append(claim)

    def outcomes(self) -> Iterator[tuple[Payment, _Outcome]]:
        for payment, kids, invoices in self.parsed:
            yield payment, self._decide(payment, kids, invoices)

    def _decide(
        self, payment: Payment, kids: tuple[str, ...], invoices: tuple[str, ...]
    ) -> _Outcome:
        kid_claims = [c for k in kids for c in self.by_kid.get(k, ())]
        if kid_claims:
            in_currency = [c for c in kid_claims if c.currency == payment.currency]
            if not in_currency:
                return _Outcome("unmatched", "currency_mismatch")
            if len(in_currency) == 1:
                return _Outcome("matched", "kid", in_currency[0])
            return _by_amount(payment, in_currency, "kid", "kid_ambiguous")
        quoted = [self.by_invoice[n] for n in invoices if n in self.by_invoice]
        if not quoted:
            return _Outcome(
                "unmatched", "unknown_reference" if kids or invoices else "no_reference"
            )
        if len({c.debtor_key for c in quoted}) > 1:
            return _Outcome("unmatched", "debtor_ambiguous")
        exact = [
            c
            for c in quoted
            if c.is_open and c.currency == payment.currency and c.remaining == payment.amount
        ]
        if len(exact) == 1:  # the quoted invoice itself, for exactly its remaining amount
            return _Outcome("matched", "invoice", exact[0])
        debtor_claims = self.open_by_debtor.get(quoted[0].debtor_key, [])
        in_currency = [c for c in debtor_claims if c.currency == payment.currency]
        if debtor_claims and not in_currency:
            return _Outcome("unmatched", "currency_mismatch")
        return _by_amount(payment, in_currency, "amount", "amount_not_found")


def _claims_by_kid(conn: Connection, pipeline: str, kids: set[str]) -> Iterator[tuple[str, _Claim]]:
    for batch in chunked(sorted(kids)):
        query = select(claims.c.kid, *_claim_columns()).where(
            claims.c.pipeline == pipeline, claims.c.kid.in_(batch)
        )
        for row in conn.execute(query):
            yield row[0], _to_claim(row[1:])


def _row(pipeline: str, payment: Payment, outcome: _Outcome, now: dt.datetime) -> dict[str, Any]:
    reference = payment.reference
    claim = outcome.claim
    return {
        "source": source_key(payment),
        "payment_id": payment.payment_id,
        "pipeline": pipeline,
        "amount": payment.amount,
        "currency": payment.currency,
        "booking_date": payment.booking_date,
        "reference": reference[:140] if reference else None,
        "case_key": claim.case_key if claim else None,
        "invoice_number": claim.invoice_number if claim else None,
        "status": outcome.status,
        "reason": None if outcome.status == "matched" else outcome.code,
        "seen_at": now,
    }


def _chunks(payments: Iterable[Payment], size: int) -> Iterator[list[Payment]]:
    iterator = iter(payments)
    while chunk := list(islice(iterator, size)):
        yield chunk


def match_payments(
    store: StateStore,
    pipeline: str,
    payments: Iterable[Payment],
    *,
    agency_accounts: Collection[str] = frozenset(),
    agency_reference_prefixes: Sequence[str] = (),
    chunk_size: int = DEFAULT_CHUNK,
) -> MatchReport:
    """Match ``payments`` (any iterable, consumed once, in chunks) against the pipeline's
    claims and record every outcome in ``payments_seen``.

    Payments already in ``payments_seen`` (same source and payment id) are skipped, so running
    again over the same files changes nothing. Payments from ``agency_accounts`` or with a
    reference starting with one of ``agency_reference_prefixes`` are the agency's settlements:
    recorded as ``ignored``, never reported back as direct payments.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    accounts = {"".join(a.split()) for a in agency_accounts}
    prefixes = tuple(p.strip().upper() for p in agency_reference_prefixes if p.strip())
    report = MatchReport()
    for chunk in _chunks(payments, chunk_size):
        with store.begin() as conn:
            _match_chunk(conn, pipeline, chunk, accounts, prefixes, report)
    return report


def _match_chunk(
    conn: Connection,
    pipeline: str,
    chunk: Sequence[Payment],
    accounts: Collection[str],
    prefixes: Sequence[str],
    report: MatchReport,
) -> None:
    report.seen += len(chunk)
    fresh: dict[tuple[str, str], Payment] = {}
    for payment in chunk:
        fresh.setdefault((source_key(payment), payment.payment_id), payment)
    seen = _already_seen(conn, list(fresh))
    todo = [p for key, p in fresh.items() if key not in seen]
    report.duplicates += len(chunk) - len(todo)
    decided: list[tuple[Payment, _Outcome]] = []
    to_match: list[Payment] = []
    agency_refs = _agency_payment_refs(conn, pipeline, todo)
    for payment in todo:
        if _is_agency_settlement(payment, accounts, prefixes) or (
            _compact(payment.reference) in agency_refs
        ):
            decided.append((payment, _Outcome("ignored", "agency_settlement")))
        elif payment.amount <= 0:
            decided.append((payment, _Outcome("unmatched", "not_a_credit")))
        else:
            to_match.append(payment)
    if to_match:
        decided.extend(_Chunk(conn, pipeline, to_match).outcomes())
    now = dt.datetime.now(dt.UTC)
    rows = []
    for payment, outcome in decided:
        _count(report, payment, outcome)
        rows.append(_row(pipeline, payment, outcome, now))
    insert_ignore(conn, payments_seen, rows)


def _count(report: MatchReport, payment: Payment, outcome: _Outcome) -> None:
    if outcome.status == "ignored":
        report.ignored[outcome.code] += 1
    elif outcome.claim is None:
        report.unmatched[outcome.code] += 1
    else:
        report.matched[outcome.code] += 1
        if payment.amount < outcome.claim.remaining:
            report.partial += 1
        elif payment.amount > outcome.claim.remaining:
            report.over += 1


def unmatched(store: StateStore, pipeline: str, *, limit: int = 1000) -> list[UnmatchedPayment]:
    """The review list: unmatched payments of ``pipeline``, oldest booking first."""
    columns = payments_seen.c
    query = (
        select(
            columns.source,
            columns.payment_id,
            columns.amount,
            columns.currency,
            columns.booking_date,
            columns.reference,
            columns.seen_at,
            columns.reason,
        )
        .where(columns.pipeline == pipeline, columns.status == "unmatched")
        .order_by(columns.booking_date, columns.source, columns.payment_id)
        .limit(limit)
    )
    found: list[UnmatchedPayment] = []
    with read_connection(store.engine) as conn:
        for row in conn.execute(query):
            reason, reference = row[7] or "unknown", row[5]
            found.append(
                UnmatchedPayment(
                    source=row[0],
                    payment_id=row[1],
                    amount=Decimal(row[2]).quantize(Decimal("0.01")),
                    currency=row[3],
                    booking_date=row[4],
                    reference=reference,
                    reason=reason,
                    seen_at=row[6],
                )
            )
    return found
