"""The contract suite tested on itself: a sound toy source passes every check, and toy sources
with one planted flaw each are caught by the check meant for that flaw.

The toy is incremental, fetches by id and books vouchers and payments, so the branches of the
checks that the file sources never reach (cursor round trip of an incremental source, fetch by
id, booking back) are proven here too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from claimbridge.connectors.accounting._vouchers import check_voucher
from claimbridge.connectors.base import (
    Canonical,
    CheckItem,
    CheckKind,
    CheckResult,
    ConnectorContext,
    ConnectorSettings,
    Page,
    RawRecord,
    Source,
    SourceCapabilities,
    StreamSpec,
    Voucher,
)
from claimbridge.errors import OutcomeUnknownError, ParseError, RecordError
from claimbridge.schemas import Claim, Party, PartyKind, Payment, QualityReport, SourceRef
from tests.contract import source_suite as suite
from tests.contract.source_suite import SourceHarness

CUSTOMERS = StreamSpec("customers", "id", cursor_field="seq")
INVOICES = StreamSpec("invoices", "number", cursor_field="seq")


@dataclass
class ToyBookings:
    """What the toy's ledger booked: vouchers by reference, payments by ledger id."""

    vouchers: dict[str, list[str]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    lose_next: bool = False


class ToyStore:
    """The toy's 'remote ledger': records per stream, each stamped with a change sequence."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {"customers": [], "invoices": []}
        self.seq = 0
        self.booked = ToyBookings()

    def replace(self, stream: str, rows: list[dict[str, Any]], key: str) -> None:
        old = {r[key]: r for r in self.records[stream]}
        fresh = []
        for row in rows:
            before = old.get(row[key])
            if before is not None and {**before, "seq": 0} == {**row, "seq": 0}:
                fresh.append(before)
            else:
                self.seq += 1
                fresh.append({**row, "seq": self.seq})
        self.records[stream][:] = fresh  # in place: a reader holding the list sees changes


class ToySettings(ConnectorSettings):
    page_size: int = 4


class ToySource(Source):
    """An incremental API-like source over a :class:`ToyStore`, with optional flaws."""

    type_name: ClassVar[str] = "toy"
    Settings: ClassVar[type[ConnectorSettings]] = ToySettings
    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities(
        incremental=True,
        fetch_by_id=True,
        can_book_payments=True,
        can_book_vouchers=True,
        idempotent_payments=True,
    )

    reads: ClassVar[int] = 0  # for the 'unstable_cursor' flaw: the cursor counts reads

    def __init__(self, store: ToyStore | None, page_size: int, flaws: frozenset[str]) -> None:
        super().__init__(ToySettings(page_size=page_size), ConnectorContext(name="toy"))
        self.store = store
        self.flaws = flaws
        self.page_size = page_size * 2 if "oversized_pages" in flaws else page_size

    def streams(self) -> Sequence[StreamSpec]:
        return (CUSTOMERS, INVOICES)

    def _rows(self, stream: StreamSpec) -> list[dict[str, Any]]:
        if self.store is None:
            raise ParseError("no ledger is configured", field="store")
        rows = self.store.records[stream.name]
        return list(rows) if "eager" in self.flaws else rows

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        rows = self._rows(stream)
        since = int(cursor or 0)
        page: list[RawRecord] = []
        high = since
        index = 0
        while index < len(rows):  # live list: rows cut while reading are not read
            row = rows[index]
            index += 1
            if row["seq"] <= since or ("drops_last" in self.flaws and index == len(rows)):
                continue
            high = max(high, row["seq"])
            page.append(RawRecord(dict(row), f"toy:{stream.name}:{index}"))
            if "duplicate_ids" in self.flaws and index == 1:
                page.append(RawRecord(dict(row), f"toy:{stream.name}:{index}"))
            if len(page) >= self.page_size:
                yield Page(page, None)
                page = []
        cursor_out = "0" if "cursor_backwards" in self.flaws else str(high)
        if "unstable_cursor" in self.flaws:
            ToySource.reads += 1
            cursor_out = f"{high}.{ToySource.reads}"
        yield Page(page, cursor_out)

    def fetch(self, stream: StreamSpec, ids: Sequence[str]) -> Iterator[RawRecord]:
        wanted = set(ids)
        for index, row in enumerate(self._rows(stream), start=1):
            if row[stream.primary_key] in wanted:
                data = {**row, "seq": -1} if "fetch_mismatch" in self.flaws else dict(row)
                yield RawRecord(data, f"toy:{stream.name}:{index}")

    def normalize(self, stream: StreamSpec, record: RawRecord) -> Sequence[Canonical]:
        data = record.data
        if data.get("bad"):
            if "wrong_exception" in self.flaws:
                raise ValueError("could not convert")
            reasons = ["kind: not a debtor kind"]
            if "leaky_reasons" in self.flaws:
                reasons.append(f"name {data['name']!r} is suspicious")
            location = "" if "no_location" in self.flaws else record.location
            raise RecordError(reasons, record_id=str(data["id"]), location=location)
        if "not_canonical" in self.flaws:
            return (QualityReport(score=50),)  # type: ignore[return-value]
        if stream.name == "customers":
            return (
                Party(
                    source=SourceRef(system="toy", record_id=data["id"], record_type="customer"),
                    kind=PartyKind.COMPANY,
                    name=data["name"],
                    customer_number=data["id"],
                ),
            )
        debtor = ("X" if "orphan_claims" in self.flaws else "") + data["customer"]
        return (
            Claim(
                source=SourceRef(system="toy", record_id=data["number"], record_type="invoice"),
                debtor_id=debtor,
                invoice_number=data["number"],
                invoice_date=data["invoice_date"],
                due_date=data["due_date"],
                currency="NOK",
                original_amount=data["amount"],
                remaining_principal=data["remaining"],
            ),
        )

    # --- booking back ---------------------------------------------------------------------

    def _booked(self) -> ToyBookings:
        if self.store is None:
            raise ParseError("no ledger is configured", field="store")
        self.store.booked.requests += 1
        return self.store.booked

    def book_voucher(self, voucher: Voucher) -> str:
        if "unchecked_vouchers" not in self.flaws:
            check_voucher(voucher, connector="toy", account=re.compile(r"\d{4}"))
        if "double_books" not in self.flaws:
            found = self.find_booking(voucher.external_ref)
            if found is not None:
                return found
        try:
            return self._post_voucher(voucher)
        except OutcomeUnknownError:
            if "blind_retry" in self.flaws:
                return self._post_voucher(voucher)
            raise

    def _post_voucher(self, voucher: Voucher) -> str:
        booked = self._booked()
        ledger_id = f"V{sum(map(len, booked.vouchers.values())) + 1}"
        booked.vouchers.setdefault(voucher.external_ref, []).append(ledger_id)
        if booked.lose_next:
            booked.lose_next = False
            raise OutcomeUnknownError("no answer after the voucher was sent", connector="toy")
        return ledger_id

    def find_booking(self, external_ref: str) -> str | None:
        booked = self._booked()
        if "finds_nothing" in self.flaws:
            return None
        for ref, ids in booked.vouchers.items():
            if ref == external_ref or (
                "prefix_match" in self.flaws and ref.startswith(external_ref)
            ):
                return ids[0]
        return None

    def register_payment(self, payment: Payment, claim: Claim) -> str:
        booked = self._booked()
        key: tuple[object, ...] = (payment.payment_id,)
        if "payments_by_amount" in self.flaws:
            key = (claim.invoice_number, payment.booking_date, payment.amount)
        if "payment_double_books" not in self.flaws:
            for ledger_id, entry in booked.payments.items():
                if entry["key"] == key:
                    return ledger_id
        ledger_id = f"P{len(booked.payments) + 1}"
        booked.payments[ledger_id] = {"key": key, "invoice": claim.invoice_number}
        return ledger_id

    def check(self) -> CheckResult:
        if self.store is None:
            if "check_raises" in self.flaws:
                raise ParseError("no ledger is configured")
            items = (CheckItem(CheckKind.CONFIG, False, "no ledger is configured"),)
        else:
            items = (CheckItem(CheckKind.REACHABILITY, True, "the toy ledger answers"),)
        return CheckResult(connector="toy", items=items)


class ToyHarness(SourceHarness):
    malformed_stream: ClassVar[str] = "customers"
    lazy_ledger_size: ClassVar[int] = 20

    def __init__(self, root: Path, flaws: frozenset[str] = frozenset()) -> None:
        self.store = ToyStore()
        self.flaws = flaws
        super().__init__(root)

    def write(self) -> None:
        customers: list[dict[str, Any]] = [
            {"id": c.number, "name": c.name} for c in self.ledger.customers
        ]
        customers += [
            {"id": p.key, "name": p.personal_data[0], "bad": True} for p in self.ledger.malformed
        ]
        invoices: list[dict[str, Any]] = [
            {
                "number": i.number,
                "customer": i.customer,
                "invoice_date": i.invoice_date,
                "due_date": i.due_date,
                "amount": i.amount,
                "remaining": i.amount - i.paid,
            }
            for i in self.ledger.invoices
        ]
        self.store.replace("customers", customers, "id")
        self.store.replace("invoices", invoices, "number")

    def source(self) -> Source:
        return ToySource(self.store, self.page_size, self.flaws)

    def broken_source(self) -> Source:
        return ToySource(None, self.page_size, self.flaws)

    def expected_keys(self) -> dict[str, set[str]]:
        return {
            "customers": {c.number for c in self.ledger.customers}
            | {p.key for p in self.ledger.malformed},
            "invoices": {i.number for i in self.ledger.invoices},
        }

    def expected_claims(self) -> set[str]:
        return {i.number for i in self.ledger.invoices}

    def truncate_ledger(self) -> None:
        for rows in self.store.records.values():
            del rows[2:]

    def vouchers_booked(self, external_ref: str) -> int:
        return len(self.store.booked.vouchers.get(external_ref, []))

    def payments_booked(self, invoice_number: str) -> int:
        payments = self.store.booked.payments.values()
        return sum(1 for entry in payments if entry["invoice"] == invoice_number)

    def requests_made(self) -> int:
        return self.store.booked.requests

    def lose_next_answer(self) -> None:
        self.store.booked.lose_next = True


class NonBookingToy(ToySource):
    """The toy without the booking capabilities (and, with the flaw 'books_anyway', booking
    nonetheless instead of saying it does not)."""

    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities(
        incremental=True, fetch_by_id=True
    )

    def book_voucher(self, voucher: Voucher) -> str:
        if "books_anyway" in self.flaws:
            return self._post_voucher(voucher)
        return Source.book_voucher(self, voucher)

    def find_booking(self, external_ref: str) -> str | None:
        return Source.find_booking(self, external_ref)

    def register_payment(self, payment: Payment, claim: Claim) -> str:
        return Source.register_payment(self, payment, claim)


class NonBookingHarness(ToyHarness):
    def source(self) -> Source:
        return NonBookingToy(self.store, self.page_size, self.flaws)


Check = Callable[[SourceHarness], None]

CHECKS: list[Check] = [
    suite.check_unique_primary_keys,
    suite.check_full_read_yields_expected_keys,
    suite.check_normalize_yields_canonical_models,
    suite.check_claims_reference_debtors,
    suite.check_cursors_are_stable,
    suite.check_cursor_round_trip,
    suite.check_pages_respect_page_size,
    suite.check_empty_ledger,
    suite.check_read_is_lazy,
    suite.check_malformed_records_are_record_errors,
    suite.check_record_errors_name_a_location,
    suite.check_record_errors_hide_personal_data,
    suite.check_check_semantics,
    suite.check_fetch_by_id,
    suite.check_voucher_is_booked_once,
    suite.check_find_booking,
    suite.check_unbalanced_voucher_is_refused,
    suite.check_booking_survives_a_lost_answer,
    suite.check_payment_is_booked_once,
    suite.check_distinct_payments_are_booked_apart,
]
BOOKING_CHECKS = CHECKS[-6:]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_a_sound_source_passes(check: Check, tmp_path: Path) -> None:
    check(ToyHarness(tmp_path))


def test_a_sound_source_passes_the_pipeline_check(tmp_path: Path) -> None:
    suite.check_pipeline_quarantines_and_delivers(ToyHarness(tmp_path / "ledger"), tmp_path)


FLAWED: list[tuple[str, Check, str]] = [
    ("duplicate_ids", suite.check_unique_primary_keys, "duplicate primary keys"),
    ("drops_last", suite.check_full_read_yields_expected_keys, "unexpected records"),
    ("not_canonical", suite.check_normalize_yields_canonical_models, "QualityReport"),
    ("orphan_claims", suite.check_claims_reference_debtors, "claims name debtors"),
    ("unstable_cursor", suite.check_cursors_are_stable, "cursor moved"),
    ("cursor_backwards", suite.check_cursor_round_trip, "records again from the last cursor"),
    ("oversized_pages", suite.check_pages_respect_page_size, "pages"),
    ("eager", suite.check_read_is_lazy, "whole ledger was read"),
    ("wrong_exception", suite.check_malformed_records_are_record_errors, "not RecordError"),
    ("no_location", suite.check_record_errors_name_a_location, "has no location"),
    ("leaky_reasons", suite.check_record_errors_hide_personal_data, "repeats personal data"),
    ("check_raises", suite.check_check_semantics, "raised ParseError"),
    ("fetch_mismatch", suite.check_fetch_by_id, "differs"),
    ("double_books", suite.check_voucher_is_booked_once, "booking again answered"),
    ("finds_nothing", suite.check_find_booking, "find_booking answered None"),
    ("prefix_match", suite.check_find_booking, "never booked"),
    ("unchecked_vouchers", suite.check_unbalanced_voucher_is_refused, "was accepted"),
    ("blind_retry", suite.check_booking_survives_a_lost_answer, "is what was booked"),
    ("payment_double_books", suite.check_payment_is_booked_once, "registering again"),
    ("payments_by_amount", suite.check_distinct_payments_are_booked_apart, "booked as 1"),
]


@pytest.mark.parametrize(
    ("flaw", "check", "message"), FLAWED, ids=[f"{f}-{c.__name__}" for f, c, _ in FLAWED]
)
def test_a_flawed_source_is_caught(flaw: str, check: Check, message: str, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=message):
        check(ToyHarness(tmp_path, frozenset({flaw})))


@pytest.mark.parametrize("check", BOOKING_CHECKS, ids=lambda c: c.__name__)
def test_a_source_that_does_not_book_passes_by_saying_so(check: Check, tmp_path: Path) -> None:
    check(NonBookingHarness(tmp_path))


class PaymentsOnceToy(ToySource):
    """The toy that re-posts a payment registered again, and says so."""

    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities(
        incremental=True, fetch_by_id=True, can_book_payments=True, can_book_vouchers=True
    )


def test_a_source_that_declares_it_cannot_take_a_payment_twice_is_not_asked_to(
    tmp_path: Path,
) -> None:
    class Harness(ToyHarness):
        def source(self) -> Source:
            return PaymentsOnceToy(self.store, self.page_size, self.flaws)

    harness = Harness(tmp_path, frozenset({"payment_double_books"}))
    with pytest.raises(pytest.skip.Exception, match="idempotent_payments = False"):
        suite.check_payment_is_booked_once(harness)


def test_a_source_that_books_without_declaring_it_is_caught(tmp_path: Path) -> None:
    harness = NonBookingHarness(tmp_path, frozenset({"books_anyway"}))
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        suite.check_voucher_is_booked_once(harness)


def test_a_leaky_source_is_caught_in_the_quarantine(tmp_path: Path) -> None:
    harness = ToyHarness(tmp_path / "ledger", frozenset({"leaky_reasons"}))
    with pytest.raises(AssertionError, match="personal data"):
        suite.check_pipeline_quarantines_and_delivers(harness, tmp_path)


def test_a_mapping_with_a_target_the_model_lacks_is_caught(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        '[mapping]\nname = "g"\ntarget = "party"\n[fields]\nname = "n"\n'
        'kind = { const = "company" }\n"addresses[0].lines[0]" = "street"\n'
        '"contact_person.phones[0].number" = "phone"\n',
        encoding="utf-8",
    )
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[mapping]\nname = "b"\ntarget = "party"\n[fields]\nname = "n"\n'
        '"addresses[0].planet" = "p"\n',
        encoding="utf-8",
    )
    harness = ToyHarness(tmp_path / "ledger")
    harness.mappings = (str(good),)  # type: ignore[misc]
    suite.check_mappings_validate(harness)
    harness.mappings = (str(bad),)  # type: ignore[misc]
    with pytest.raises(AssertionError, match="planet"):
        suite.check_mappings_validate(harness)


def test_fake_ledger_is_deterministic_and_dated_before_today() -> None:
    first, second = suite.FakeLedger(), suite.FakeLedger()
    first.add(7)
    second.add(7)
    assert first == second
    assert all(i.due_date < suite.TODAY - dt.timedelta(days=60) for i in first.invoices)
    assert all(i.amount > Decimal(100) for i in first.invoices)
    assert len({i.number for i in first.invoices}) == len(first.invoices)
