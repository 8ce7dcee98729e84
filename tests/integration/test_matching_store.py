"""Matching against a real state store: real bank files, streaming, idempotency, ordering."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from random import Random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from claimbridge.connectors.banks import iter_payment_file
from claimbridge.matching import match_payments, unmatched
from claimbridge.quality.reference import make_kid_mod10
from claimbridge.schemas.payment import Payment
from claimbridge.state import StateStore
from claimbridge.state.tables import payments_seen
from tests.integration.postgres import throwaway_cluster
from tests.unit.test_matching import PIPELINE, add_claims, claim_row, payment, seen_rows


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.service)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        opened = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
        yield opened
        opened.close()
        return
    with throwaway_cluster() as url:
        opened = StateStore.open(url)
        yield opened
        opened.close()


def _seen_count(store: StateStore) -> int:
    with store.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(payments_seen)).scalar_one())


@pytest.mark.external
def test_real_ocr_giro_file_matches_by_kid(store: StateStore, external_fixtures: Path) -> None:
    path = external_fixtures / "payments" / "nets-ocr-giro-transactions.txt"
    payments = list(iter_payment_file(path))
    # One claim per KID in the file, for exactly the paid amount, except the last two KIDs.
    add_claims(
        store,
        *(
            claim_row(f"INV{n}", debtor=f"d{n}", kid=p.reference, remaining=str(p.amount))
            for n, p in enumerate(payments[:-2])
        ),
    )
    report = match_payments(store, PIPELINE, iter_payment_file(path), chunk_size=7)
    assert report.matched == {"kid": len(payments) - 2}
    assert report.unmatched == {"unknown_reference": 2}
    assert (report.partial, report.over) == (0, 0)
    assert {row.payment_id for row in unmatched(store, PIPELINE)} == {
        p.payment_id for p in payments[-2:]
    }
    again = match_payments(store, PIPELINE, iter_payment_file(path))
    assert again.duplicates == len(payments)
    assert again.matched_total == 0


@pytest.mark.external
def test_real_bgmax_file_reversal_and_invoice_text(
    store: StateStore, external_fixtures: Path
) -> None:
    path = external_fixtures / "payments" / "bgmax-example-4.txt"
    add_claims(
        store,
        claim_row("8014573", debtor="se1", currency="EUR", remaining="2000.00"),
        claim_row("8014574", debtor="se1", currency="EUR", remaining="3000.00"),
        claim_row("S1", debtor="se2", currency="SEK", kid="665760", remaining="1800.00"),
    )
    report = match_payments(store, PIPELINE, iter_payment_file(path))
    # "Faktura8014573" (a EUR deposit) names the debtor; their one open EUR claim of 3000.00
    # takes the payment.
    assert report.matched == {"kid": 1, "amount": 1}
    assert report.unmatched["not_a_credit"] == 1
    by_id = seen_rows(store)
    assert by_id["9912346-20040525-00059-00001"] == ("matched", "8014574", None)
    assert by_id["9912346-20040525-00056-00001"] == ("matched", "S1", None)


def test_input_is_consumed_chunk_by_chunk(store: StateStore) -> None:
    """The engine commits each chunk before it reads the next, so it never holds the input."""
    add_claims(store, claim_row("100", kid=make_kid_mod10("77")))
    chunk, total = 50, 420
    committed_when_asked: list[int] = []

    def stream() -> Iterator[Payment]:
        for n in range(total):
            if n % chunk == 0:
                committed_when_asked.append(_seen_count(store))
            yield payment(f"p{n}", reference=make_kid_mod10("77"))

    report = match_payments(store, PIPELINE, stream(), chunk_size=chunk)
    assert committed_when_asked == list(range(0, total, chunk))
    assert report.matched == {"kid": total}
    assert report.partial == 0
    assert _seen_count(store) == total


def test_more_keys_in_one_chunk_than_one_in_list_holds(store: StateStore) -> None:
    """A chunk larger than the bound-parameter batch still finds every claim."""
    n = 2500
    kids = [make_kid_mod10(str(10_000 + i)) for i in range(n)]
    add_claims(store, *(claim_row(str(i), debtor=f"d{i}", kid=kid) for i, kid in enumerate(kids)))
    report = match_payments(
        store, PIPELINE, (payment(f"p{i}", reference=kid) for i, kid in enumerate(kids))
    )
    assert report.matched == {"kid": n}


# --- properties ---------------------------------------------------------------------------

_CLAIMS = [
    claim_row("9001", debtor="a", kid=make_kid_mod10("11"), remaining="100.00"),
    claim_row("9002", debtor="a", remaining="200.00"),
    claim_row("9003", debtor="a", remaining="300.00"),
    claim_row("9004", debtor="a", remaining="300.00"),
    claim_row("9005", debtor="b", kid=make_kid_mod10("22"), remaining="100.00", currency="SEK"),
    claim_row("9006", debtor="b", kid=make_kid_mod10("33"), remaining="50.00"),
    claim_row("9007", debtor="b", kid=make_kid_mod10("33"), remaining="60.00"),
]
_REFERENCES = [
    None,
    make_kid_mod10("11"),
    make_kid_mod10("22"),
    make_kid_mod10("33"),
    make_kid_mod10("44"),
    "faktura 9001",
    "inv 9005",
    "9002",
    "faktura 9001 faktura 9005",
    "INK-1",
    "hello",
]
_payments = st.lists(
    st.builds(
        lambda ref, amount, currency: (ref, amount, currency),
        st.sampled_from(_REFERENCES),
        st.sampled_from(["50.00", "60.00", "100.00", "200.00", "300.00", "-5.00", "1.00"]),
        st.sampled_from(["NOK", "SEK"]),
    ),
    max_size=25,
).map(
    lambda items: [
        payment(f"p{i}", amount, reference=ref, currency=currency)
        for i, (ref, amount, currency) in enumerate(items)
    ]
)


def _fresh_store(directory: Path) -> StateStore:
    opened = StateStore.open(f"sqlite:///{directory / 'state.db'}")
    add_claims(opened, *_CLAIMS)
    return opened


Outcomes = tuple[dict[str, tuple[str, str | None, str | None]], list[tuple[str, str]]]


def _outcomes(payments: list[Payment], chunk_size: int, *, twice: bool = False) -> Outcomes:
    """(payments_seen rows, review list) after matching ``payments`` in a fresh store."""
    directory = Path(tempfile.mkdtemp(prefix="cb-match-"))
    try:
        opened = _fresh_store(directory)
        for _ in range(2 if twice else 1):
            match_payments(
                opened,
                PIPELINE,
                payments,
                agency_reference_prefixes=["INK-"],
                chunk_size=chunk_size,
            )
        review = sorted((r.payment_id, r.reason) for r in unmatched(opened, PIPELINE))
        rows = seen_rows(opened)
        opened.close()
        return rows, review
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_payments, st.randoms(use_true_random=False), st.integers(1, 7))
def test_order_and_chunking_do_not_change_the_matches(
    payments: list[Payment], rnd: Random, chunk_size: int
) -> None:
    shuffled = list(payments)
    rnd.shuffle(shuffled)
    assert _outcomes(payments, 5000) == _outcomes(shuffled, chunk_size)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_payments)
def test_matching_twice_changes_nothing(payments: list[Payment]) -> None:
    once = _outcomes(payments, 3)
    assert _outcomes(payments, 3, twice=True) == once
    rows, review = once
    assert len(rows) == len(payments)
    assert len(review) == sum(1 for status, _, _ in rows.values() if status == "unmatched")
    for status, invoice, _ in rows.values():
        assert (status == "matched") == (invoice is not None)
