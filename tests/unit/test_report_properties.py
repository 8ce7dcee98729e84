"""Reports over random ledgers agree with the same rules written out in plain Python.

The SQL does the rules with date comparisons, cents and joins; the oracle below does them one
claim at a time with ``Decimal`` and ``date`` arithmetic. Any disagreement (a bucket edge, a
join that drops or doubles a row, a sum that drifts) is a failing example.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from claimbridge.report import aging_report, cashflow_report, recovery_report, resolution_report
from claimbridge.report.sql import age_buckets
from claimbridge.state import StateStore
from claimbridge.state.reconciliation import booked_totals
from claimbridge.state.tables import metadata
from tests.state_rows import add, case, claim, payment, settlement

TODAY = dt.date(2026, 11, 23)
STATUSES = ["queued", "sent", "accepted", "active", "paused", "paid", "closed", "withdrawn"]
STATUSES += ["returned", "rejected"]
FINISHED = {"paid", "closed", "withdrawn", "returned"}
CURRENCIES = ["NOK", "SEK", "EUR"]
LINE_STATUSES = ["seen", "booking", "booked", "partly_booked", "not_booked", "unmatched"]
# (status, reason) of payments_seen rows as reconciliation and matching leave them
PAYMENT_STATES = [
    ("matched", None),
    ("to_report", None),
    ("reported", None),
    ("manual", "agency_cannot_report"),
    ("unmatched", "unknown_reference"),
    ("ignored", "agency_settlement"),
    ("ignored", "before_hand_over"),
    ("ignored", "case_closed"),
    ("ignored", "same_as_reported"),
    ("ignored", "not_a_credit"),
    ("ignored", "reporting_off"),
    ("ignored", "no_case"),
]
COUNTED = {("matched", None), ("to_report", None), ("reported", None)}
COUNTED |= {("manual", "agency_cannot_report"), ("ignored", "case_closed")}
COUNTED |= {("ignored", "reporting_off")}
SHOWN = {"matched": "to_report", "ignored": "not_reported"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateStore]:
    path: Path = tmp_path_factory.mktemp("props") / "state.db"
    opened = StateStore.open(f"sqlite:///{path}")
    yield opened
    opened.close()


def _empty(store: StateStore) -> None:
    with store.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))


EDGES = [-1, 0, 30, 31, 60, 61, 90, 91, 180, 181, 365, 366]
cents = st.one_of(st.sampled_from([0, 1, 2, 100]), st.integers(min_value=0, max_value=5_000_000))
days = st.one_of(st.sampled_from(EDGES), st.integers(min_value=-40, max_value=800))


@st.composite
def _line(draw: st.DrawFn, n: int, key: str, currency: str, handed_on: dt.date) -> dict[str, Any]:
    """A settlement line as reconciliation leaves it: in the claim's currency unless the agency
    settled in another (then ``unmatched``), with the ledger ids of the parts booked so far."""
    status = draw(st.sampled_from(LINE_STATUSES))
    if status == "unmatched" and draw(st.booleans()):
        currency = draw(st.sampled_from([c for c in CURRENCIES if c != currency]))
    line = settlement(
        f"S{n}",
        on=handed_on + dt.timedelta(days=draw(st.integers(0, 120))),
        principal=str(Decimal(draw(cents)).scaleb(-2)),
        interest=str(Decimal(draw(st.integers(0, 9999))).scaleb(-2)),
        fees=str(Decimal(draw(st.sampled_from([0, 7000]))).scaleb(-2)),
        commission=str(Decimal(draw(st.integers(0, 9999))).scaleb(-2)),
        currency=currency,
        case_key=key,
        invoice_number=f"I{n}",
        status=status,
    )
    if status in ("booking", "partly_booked"):  # one part in the ledger, or none yet
        principal_in, voucher_in = draw(st.sampled_from([(True, False), (False, True)]))
        line["ledger_ref"] = f"pay-{line['line_id']}" if principal_in else None
        line["voucher_ref"] = f"{line['line_id']}/voucher" if voucher_in else None
    return line


@st.composite
def _money_in(
    draw: st.DrawFn, n: int, key: str, currency: str, handed_on: dt.date
) -> dict[str, Any]:
    """A payment or credit note on the claim, in any state reconciliation leaves one."""
    status, reason = draw(st.sampled_from(PAYMENT_STATES))
    return payment(
        str(Decimal(draw(st.integers(1, 500_000))).scaleb(-2)),
        booked=handed_on + dt.timedelta(days=draw(st.integers(-10, 60))),
        currency=currency,
        case_key=key,
        invoice_number=f"I{n}",
        status=status,
        reason=reason,
        kind=draw(st.sampled_from(["payment", "payment", "credit_note"])),
    )


@st.composite
def ledgers(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    claims_, cases_, lines, payments = [], [], [], []
    for n in range(draw(st.integers(min_value=0, max_value=25))):
        currency = draw(st.sampled_from(CURRENCIES))
        principal = Decimal(draw(cents)).scaleb(-2)
        handed = draw(st.booleans())
        ago = draw(st.one_of(st.just(0), st.integers(-5, 400)))
        handed_on = TODAY - dt.timedelta(days=ago) if handed else None
        due = (handed_on or TODAY) - dt.timedelta(days=draw(days))
        key = f"cb-{n}" if handed else None
        row = claim(
            f"I{n}",
            str(principal),
            due=due,
            currency=currency,
            case_key=key,
            handed_over_on=handed_on,
            outcome=draw(st.sampled_from(["wait", "hold", "skip", "send"])),
            invoice_date=due - dt.timedelta(days=draw(st.integers(0, 60))),
        )
        claims_.append(row)
        if key is None or handed_on is None:
            continue
        cases_.append(case(key, [row], status=draw(st.sampled_from(STATUSES))))
        for _ in range(draw(st.integers(0, 2))):
            lines.append(draw(_line(n, key, currency, handed_on)))
        for _ in range(draw(st.integers(0, 2))):
            payments.append(draw(_money_in(n, key, currency, handed_on)))
    return {
        "claim_rows": claims_,
        "case_rows": cases_,
        "settlement_rows": lines,
        "payment_rows": payments,
    }


# --- the oracle ---------------------------------------------------------------------------


def _bucket(days_past_due: int) -> str:
    for bucket in age_buckets():
        low = -(10**9) if bucket.first_day is None else bucket.first_day
        high = 10**9 if bucket.last_day is None else bucket.last_day
        if low <= days_past_due <= high:
            return bucket.label
    raise AssertionError(days_past_due)


def _counted(ledger: dict[str, list[dict[str, Any]]], p: dict[str, Any]) -> bool:
    """A payments_seen row that is money (or a credit) on its claim after hand-over."""
    claim_ = next(c for c in ledger["claim_rows"] if c["invoice_number"] == p["invoice_number"])
    status = next(c["status"] for c in ledger["case_rows"] if c["case_key"] == p["case_key"])
    return (
        (p["status"], p["reason"]) in COUNTED
        and p["booking_date"] >= claim_["handed_over_on"]
        and status != "rejected"
    )


def _recovered(
    ledger: dict[str, list[dict[str, Any]]], number: str, as_of: dt.date
) -> tuple[Decimal, Decimal]:
    """(principal back, credited) on the claim up to ``as_of``."""
    settled = sum(
        (
            line["principal"]
            for line in ledger["settlement_rows"]
            if line["invoice_number"] == number
            and line["status"] != "unmatched"
            and line["settlement_date"] <= as_of
        ),
        Decimal(0),
    )
    money_in = [
        p
        for p in ledger["payment_rows"]
        if p["invoice_number"] == number and p["booking_date"] <= as_of and _counted(ledger, p)
    ]
    paid = sum((p["amount"] for p in money_in if p["kind"] == "payment"), Decimal(0))
    credited = sum((p["amount"] for p in money_in if p["kind"] == "credit_note"), Decimal(0))
    return settled + paid, credited


def _expected_aging(ledger: dict[str, list[dict[str, Any]]]) -> Counter[tuple[Any, ...]]:
    statuses = {c["case_key"]: c["status"] for c in ledger["case_rows"]}
    found: Counter[tuple[Any, ...]] = Counter()
    for row in ledger["claim_rows"]:
        principal = row["remaining_principal"]
        if row["invoice_date"] > TODAY or principal <= 0:
            continue
        key = row["case_key"]
        status = statuses.get(key, "queued")
        handed = key is not None and row["handed_over_on"] <= TODAY and status != "rejected"
        if handed and status not in FINISHED:
            agency: str | None = "sandbox"
            got, credited = _recovered(ledger, row["invoice_number"], TODAY)
            outstanding = max(Decimal(0), principal - got - credited)
        elif not handed:
            agency, outstanding = None, principal
        else:
            continue
        if outstanding > 0:
            bucket = _bucket((TODAY - row["due_date"]).days)
            found[agency, row["currency"], bucket, "claims"] += 1
            found[agency, row["currency"], bucket, "principal"] += outstanding  # type: ignore[assignment]
    return found


def _expected_resolution(ledger: dict[str, list[dict[str, Any]]]) -> Counter[tuple[str, str]]:
    statuses = {c["case_key"]: c["status"] for c in ledger["case_rows"]}
    found: Counter[tuple[str, str]] = Counter()
    for row in ledger["claim_rows"]:
        key = row["case_key"]
        if key is None or row["handed_over_on"] > TODAY or statuses[key] == "rejected":
            continue
        status = statuses[key]
        got, credited = _recovered(ledger, row["invoice_number"], TODAY)
        covered = got + credited >= row["remaining_principal"] and (got > 0 or credited == 0)
        if status == "paid" or covered:
            outcome = "paid_in_full"
        elif got > 0:
            outcome = "partly_paid"
        elif status == "returned":
            outcome = "returned"
        elif status not in FINISHED:
            outcome = "open"
        else:
            outcome = "closed"
        found[_bucket((row["handed_over_on"] - row["due_date"]).days), outcome] += 1
    return found


# --- the properties -----------------------------------------------------------------------

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(ledger=ledgers())
def test_aging_agrees_with_the_oracle(store: StateStore, ledger: dict[str, Any]) -> None:
    _empty(store)
    add(store, **ledger)
    got: Counter[tuple[Any, ...]] = Counter()
    for r in aging_report(store, as_of=TODAY).rows:
        got[r.agency, r.currency, r.bucket, "claims"] += r.claims
        got[r.agency, r.currency, r.bucket, "principal"] += r.principal  # type: ignore[assignment]
    assert got == _expected_aging(ledger)


@SETTINGS
@given(ledger=ledgers())
def test_resolution_agrees_with_the_oracle(store: StateStore, ledger: dict[str, Any]) -> None:
    _empty(store)
    add(store, **ledger)
    got: Counter[tuple[str, str]] = Counter()
    for summary in resolution_report(store, as_of=TODAY).by_age:
        for outcome, count in summary.outcomes.items():
            if count:
                got[summary.bucket, outcome] += count
    assert got == _expected_resolution(ledger)


@SETTINGS
@given(ledger=ledgers())
def test_recovery_totals_agree_with_the_lines(store: StateStore, ledger: dict[str, Any]) -> None:
    """Every line the agency paid out is recovered, whatever its booking status; booked is what
    the ledger holds, part by part — the store's own ``booked_totals``."""
    _empty(store)
    add(store, **ledger)
    expected: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for line in ledger["settlement_rows"]:
        sums = expected[line["currency"]]
        sums[0] += line["principal"]
        sums[1] += line["principal"] + line["interest"] + line["fees"] - line["commission"]
        sums[2] += 1
    totals = recovery_report(store).totals
    got = {
        t.currency: [t.recovered.principal, t.recovered.net, Decimal(t.recovered.lines)]
        for t in totals
        if t.recovered.lines
    }
    assert got == dict(expected)
    booked = {
        t.currency: (
            t.booked.lines, t.booked.principal, t.booked.interest, t.booked.fees,
            t.booked.commission,
        )
        for t in totals
        if t.booked.lines
    }  # fmt: skip
    ledger_holds = {
        currency: (t.lines, t.principal, t.interest, t.fees, t.commission)
        for currency, t in booked_totals(store.engine, "main").items()
    }
    assert booked == ledger_holds


@SETTINGS
@given(ledger=ledgers())
def test_direct_payments_agree_with_the_oracle(store: StateStore, ledger: dict[str, Any]) -> None:
    """Cash flow lists the payments that are money on a claim after hand-over, never the
    agency's own pay-outs, a second record of one payment, a reversal or a credit note."""
    _empty(store)
    add(store, **ledger)
    expected: Counter[tuple[Any, ...]] = Counter()
    for p in ledger["payment_rows"]:
        if p["kind"] == "payment" and _counted(ledger, p):
            key = (p["booking_date"].isoformat()[:7], p["currency"])
            status = SHOWN.get(p["status"], p["status"])
            expected[(*key, status, "payments")] += 1
            expected[(*key, status, "amount")] += p["amount"]  # type: ignore[assignment]
    got: Counter[tuple[Any, ...]] = Counter()
    for d in cashflow_report(store).direct_payments:
        got[d.month, d.currency, d.status, "payments"] += d.payments
        got[d.month, d.currency, d.status, "amount"] += d.amount  # type: ignore[assignment]
    assert got == expected
