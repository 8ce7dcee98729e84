"""The matching engine: references, invoice numbers in text, and each matching rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from claimbridge.matching import (
    REASONS,
    invoice_numbers_in,
    match_payments,
    reference_keys,
    source_key,
    unmatched,
)
from claimbridge.quality.reference import make_kid_mod10, make_kid_mod11, make_ocr
from claimbridge.schemas import SourceRef
from claimbridge.schemas.payment import Payment, PaymentKind
from claimbridge.state import StateStore
from claimbridge.state.tables import claims, payments_seen

PIPELINE = "main"
KID_A = make_kid_mod10("1000001")
KID_B = make_kid_mod10("1000002")
KID_C = make_kid_mod11("1000003")


def claim_row(
    invoice_number: str,
    *,
    debtor: str = "d1",
    remaining: str = "1000.00",
    kid: str | None = None,
    currency: str = "NOK",
    status: str = "open",
    case_key: str | None = None,
    pipeline: str = PIPELINE,
) -> dict[str, Any]:
    """A ``claims`` row as the pipeline writes it, with only the matching fields varied."""
    return {
        "pipeline": pipeline,
        "invoice_number": invoice_number,
        "source_system": "files",
        "source_company": "1",
        "source_record_id": invoice_number,
        "debtor_id": debtor,
        "debtor_key": f"key-{debtor}",
        "currency": currency,
        "original_amount": Decimal(remaining),
        "remaining_principal": Decimal(remaining),
        "invoice_date": dt.date(2026, 1, 1),
        "due_date": dt.date(2026, 1, 15),
        "kid": kid,
        "outcome": "send",
        "decision": "{}",
        "decided_on": dt.date(2026, 2, 1),
        "case_key": case_key,
        "status": status,
        "run_id": "run-1",
        "updated_at": dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    }


def payment(
    payment_id: str,
    amount: str = "1000.00",
    *,
    reference: str | None = None,
    currency: str = "NOK",
    system: str = "ocr_giro",
    **extra: Any,
) -> Payment:
    return Payment(
        payment_id=payment_id,
        source=SourceRef(system=system, company="99990512341", record_id=payment_id),
        kind=extra.pop("kind", PaymentKind.BANK),
        amount=Decimal(amount),
        currency=currency,
        booking_date=dt.date(2026, 3, 1),
        reference=reference,
        **extra,
    )


def add_claims(store: StateStore, *rows: dict[str, Any]) -> None:
    with store.begin() as conn:
        conn.execute(claims.insert(), list(rows))


def seen_rows(store: StateStore) -> dict[str, tuple[str, str | None, str | None]]:
    """payment id → (status, invoice number, case key)."""
    with store.begin() as conn:
        query = select(
            payments_seen.c.payment_id,
            payments_seen.c.status,
            payments_seen.c.invoice_number,
            payments_seen.c.case_key,
        )
        return {row[0]: (row[1], row[2], row[3]) for row in conn.execute(query)}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


# --- references and invoice numbers -------------------------------------------------------


def test_reference_keys_accept_kid_ocr_and_rf() -> None:
    assert reference_keys(KID_A) == (KID_A,)
    assert reference_keys(f" {KID_A[:3]} {KID_A[3:]} ") == (KID_A,)  # spaces a payer typed
    assert reference_keys(KID_C) == (KID_C,)
    assert reference_keys(make_ocr("4711")) == (make_ocr("4711"),)
    assert reference_keys("RF18 5390 0754 7034") == ("RF18539007547034",)


@pytest.mark.parametrize(
    "reference",
    [
        None,
        "",
        "   ",
        "10000019",  # wrong check digit
        "Betaling for mars",
        "١٢٣٤٥٦٧",  # non-ASCII digits pass str.isdigit
        "1" * 40,
        "RF00 1234",
        "12\x0034",
        "<script>alert(1)</script>",
    ],
)
def test_reference_keys_refuse_malformed(reference: str | None) -> None:
    assert reference_keys(reference) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Faktura 12345", ("12345",)),
        ("faktura nr. 12345 og 12346", ("12345",)),
        ("Faktura8014573; ref", ("8014573",)),
        ("INV-2026-0042", ("2026-0042", "INV-2026-0042")),
        ("inv. no: A-77", ("A-77",)),
        ("Invoice #2026/13 thanks", ("2026/13",)),
        ("  10042  ", ("10042",)),
        ("Betaling mars", ()),
        ("invest 2024", ()),  # not a keyword followed by a number
        ("42", ()),  # too short to be a bare invoice number
        ("faktura", ()),
        ("Faktura ABC", ()),  # no digit
    ],
)
def test_invoice_numbers_in_text(text: str, expected: tuple[str, ...]) -> None:
    assert invoice_numbers_in(text) == expected


def test_invoice_numbers_are_capped_and_deduplicated() -> None:
    text = " ".join(f"faktura {n}" for n in range(100, 120)) + " faktura 100"
    found = invoice_numbers_in("faktura 100", text)
    assert found == ("100", "101", "102", "103", "104")


@given(st.text(max_size=2000))
def test_any_text_is_parsed_without_error(text: str) -> None:
    found = invoice_numbers_in(text, text)
    assert len(found) <= 5
    assert all(n in text for n in found)
    keys = reference_keys(text)
    assert all(k.isascii() and len(k) <= 35 for k in keys)


def test_source_key_names_system_and_company() -> None:
    assert source_key(payment("p1")) == "ocr_giro:99990512341"


# --- the rules ----------------------------------------------------------------------------


def test_kid_match_records_invoice_and_case(store: StateStore) -> None:
    add_claims(store, claim_row("100", kid=KID_A, case_key="case-1"))
    report = match_payments(store, PIPELINE, [payment("p1", reference=KID_A)])
    assert report.matched == {"kid": 1}
    assert seen_rows(store) == {"p1": ("matched", "100", "case-1")}


def test_mod11_kid_and_ocr_reference_match(store: StateStore) -> None:
    ocr = make_ocr("5550001")
    add_claims(store, claim_row("100", kid=KID_C), claim_row("101", kid=ocr, currency="SEK"))
    report = match_payments(
        store,
        PIPELINE,
        [payment("p1", reference=KID_C), payment("p2", reference=ocr, currency="SEK")],
    )
    assert report.matched == {"kid": 2}
    assert seen_rows(store)["p2"] == ("matched", "101", None)


def test_partial_and_over_payments_match_without_changing_the_claim(store: StateStore) -> None:
    add_claims(store, claim_row("100", kid=KID_A), claim_row("101", kid=KID_B))
    report = match_payments(
        store,
        PIPELINE,
        [payment("p1", "400.00", reference=KID_A), payment("p2", "1500.00", reference=KID_B)],
    )
    assert (report.matched_total, report.partial, report.over) == (2, 1, 1)
    row = store.claim(PIPELINE, "100")
    assert row is not None
    assert row.remaining_principal == Decimal("1000.00")


def test_kid_in_another_currency_is_not_matched(store: StateStore) -> None:
    add_claims(store, claim_row("100", kid=KID_A, currency="SEK"))
    report = match_payments(store, PIPELINE, [payment("p1", reference=KID_A)])
    assert report.unmatched == {"currency_mismatch": 1}
    [row] = unmatched(store, PIPELINE)
    assert (row.reason, row.reference) == ("currency_mismatch", KID_A)


def test_shared_kid_is_resolved_only_by_a_unique_amount(store: StateStore) -> None:
    add_claims(
        store,
        claim_row("100", kid=KID_A, remaining="300.00"),
        claim_row("101", kid=KID_A, remaining="500.00"),
        claim_row("102", kid=KID_A, remaining="500.00"),
    )
    report = match_payments(
        store,
        PIPELINE,
        [
            payment("p1", "300.00", reference=KID_A),
            payment("p2", "500.00", reference=KID_A),
            payment("p3", "999.00", reference=KID_A),
        ],
    )
    assert report.matched == {"kid": 1}
    assert report.unmatched == {"amount_ambiguous": 1, "kid_ambiguous": 1}
    assert seen_rows(store)["p1"] == ("matched", "100", None)


def test_quoted_invoice_for_its_exact_amount_matches(store: StateStore) -> None:
    add_claims(
        store,
        claim_row("20001", remaining="750.00"),
        claim_row("20002", remaining="750.00"),  # same debtor, same amount: the quote decides
    )
    report = match_payments(store, PIPELINE, [payment("p1", "750.00", message="Faktura 20002")])
    assert report.matched == {"invoice": 1}
    assert seen_rows(store)["p1"] == ("matched", "20002", None)


def test_amount_match_among_the_debtors_open_claims_only_when_unique(store: StateStore) -> None:
    add_claims(
        store,
        claim_row("30001", remaining="100.00"),
        claim_row("30002", remaining="250.00"),
        claim_row("30003", remaining="400.00"),
        claim_row("30004", remaining="400.00"),
        claim_row("30005", remaining="250.00", status="paid"),  # closed: not a candidate
        claim_row("40001", debtor="d2", remaining="250.00"),  # another debtor
    )
    report = match_payments(
        store,
        PIPELINE,
        [
            payment("unique", "250.00", reference="faktura 30001"),
            payment("twice", "400.00", reference="faktura 30001"),
            payment("none", "999.00", reference="faktura 30001"),
        ],
    )
    assert report.matched == {"amount": 1}
    assert report.unmatched == {"amount_ambiguous": 1, "amount_not_found": 1}
    assert seen_rows(store)["unique"] == ("matched", "30002", None)
    reasons = {row.payment_id: row.reason for row in unmatched(store, PIPELINE)}
    assert reasons == {"twice": "amount_ambiguous", "none": "amount_not_found"}


def test_invoice_numbers_of_two_debtors_are_ambiguous(store: StateStore) -> None:
    add_claims(store, claim_row("50001"), claim_row("50002", debtor="d2"))
    report = match_payments(
        store, PIPELINE, [payment("p1", reference="faktura 50001 faktura 50002")]
    )
    assert report.unmatched == {"debtor_ambiguous": 1}


def test_debtor_route_respects_currency(store: StateStore) -> None:
    add_claims(store, claim_row("60001", currency="SEK", remaining="100.00"))
    report = match_payments(store, PIPELINE, [payment("p1", "100.00", reference="Inv 60001")])
    assert report.unmatched == {"currency_mismatch": 1}


def test_invoice_number_field_identifies_the_debtor(store: StateStore) -> None:
    add_claims(store, claim_row("70001", remaining="80.00"), claim_row("70002", remaining="90.00"))
    report = match_payments(store, PIPELINE, [payment("p1", "90.00", invoice_number="70001")])
    assert report.matched == {"amount": 1}
    assert seen_rows(store)["p1"] == ("matched", "70002", None)


def test_other_pipelines_claims_are_invisible(store: StateStore) -> None:
    add_claims(store, claim_row("100", kid=KID_A, pipeline="other"))
    report = match_payments(store, PIPELINE, [payment("p1", reference=KID_A)])
    assert report.unmatched == {"unknown_reference": 1}


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        (None, "no_reference"),
        ("Takk for sist", "no_reference"),
        ("10000019", "unknown_reference"),  # bad check digit, no such invoice either
        (KID_B, "unknown_reference"),
        ("x" * 140, "no_reference"),
        ("Faktura " + "9" * 30, "unknown_reference"),
        ("\x00\x01\x02", "no_reference"),
    ],
)
def test_unusable_references_go_to_review(
    store: StateStore, reference: str | None, reason: str
) -> None:
    add_claims(store, claim_row("100", kid=KID_A))
    report = match_payments(store, PIPELINE, [payment("p1", reference=reference)])
    assert report.unmatched == {reason: 1}
    [row] = unmatched(store, PIPELINE)
    assert row.reason == reason
    assert row.reason_text == REASONS[reason]


def test_a_long_reference_keeps_its_reason_within_the_column(store: StateStore) -> None:
    long_text = "å" * 140
    match_payments(store, PIPELINE, [payment("p1", reference=long_text)])
    [row] = unmatched(store, PIPELINE)
    assert row.reason == "no_reference"
    assert row.reference is not None
    assert long_text.startswith(row.reference)


def test_reversal_is_not_a_credit(store: StateStore) -> None:
    add_claims(store, claim_row("100", kid=KID_A))
    report = match_payments(store, PIPELINE, [payment("p1", "-1000.00", reference=KID_A)])
    assert report.unmatched == {"not_a_credit": 1}


def test_agency_settlements_are_ignored(store: StateStore) -> None:
    add_claims(store, claim_row("100", kid=KID_A))
    payments = [
        payment("by-account", reference=KID_A, payer_account="1234 56 78901"),
        payment("by-prefix", reference="INK-2026-03 oppgjør"),
        payment("by-kind", reference=KID_A, kind=PaymentKind.SETTLEMENT),
        payment("debtor", reference=KID_A, payer_account="99998877665"),
    ]
    report = match_payments(
        store,
        PIPELINE,
        payments,
        agency_accounts={"12345678901"},
        agency_reference_prefixes=["ink-"],
    )
    assert report.ignored == {"agency_settlement": 3}
    assert report.matched == {"kid": 1}
    assert unmatched(store, PIPELINE) == []  # ignored rows are not in the review list
    assert seen_rows(store)["by-account"] == ("ignored", None, None)


def test_a_payment_with_the_agencys_own_payment_reference_is_the_agencys(
    store: StateStore,
) -> None:
    """Amili Sweden answers a registration with an OCR number per debt; money paid with it
    went to the agency (and comes back in its settlement), so it is never a direct payment."""
    row = claim_row("300", kid=KID_A, case_key="case-300")
    row["agency_payment_ref"] = "20250000000000000171"
    add_claims(store, row)
    payments = [
        payment("to-agency", reference="2025 0000 0000 0000 0171"),
        payment("to-creditor", reference=KID_A),
    ]
    report = match_payments(store, PIPELINE, payments)
    assert report.ignored == {"agency_settlement": 1}
    assert report.matched == {"kid": 1}
    assert seen_rows(store)["to-agency"] == ("ignored", None, None)


def test_second_run_matches_nothing_again(store: StateStore) -> None:
    add_claims(store, claim_row("100", kid=KID_A))
    payments = [payment("p1", reference=KID_A), payment("p2", reference="?")]
    match_payments(store, PIPELINE, payments)
    before = seen_rows(store)
    again = match_payments(store, PIPELINE, payments)
    assert (again.seen, again.duplicates, again.matched_total, again.unmatched_total) == (
        2,
        2,
        0,
        0,
    )
    assert seen_rows(store) == before


def test_duplicates_inside_one_input_count_once(store: StateStore) -> None:
    add_claims(store, claim_row("100", kid=KID_A))
    report = match_payments(store, PIPELINE, [payment("p1", reference=KID_A)] * 3)
    assert (report.matched_total, report.duplicates) == (1, 2)


def test_same_id_from_two_sources_are_two_payments(store: StateStore) -> None:
    add_claims(store, claim_row("100", kid=KID_A))
    report = match_payments(
        store,
        PIPELINE,
        [payment("p1", reference=KID_A), payment("p1", reference=KID_A, system="bgmax")],
    )
    assert report.matched == {"kid": 2}


def test_chunk_size_must_be_positive(store: StateStore) -> None:
    with pytest.raises(ValueError):
        match_payments(store, PIPELINE, [], chunk_size=0)
