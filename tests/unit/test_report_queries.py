"""Every report query against a real store (SQLite; PostgreSQL marked ``service``), filled
through the store's own tables with the small ledger in ``tests/report_ledger.py``, whose
numbers are worked out by hand there and in the assertions below.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from claimbridge.report import (
    Filters,
    aging_report,
    cashflow_report,
    recovery_report,
    resolution_report,
    status_report,
)
from claimbridge.report.recovery import Amounts
from claimbridge.state import StateStore
from claimbridge.state.reconciliation import booked_totals
from claimbridge.state.tables import metadata
from tests.integration.postgres import throwaway_cluster
from tests.report_ledger import MINUTE, MORNING, SEP1, TODAY, YESTERDAY, day, report_ledger
from tests.state_rows import add, case, claim, payment, settlement

D = Decimal


# --- stores -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with throwaway_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.service)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        opened = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
        yield opened
        opened.close()
        return
    opened = StateStore.open(request.getfixturevalue("postgres_url"))
    try:
        yield opened
    finally:
        with opened.begin() as conn:  # one cluster per module: leave it empty for the next test
            for table in reversed(metadata.sorted_tables):
                conn.execute(delete(table))
        opened.close()


@pytest.fixture
def ledger(store: StateStore) -> StateStore:
    add(store, **report_ledger())
    return store


# --- status -------------------------------------------------------------------------------


def test_status_counts_cases_and_claims_per_pipeline_agency_status_and_currency(
    ledger: StateStore,
) -> None:
    report = status_report(ledger)
    assert [
        (r.pipeline, r.agency, r.status, r.currency, r.cases, r.claims, r.principal)
        for r in report.cases
    ] == [
        ("main", "sandbox", "accepted", "EUR", 1, 1, D("120.00")),
        ("main", "sandbox", "active", "NOK", 1, 2, D("1500.00")),
        ("main", "sandbox", "paid", "NOK", 1, 1, D("250.00")),
        ("main", "sandbox", "rejected", "NOK", 1, 1, D("700.00")),
        ("main", "sandbox", "returned", "SEK", 1, 1, D("800.00")),
        ("main", "sandbox", "withdrawn", "NOK", 1, 1, D("90.00")),
        ("other", "drop", "queued", "NOK", 1, 1, D("60.00")),
    ]
    assert [
        (r.pipeline, r.agency, r.status, r.currency, r.claims, r.principal) for r in report.claims
    ] == [
        ("main", None, "open", "EUR", 1, D("50.00")),
        ("main", None, "open", "NOK", 4, D("600.00")),
        ("main", None, "open", "SEK", 1, D("400.00")),
        ("main", "sandbox", "handed_over", "EUR", 1, D("120.00")),
        ("main", "sandbox", "handed_over", "NOK", 5, D("2540.00")),
        ("main", "sandbox", "handed_over", "SEK", 1, D("800.00")),
        ("other", None, "open", "NOK", 1, D("1000.00")),
        ("other", "drop", "handed_over", "NOK", 1, D("60.00")),
    ]


def test_status_says_why_claims_were_not_sent_and_what_is_stuck(ledger: StateStore) -> None:
    report = status_report(ledger)
    not_sent = [(r.pipeline, r.outcome, r.currency, r.claims, r.principal) for r in report.not_sent]
    assert not_sent == [
        ("main", "hold", "NOK", 1, D("200.00")),
        ("main", "pending_approval", "NOK", 1, D("300.00")),
        ("main", "skip", "EUR", 1, D("50.00")),
        ("main", "skip", "NOK", 1, D("0.00")),
        ("main", "wait", "NOK", 1, D("100.00")),
        ("main", "wait", "SEK", 1, D("400.00")),
        ("other", "send", "NOK", 1, D("1000.00")),
    ]
    assert [(r.pipeline, r.stream, r.records) for r in report.quarantine] == [
        ("main", "customers", 1),
        ("main", "invoices", 2),  # the resolved one is not counted
        ("other", "invoices", 1),
    ]
    assert [(r.pipeline, r.agency, r.kind, r.status, r.deliveries) for r in report.outbox] == [
        ("main", "sandbox", "case", "accepted", 5),
        ("main", "sandbox", "case", "rejected", 1),
        ("main", "sandbox", "withdraw", "accepted", 1),
        ("other", "drop", "case", "pending", 1),
    ]


def test_status_shows_the_last_run_of_each_kind(ledger: StateStore) -> None:
    runs = [
        (r.pipeline, r.kind, r.status, r.started_at, r.finished_at)
        for r in status_report(ledger).last_runs
    ]
    assert runs == [
        ("main", "reconcile", "ok", YESTERDAY, YESTERDAY + MINUTE),
        ("main", "sync", "ok", MORNING, MORNING + MINUTE),
        ("other", "sync", "running", MORNING, None),
    ]


def test_status_of_one_pipeline(ledger: StateStore) -> None:
    report = status_report(ledger, Filters(pipeline="other"))
    assert {r.pipeline for r in (*report.cases, *report.claims)} == {"other"}
    assert [(r.status, r.principal) for r in report.cases] == [("queued", D("60.00"))]
    assert [(r.outcome, r.claims) for r in report.not_sent] == [("send", 1)]
    assert [r.records for r in report.quarantine] == [1]
    assert [(r.pipeline, r.status) for r in report.last_runs] == [("other", "running")]


# --- aging --------------------------------------------------------------------------------


def _aging(store: StateStore, **kw: Any) -> list[tuple[Any, ...]]:
    report = aging_report(store, as_of=kw.pop("as_of", TODAY), **kw)
    return [
        (r.pipeline, r.agency, r.currency, r.bucket, r.claims, r.principal) for r in report.rows
    ]


def test_aging_splits_agency_from_not_handed_over_and_keeps_currencies_apart(
    ledger: StateStore,
) -> None:
    assert _aging(ledger) == [
        ("main", None, "EUR", ">365", 1, D("50.00")),
        ("main", None, "NOK", "0-30", 2, D("300.00")),  # N1 (0 days) and N2 (30 days)
        ("main", None, "NOK", "31-60", 1, D("300.00")),  # N3 (31 days)
        ("main", None, "NOK", "91-180", 1, D("700.00")),  # H5: its case was rejected
        ("main", None, "SEK", "not due", 1, D("400.00")),
        # H1 1000 − 500 settled, H2 500 − 50 paid directly; paid/returned/withdrawn hold nothing
        ("main", "sandbox", "NOK", "91-180", 2, D("950.00")),
        ("other", None, "NOK", "0-30", 1, D("1000.00")),
        ("other", "drop", "NOK", "0-30", 1, D("60.00")),
    ]


def test_aging_as_of_an_earlier_day_counts_only_what_was_known_then(ledger: StateStore) -> None:
    rows = _aging(ledger, as_of=day(10, 31), filters=Filters(pipeline="main"))
    assert rows == [
        ("main", None, "EUR", "0-30", 1, D("120.00")),  # H6 was handed over on 11-20
        ("main", None, "EUR", ">365", 1, D("50.00")),
        ("main", None, "NOK", "0-30", 2, D("500.00")),  # N2, N3; N1 was not invoiced yet
        ("main", None, "NOK", "91-180", 1, D("700.00")),
        ("main", "sandbox", "NOK", "61-90", 1, D("500.00")),  # H2, nothing paid by then
        ("main", "sandbox", "NOK", "91-180", 1, D("600.00")),  # H1 less October's 400
    ]


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-1, "not due"),
        (0, "0-30"),
        (30, "0-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "91-180"),
        (180, "91-180"),
        (181, "181-365"),
        (365, "181-365"),
        (366, ">365"),
    ],
)
def test_aging_bucket_edges(store: StateStore, days: int, bucket: str) -> None:
    add(store, claim_rows=[claim("E", "10.00", due=TODAY - dt.timedelta(days=days))])
    [row] = aging_report(store, as_of=TODAY).rows
    assert (row.bucket, row.claims, row.principal) == (bucket, 1, D("10.00"))


def test_aging_with_own_bucket_edges(store: StateStore) -> None:
    add(
        store,
        claim_rows=[
            claim(f"E{d}", "1.00", due=TODAY - dt.timedelta(days=d)) for d in (0, 7, 8, 14, 15, 99)
        ],
    )
    report = aging_report(store, as_of=TODAY, edges=(7, 14))
    assert report.buckets == ("not due", "0-7", "8-14", ">14")
    assert [(r.bucket, r.claims) for r in report.rows] == [("0-7", 2), ("8-14", 2), (">14", 2)]


@pytest.mark.parametrize("edges", [(), (30, 30), (60, 30), (-1, 30)])
def test_aging_refuses_edges_that_make_no_buckets(store: StateStore, edges: tuple[int]) -> None:
    with pytest.raises(ValueError, match="edge"):
        aging_report(store, as_of=TODAY, edges=edges)


# --- recovery -----------------------------------------------------------------------------


def _amounts(a: Amounts) -> tuple[Any, ...]:
    return (a.lines, a.principal, a.interest, a.fees, a.commission, a.total, a.net)


def test_recovery_per_month_and_in_total_with_the_rate(ledger: StateStore) -> None:
    report = recovery_report(ledger)
    months = [(m.month, m.pipeline, m.agency, m.currency) for m in report.months]
    assert months == [("2026-10", "main", "sandbox", "NOK"), ("2026-11", "main", "sandbox", "NOK")]
    october, november = report.months
    october_amounts = (
        2, D("650.00"), D("30.00"), D("105.00"), D("78.50"), D("785.00"), D("706.50"),
    )  # fmt: skip
    assert _amounts(october.recovered) == october_amounts
    assert _amounts(october.booked) == october_amounts  # both lines booked
    assert _amounts(november.recovered) == (
        1, D("100.00"), D("5.00"), D("0.00"), D("10.50"), D("105.00"), D("94.50"),
    )  # fmt: skip
    assert november.booked.lines == 0
    assert november.booked.net == D("0.00")
    totals = {(t.pipeline, t.agency, t.currency): t for t in report.totals}
    assert list(totals) == [
        ("main", "sandbox", "EUR"),
        ("main", "sandbox", "NOK"),
        ("main", "sandbox", "SEK"),
        ("other", "drop", "NOK"),
    ]
    nok = totals["main", "sandbox", "NOK"]
    assert _amounts(nok.recovered) == (
        3, D("750.00"), D("35.00"), D("105.00"), D("89.00"), D("890.00"), D("801.00"),
    )  # fmt: skip
    assert nok.booked.net == D("706.50")
    # handed over: H1 1000 + H2 500 + H3 250 + H7 90 (H5's case was rejected)
    assert (nok.handed_over, nok.recovered_to_date, nok.recovery_rate) == (
        D("1840.00"),
        D("750.00"),
        D("0.4076"),
    )
    eur = totals["main", "sandbox", "EUR"]  # paid straight to the creditor: not the agency's
    assert (eur.handed_over, eur.recovered_to_date, eur.recovery_rate) == (
        D("120.00"),
        D("0.00"),
        D("0.0000"),
    )
    assert totals["main", "sandbox", "SEK"].recovery_rate == D("0.0000")
    assert totals["other", "drop", "NOK"].handed_over == D("60.00")


def test_recovery_within_a_period(ledger: StateStore) -> None:
    since = recovery_report(ledger, Filters(since=day(11, 1)))
    assert [m.month for m in since.months] == ["2026-11"]
    nok = next(t for t in since.totals if t.currency == "NOK" and t.pipeline == "main")
    assert nok.recovered.principal == D("100.00")
    assert nok.recovery_rate == D("0.4076")  # the rate is to date, not from `since`

    until = recovery_report(ledger, Filters(until=day(10, 31)))
    assert [m.month for m in until.months] == ["2026-10"]
    keys = [(t.pipeline, t.currency) for t in until.totals]
    assert keys == [("main", "NOK"), ("main", "SEK")]  # H6 and O2 were handed over later
    assert until.totals[0].recovery_rate == D("0.3533")  # 650 / 1840


def test_recovery_rate_with_nothing_handed_over_is_none(store: StateStore) -> None:
    add(store, settlement_rows=[settlement("S1", on=day(10, 5), principal="10.00")])
    [total] = recovery_report(store).totals
    assert total.currency == "NOK"
    assert (total.handed_over, total.recovered_to_date, total.recovery_rate) == (
        D("0.00"),
        D("10.00"),
        None,
    )


def test_recovery_sums_exactly_where_floats_would_lose_cents(store: StateStore) -> None:
    """SQLite keeps NUMERIC as binary floats: its own SUM over these gives …267.97, not
    …268.00. The reports sum whole cents instead."""
    amounts = [D("123456789012.34") + D(i * 13 % 100) / 100 for i in range(800)]
    add(
        store,
        settlement_rows=[
            settlement("S", on=day(10, 5), principal=str(a), commission="0.10") for a in amounts
        ],
    )
    [month] = recovery_report(store).months
    assert month.recovered.principal == sum(amounts)
    assert month.recovered.commission == D("80.00")
    assert month.recovered.net == sum(amounts) - D("80.00")


# --- cash flow ----------------------------------------------------------------------------


def test_cashflow_per_settlement_day_and_month_and_direct_payments(ledger: StateStore) -> None:
    report = cashflow_report(ledger)

    def payouts(rows: Any) -> list[tuple[Any, ...]]:
        return [
            (p.period, p.agency, p.currency, p.settlements, p.lines, p.total, p.commission, p.net)
            for p in rows
        ]

    assert payouts(report.days) == [
        ("2026-10-05", "sandbox", "NOK", 2, 2, D("785.00"), D("78.50"), D("706.50")),
        ("2026-11-05", "sandbox", "NOK", 1, 1, D("105.00"), D("10.50"), D("94.50")),
    ]
    assert payouts(report.months) == [
        ("2026-10", "sandbox", "NOK", 2, 2, D("785.00"), D("78.50"), D("706.50")),
        ("2026-11", "sandbox", "NOK", 1, 1, D("105.00"), D("10.50"), D("94.50")),
    ]
    assert [
        (p.month, p.pipeline, p.currency, p.status, p.payments, p.amount)
        for p in report.direct_payments
    ] == [
        ("2026-11", "main", "EUR", "reported", 1, D("120.00")),
        # the unmatched one is no claim's; the agency's own pay-out is its settlement line
        ("2026-11", "main", "NOK", "to_report", 1, D("50.00")),
    ]


def test_cashflow_within_a_period(ledger: StateStore) -> None:
    report = cashflow_report(ledger, Filters(since=day(10, 6), until=day(11, 20)))
    assert [p.period for p in report.days] == ["2026-11-05"]
    assert [(p.currency, p.status) for p in report.direct_payments] == [("NOK", "to_report")]


# --- resolution ---------------------------------------------------------------------------


def test_resolution_by_age_at_hand_over(ledger: StateStore) -> None:
    report = resolution_report(ledger, as_of=TODAY)
    assert [
        (r.pipeline, r.agency, r.currency, r.bucket, r.claims, r.principal, r.recovered)
        for r in report.rows
    ] == [
        ("main", "sandbox", "EUR", "31-60", 1, D("120.00"), D("120.00")),
        ("main", "sandbox", "NOK", "0-30", 1, D("500.00"), D("50.00")),
        ("main", "sandbox", "NOK", "31-60", 2, D("1090.00"), D("500.00")),
        ("main", "sandbox", "NOK", "91-180", 1, D("250.00"), D("250.00")),
        ("main", "sandbox", "SEK", "181-365", 1, D("800.00"), D("0.00")),
        ("other", "drop", "NOK", "0-30", 1, D("60.00"), D("0.00")),
    ]
    nok_31_60 = report.rows[2]
    assert nok_31_60.outcomes == {
        "paid_in_full": 0,
        "partly_paid": 1,  # H1: 500 of 1000
        "returned": 0,
        "open": 0,
        "closed": 1,  # H7: withdrawn with nothing paid
    }
    assert nok_31_60.shares["partly_paid"] == D("0.5000")
    by_age = {s.bucket: (s.claims, s.outcomes, s.shares) for s in report.by_age}
    assert list(by_age) == ["0-30", "31-60", "91-180", "181-365"]
    claims_, outcomes, shares = by_age["31-60"]
    assert claims_ == 3
    assert (outcomes["paid_in_full"], outcomes["partly_paid"], outcomes["closed"]) == (1, 1, 1)
    assert shares["paid_in_full"] == D("0.3333")
    assert by_age["0-30"][1] == {
        "paid_in_full": 0,
        "partly_paid": 1,
        "returned": 0,
        "open": 1,
        "closed": 0,
    }
    assert by_age["91-180"][2]["paid_in_full"] == D("1.0000")  # H3: the case is paid
    assert by_age["181-365"][2]["returned"] == D("1.0000")
    assert by_age["181-365"][2]["open"] == D("0.0000")


def test_resolution_of_claims_handed_over_in_a_period(ledger: StateStore) -> None:
    report = resolution_report(ledger, Filters(since=day(11, 1)), as_of=TODAY)
    assert [(r.currency, r.bucket, r.outcomes["paid_in_full"]) for r in report.rows] == [
        ("EUR", "31-60", 1),  # H6
        ("NOK", "0-30", 0),  # O2, still open
    ]


def test_resolution_counts_money_up_to_as_of(ledger: StateStore) -> None:
    report = resolution_report(ledger, Filters(pipeline="main"), as_of=day(10, 31))
    h2 = next(r for r in report.rows if r.currency == "NOK" and r.bucket == "0-30")
    assert h2.outcomes["open"] == 1  # the direct payment came on 11-12
    assert "EUR" not in {r.currency for r in report.rows}  # H6 was handed over on 11-20


def test_over_payment_counts_as_the_claims_own_principal(store: StateStore) -> None:
    h = claim("H", "100.00", due=day(8, 1), case_key="cb-x", handed_over_on=SEP1)
    add(
        store,
        claim_rows=[h],
        case_rows=[case("cb-x", [h], status="active")],
        payment_rows=[payment("150.00", booked=day(9, 10), case_key="cb-x", invoice_number="H")],
    )
    [row] = resolution_report(store, as_of=TODAY).rows
    assert (row.outcomes["paid_in_full"], row.recovered) == (1, D("100.00"))
    assert aging_report(store, as_of=TODAY).rows == ()


# --- the empty store ---------------------------------------------------------------------


def test_every_report_of_an_empty_store_is_empty(store: StateStore) -> None:
    status = status_report(store)
    assert all(getattr(status, part) == () for part in status.__slots__)
    assert aging_report(store, as_of=TODAY).rows == ()
    recovery = recovery_report(store)
    assert (recovery.months, recovery.totals) == ((), ())
    cashflow = cashflow_report(store)
    assert (cashflow.days, cashflow.months, cashflow.direct_payments) == ((), (), ())
    resolution = resolution_report(store, as_of=TODAY)
    assert (resolution.rows, resolution.by_age) == ((), ())


# --- what counts: settlement statuses, payment statuses and kinds, missing values ---------


def test_every_line_the_agency_paid_out_is_recovered_and_booked_is_what_the_ledger_holds(
    store: StateStore,
) -> None:
    h = claim("H", "1000.00", due=day(8, 1), case_key="cb-h", handed_over_on=SEP1)
    lines = [
        settlement("S", on=day(10, 5), principal="100.00", interest="10.00", commission="5.00",
                   case_key="cb-h", invoice_number="H", status="booked"),
        # the principal is booked; the voucher is not (no interest account configured)
        settlement("S", on=day(10, 5), principal="200.00", interest="20.00", commission="10.00",
                   case_key="cb-h", invoice_number="H", status="partly_booked",
                   ledger_ref="pay-2"),
        settlement("S", on=day(10, 5), principal="50.00", commission="2.00",
                   case_key="cb-h", invoice_number="H", status="not_booked"),
        settlement("S", on=day(10, 5), principal="30.00",
                   case_key="cb-h", invoice_number="H", status="seen"),
        # settled in SEK on a NOK claim: on no claim, but the agency did pay it out
        settlement("S", on=day(10, 5), principal="40.00", currency="SEK",
                   case_key="cb-h", invoice_number="H", status="unmatched"),
    ]  # fmt: skip
    add(store, claim_rows=[h], case_rows=[case("cb-h", [h])], settlement_rows=lines)
    totals = {t.currency: t for t in recovery_report(store).totals}
    nok = totals["NOK"]
    # 100 + 200 + 50 + 30; interest 10 + 20; commission 5 + 10 + 2
    assert _amounts(nok.recovered) == (
        4, D("380.00"), D("30.00"), D("0.00"), D("17.00"), D("410.00"), D("393.00"),
    )  # fmt: skip
    # the ledger holds the first line whole and the second's principal
    assert _amounts(nok.booked) == (
        2, D("300.00"), D("10.00"), D("0.00"), D("5.00"), D("310.00"), D("305.00"),
    )  # fmt: skip
    held = booked_totals(store.engine, "main")
    assert set(held) == {"NOK"}
    assert (held["NOK"].lines, held["NOK"].principal, held["NOK"].interest) == (
        2,
        D("300.00"),
        D("10.00"),
    )
    assert (held["NOK"].fees, held["NOK"].commission) == (D("0.00"), D("5.00"))
    assert (nok.handed_over, nok.recovered_to_date, nok.recovery_rate) == (
        D("1000.00"),
        D("380.00"),
        D("0.3800"),
    )
    sek = totals["SEK"]
    assert (sek.recovered.principal, sek.handed_over, sek.recovery_rate) == (
        D("40.00"),
        D("0.00"),
        None,
    )
    # aging: 1000 − 380 settled on H; the SEK line is not taken off a NOK claim
    assert _aging(store) == [("main", "sandbox", "NOK", "91-180", 1, D("620.00"))]


def _money_on_p() -> list[dict[str, Any]]:
    """Payments-seen rows on claim P (1000.00, handed over 09-01), as reconciliation leaves
    them; the comment says whether each is money the debtor paid after hand-over."""

    def on_p(amount: str, booked: dt.date, status: str, **kw: Any) -> dict[str, Any]:
        return payment(amount, booked=booked, case_key="cb-p", invoice_number="P",
                       status=status, **kw)  # fmt: skip

    return [
        on_p("100.00", day(9, 10), "reported"),  # yes: told the agency
        on_p("50.00", day(11, 1), "to_report"),  # yes: waiting to be told
        on_p("20.00", day(11, 2), "matched"),  # yes: a bank payment, told in this run
        on_p("30.00", day(11, 3), "manual", reason="agency_cannot_report"),  # yes
        on_p("25.00", day(11, 4), "ignored", reason="reporting_off"),  # yes
        on_p("400.00", day(10, 6), "ignored", reason="agency_settlement"),  # no: the agency's
        on_p("60.00", day(8, 25), "ignored", reason="before_hand_over"),  # no
        on_p("100.00", day(9, 11), "ignored", reason="same_as_reported"),  # no: the bank's copy
        on_p("-10.00", day(9, 12), "ignored", reason="not_a_credit"),  # no: a reversal
        on_p("15.00", day(8, 30), "to_report"),  # no: booked before the hand-over
        on_p("200.00", day(10, 1), "reported", kind="credit_note"),  # owed less; no money
    ]


def test_what_counts_as_a_direct_payment(store: StateStore) -> None:
    p = claim("P", "1000.00", due=day(8, 1), case_key="cb-p", handed_over_on=SEP1)
    add(store, claim_rows=[p], case_rows=[case("cb-p", [p])], payment_rows=_money_on_p())
    direct = [
        (d.month, d.currency, d.status, d.payments, d.amount)
        for d in cashflow_report(store).direct_payments
    ]
    assert direct == [
        ("2026-09", "NOK", "reported", 1, D("100.00")),
        ("2026-11", "NOK", "manual", 1, D("30.00")),
        ("2026-11", "NOK", "not_reported", 1, D("25.00")),
        ("2026-11", "NOK", "to_report", 2, D("70.00")),  # 50 waiting + 20 matched
    ]
    # outstanding at the agency: 1000 − 225 paid directly − 200 credited
    assert _aging(store) == [("main", "sandbox", "NOK", "91-180", 1, D("575.00"))]
    [row] = resolution_report(store, as_of=TODAY).rows
    assert (row.outcomes["partly_paid"], row.recovered) == (1, D("225.00"))
    [total] = recovery_report(store).totals  # direct payments are not the agency's recovery
    assert (total.recovered_to_date, total.recovery_rate) == (D("0.00"), D("0.0000"))


def test_a_credit_note_lowers_what_was_owed_but_is_no_money(store: StateStore) -> None:
    q = claim("Q", "300.00", due=day(8, 1), case_key="cb-q", handed_over_on=SEP1)
    r = claim("R", "300.00", due=day(8, 1), case_key="cb-r", handed_over_on=SEP1)
    add(
        store,
        claim_rows=[q, r],
        case_rows=[case("cb-q", [q], status="withdrawn"), case("cb-r", [r])],
        payment_rows=[
            # Q credited in full (the agency withdrew it); R credited 100 …
            payment(
                "300.00",
                booked=day(9, 5),
                case_key="cb-q",
                invoice_number="Q",
                status="reported",
                kind="credit_note",
            ),
            payment(
                "100.00",
                booked=day(9, 5),
                case_key="cb-r",
                invoice_number="R",
                status="reported",
                kind="credit_note",
            ),
        ],
        # … and the agency collected the other 200
        settlement_rows=[
            settlement(
                "S",
                on=day(10, 5),
                principal="200.00",
                case_key="cb-r",
                invoice_number="R",
                status="booked",
            ),
        ],
    )
    [row] = resolution_report(store, as_of=TODAY).rows
    assert row.outcomes == {
        "paid_in_full": 1,  # R: 200 collected covers 300 less the 100 credited
        "partly_paid": 0,
        "returned": 0,
        "open": 0,
        "closed": 1,  # Q: credited, nothing paid
    }
    assert (row.principal, row.recovered) == (D("600.00"), D("200.00"))
    assert aging_report(store, as_of=TODAY).rows == ()  # R owes 300 − 200 − 100 = 0
    assert cashflow_report(store).direct_payments == ()


def test_a_line_stored_without_date_or_currency_is_shown_not_dropped(store: StateStore) -> None:
    """Reconciliation always writes both; the columns are nullable, so a line written by
    anything else is dated by the day claimbridge saw it and shown with an empty currency."""
    add(
        store,
        settlement_rows=[
            settlement(
                "S1",
                on=day(10, 20),
                principal="10.00",
                commission="1.00",
                currency=None,
                settlement_date=None,
            ),
            settlement("S2", on=day(10, 5), principal="5.00"),
        ],
    )
    recovery = recovery_report(store)
    assert [(m.month, m.currency, m.recovered.net) for m in recovery.months] == [
        ("2026-10", "", D("9.00")),
        ("2026-10", "NOK", D("5.00")),
    ]
    assert [t.currency for t in recovery.totals] == ["", "NOK"]
    cashflow = cashflow_report(store)
    assert [(p.period, p.currency, p.net) for p in cashflow.days] == [
        ("2026-10-05", "NOK", D("5.00")),
        ("2026-10-20", "", D("9.00")),
    ]
    assert [(p.period, p.currency) for p in cashflow.months] == [
        ("2026-10", ""),
        ("2026-10", "NOK"),
    ]
