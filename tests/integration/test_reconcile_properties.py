"""Properties of reconciliation over a real SQLite store and a real bookings journal:

- every settlement line booked puts exactly its parts in the ledger (principal on the invoice,
  interest + fees - commission in the bank through the voucher), and nothing else;
- applying the same updates again (in any chunking) changes nothing;
- any order of arrival of the same updates gives the same statuses and the same ledger.

The agency is never called here: updates are generated and fed to the same functions a run
feeds them to (``apply_updates`` then ``book_lines``).
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from claimbridge.connectors.accounting.files import OpenItemsFileSource, OpenItemsSettings
from claimbridge.connectors.accounting.journal import BookingsJournal
from claimbridge.connectors.agencies.sandbox import SandboxAgency, SandboxSettings
from claimbridge.connectors.base import AgencyUpdate, ConnectorContext, PushOutcome, PushStatus
from claimbridge.pipeline import PipelineSpec
from claimbridge.reconcile import ReconcileSettings, ReconcileSpec, ReconcileStats
from claimbridge.reconcile.booking import book_lines
from claimbridge.reconcile.context import RunContext
from claimbridge.reconcile.updates import apply_updates
from claimbridge.schemas import (
    CaseEvent,
    CaseStatus,
    Direction,
    EventKind,
    Settlement,
    SettlementLine,
)
from claimbridge.state import StateStore
from tests.factories import make_creditor

PIPELINE = "main"
AGENCY = "sandbox"
DAY = dt.date(2026, 11, 23)
CLAIMS = {  # case key → its claims (invoice number, principal)
    "cb-" + "1" * 24: (("5001", Decimal("1000.00")), ("5002", Decimal("250.00"))),
    "cb-" + "2" * 24: (("5003", Decimal("800.00")),),
    "cb-" + "3" * 24: (("5004", Decimal("99.90")),),
}
REFS = {key: f"SBX-{n:06d}" for n, key in enumerate(CLAIMS, start=1)}
SETTINGS = ReconcileSettings(
    bank_account="1920",
    interest_income_account="8050",
    fee_income_account="3900",
    commission_expense_account="7790",
)
CENT = Decimal("0.01")


# --- a store with three accepted cases ------------------------------------------------------


def _seed(store: StateStore) -> None:
    now = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    with store.begin() as conn:
        for case_key, claims in CLAIMS.items():
            store.insert_cases(
                conn,
                [
                    {
                        "case_key": case_key,
                        "pipeline": PIPELINE,
                        "agency": AGENCY,
                        "debtor_key": case_key,
                        "currency": "NOK",
                        "total_principal": sum(p for _, p in claims),
                        "claim_count": len(claims),
                        "status": "accepted",
                        "agency_ref": REFS[case_key],
                        "forced": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )
            store.upsert_claims(
                conn,
                [
                    {
                        "pipeline": PIPELINE,
                        "invoice_number": number,
                        "source_system": "files",
                        "source_company": "",
                        "source_record_id": number,
                        "debtor_id": "d" + number,
                        "debtor_key": case_key,
                        "currency": "NOK",
                        "original_amount": principal,
                        "remaining_principal": principal,
                        "invoice_date": DAY - dt.timedelta(days=90),
                        "due_date": DAY - dt.timedelta(days=60),
                        "kid": None,
                        "outcome": "send",
                        "decision": "{}",
                        "decided_on": DAY,
                        "case_key": case_key,
                        "handed_over_on": DAY,
                        "status": "handed_over",
                        "run_id": "seed",
                        "updated_at": now,
                    }
                    for number, principal in claims
                ],
            )


@contextmanager
def _reconciling(directory: Path) -> Iterator[tuple[RunContext, BookingsJournal]]:
    store = StateStore.open(f"sqlite:///{directory / 'state.db'}")
    _seed(store)
    source = OpenItemsFileSource(
        OpenItemsSettings(invoices=Path("unused.csv"), journal=Path("bookings.csv")),
        ConnectorContext(name="ledger", workdir=directory),
    )
    agency = SandboxAgency(  # never called: the updates are handed in
        SandboxSettings.model_validate({"url": "http://127.0.0.1:9", "token": "t"}),
        ConnectorContext(name=AGENCY),
    )
    spec = ReconcileSpec(PipelineSpec(PIPELINE, source, agency, make_creditor()), SETTINGS)
    ctx = RunContext(spec, store, "run", DAY, ReconcileStats())
    try:
        yield ctx, BookingsJournal(directory / "bookings.csv")
    finally:
        store.close()


def _apply(ctx: RunContext, updates: Sequence[AgencyUpdate], chunk: int) -> None:
    for start in range(0, len(updates), chunk):
        apply_updates(ctx, updates[start : start + chunk])
    book_lines(ctx)


# --- generated updates ------------------------------------------------------------------------


@st.composite
def lines_of(
    draw: st.DrawFn, case_key: str
) -> list[tuple[str, Decimal, Decimal, Decimal, Decimal]]:
    lines = []
    for number, principal in CLAIMS[case_key]:
        left = principal
        for _ in range(draw(st.integers(0, 2))):
            part = draw(st.decimals(min_value=0, max_value=left, places=2))
            left -= part
            interest = draw(st.decimals(min_value=0, max_value=50, places=2))
            fees = draw(st.sampled_from([Decimal("0.00"), Decimal("70.00"), Decimal("210.00")]))
            total = part + interest + fees
            commission = (total * draw(st.sampled_from([0, 10, 25])) / 100).quantize(CENT)
            if total > 0:
                lines.append((number, part, interest, fees, commission))
    return lines


@st.composite
def agency_updates(draw: st.DrawFn) -> list[AgencyUpdate]:
    updates: list[AgencyUpdate] = []
    event = 0
    for case_key, ref in REFS.items():
        for status in draw(
            st.lists(
                st.sampled_from(
                    [CaseStatus.ACTIVE, CaseStatus.PAUSED, CaseStatus.PAID, CaseStatus.CLOSED,
                     CaseStatus.RETURNED, CaseStatus.WITHDRAWN]
                ),
                max_size=4,
            )
        ):  # fmt: skip
            event += 1
            at = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC) + dt.timedelta(
                days=draw(st.integers(1, 90))
            )
            updates.append(
                AgencyUpdate(
                    update_id=f"evt-{event}",
                    event=CaseEvent(
                        event_id=f"evt-{event}",
                        case_key=case_key,
                        at=at,
                        kind=EventKind.STATUS,
                        direction=Direction.IN,
                        status=status,
                        agency_ref=ref,
                    ),
                )
            )
        for index, (number, principal, interest, fees, commission) in enumerate(
            draw(lines_of(case_key))
        ):
            period = f"2026-W{48 + index:02d}"
            line = SettlementLine(
                line_id=f"{ref}:{period}:{number}",
                case_key=case_key,
                agency_ref=ref,
                invoice_number=number,
                principal=principal,
                interest=interest,
                fees=fees,
                total=principal + interest + fees,
                commission=commission,
            )
            updates.append(
                AgencyUpdate(
                    update_id=f"settle-{line.line_id}",
                    settlement=Settlement(
                        settlement_id=f"{ref}:{period}",
                        agency=AGENCY,
                        settlement_date=DAY + dt.timedelta(days=7 * (index + 1)),
                        currency="NOK",
                        lines=(line,),
                    ),
                )
            )
    if draw(st.booleans()):  # a late receipt too: changes nothing for an accepted case
        updates.append(
            AgencyUpdate(
                "receipt-1",
                receipt=PushOutcome("k", PushStatus.ACCEPTED, agency_ref=REFS["cb-" + "1" * 24]),
            )
        )
    return updates


def _ledger(journal: BookingsJournal) -> list[tuple[str, str, str, Decimal]]:
    """The journal without its booking ids (which follow the order bookings were made in)."""
    return sorted((r.external_ref, r.kind, r.account, r.amount) for r in journal.rows())


def _state(ctx: RunContext) -> dict[str, Any]:
    with ctx.store.begin() as conn:
        cases = sorted(conn.exec_driver_sql("SELECT case_key, status FROM cases").fetchall())
        claims = sorted(
            conn.exec_driver_sql("SELECT invoice_number, status FROM claims").fetchall()
        )
        lines = sorted(
            conn.exec_driver_sql(
                "SELECT line_id, status, principal, interest, fees, commission,"
                " ledger_ref IS NOT NULL, voucher_ref IS NOT NULL FROM settlements_seen"
            ).fetchall()
        )
        seen = conn.exec_driver_sql("SELECT count(*) FROM updates_seen").scalar()
        events = conn.exec_driver_sql("SELECT count(*) FROM events").scalar()
    return {"cases": cases, "claims": claims, "lines": lines, "seen": seen, "events": events}


# --- the properties -------------------------------------------------------------------------


@given(
    st.decimals(min_value=0, max_value=10**6, places=2),
    st.decimals(min_value=0, max_value=10**4, places=2),
    st.decimals(min_value=0, max_value=10**4, places=2),
    st.decimals(min_value=Decimal("-1.00"), max_value=Decimal("1.00"), places=2),
)
def test_a_settlement_line_is_valid_only_when_its_parts_sum_to_its_total(
    principal: Decimal, interest: Decimal, fees: Decimal, off: Decimal
) -> None:
    total = principal + interest + fees + off
    arguments = {
        "line_id": "l",
        "principal": principal,
        "interest": interest,
        "fees": fees,
        "total": total,
    }
    if off == 0:
        assert SettlementLine(**arguments).total == principal + interest + fees  # type: ignore[arg-type]
    elif total >= 0:
        with pytest.raises(ValidationError, match=r"principal \+ interest \+ fees"):
            SettlementLine(**arguments)  # type: ignore[arg-type]


@pytest.mark.slow
@given(agency_updates(), st.integers(1, 5))
@settings(max_examples=25, deadline=None)
def test_every_booked_line_puts_exactly_its_parts_in_the_ledger(
    updates: list[AgencyUpdate], chunk: int
) -> None:
    with (
        tempfile.TemporaryDirectory() as directory,
        _reconciling(Path(directory)) as (
            ctx,
            journal,
        ),
    ):
        _apply(ctx, updates, chunk)
        rows = journal.rows()
        lines = {line.line_id: line for u in updates if u.settlement for line in u.settlement.lines}
        assert {r.external_ref.removesuffix("/voucher") for r in rows} <= set(lines)
        for line_id, line in lines.items():
            postings = [r for r in rows if r.external_ref in (line_id, f"{line_id}/voucher")]
            by_account: dict[str, Decimal] = {}
            for posting in postings:
                by_account[posting.account] = by_account.get(posting.account, 0) + posting.amount
            assert sum(by_account.values(), Decimal(0)) == 0
            assert by_account.get("1500", 0) == -line.principal
            assert by_account.get("8050", 0) == -line.interest
            assert by_account.get("3900", 0) == -line.fees
            assert by_account.get("7790", 0) == line.commission
            assert by_account.get("1920", 0) == line.total - line.commission  # the pay-out
        assert ctx.stats.lines_booked == len(lines)


@pytest.mark.slow
@given(agency_updates(), st.integers(1, 4), st.integers(1, 7))
@settings(max_examples=25, deadline=None)
def test_reconciling_the_same_updates_twice_changes_nothing(
    updates: list[AgencyUpdate], first_chunk: int, second_chunk: int
) -> None:
    with (
        tempfile.TemporaryDirectory() as directory,
        _reconciling(Path(directory)) as (
            ctx,
            journal,
        ),
    ):
        _apply(ctx, updates, first_chunk)
        state, ledger = _state(ctx), journal.rows()
        ctx.stats = ReconcileStats()
        _apply(ctx, updates, second_chunk)
        assert _state(ctx) == state
        assert journal.rows() == ledger
        assert ctx.stats.updates_read == 0
        assert ctx.stats.updates_skipped == len(updates)
        assert ctx.stats.lines_booked == 0


@pytest.mark.slow
@given(agency_updates(), st.randoms(use_true_random=False), st.integers(1, 5))
@settings(max_examples=25, deadline=None)
def test_any_order_of_arrival_gives_the_same_statuses_and_ledger(
    updates: list[AgencyUpdate], rnd: random.Random, chunk: int
) -> None:
    shuffled = list(updates)
    rnd.shuffle(shuffled)
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        with _reconciling(Path(one)) as (ctx_a, journal_a):
            _apply(ctx_a, updates, len(updates) or 1)
            state_a, ledger_a = _state(ctx_a), _ledger(journal_a)
        with _reconciling(Path(two)) as (ctx_b, journal_b):
            _apply(ctx_b, shuffled, chunk)
            state_b, ledger_b = _state(ctx_b), _ledger(journal_b)
    assert state_b["cases"] == state_a["cases"]
    assert state_b["claims"] == state_a["claims"]
    assert state_b["lines"] == state_a["lines"]
    assert ledger_b == ledger_a
