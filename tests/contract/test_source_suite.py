"""The contract suite tested on itself: a sound toy source passes every check, and toy sources
with one planted flaw each are caught by the check meant for that flaw.

The toy is incremental and fetches by id, so the branches of the checks that the file sources
never reach (cursor round trip of an incremental source, fetch by id) are proven here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

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
)
from claimbridge.errors import ParseError, RecordError
from claimbridge.schemas import Claim, Party, PartyKind, QualityReport, SourceRef
from tests.contract import source_suite as suite
from tests.contract.source_suite import SourceHarness

CUSTOMERS = StreamSpec("customers", "id", cursor_field="seq")
INVOICES = StreamSpec("invoices", "number", cursor_field="seq")


class ToyStore:
    """The toy's 'remote ledger': records per stream, each stamped with a change sequence."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {"customers": [], "invoices": []}
        self.seq = 0

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
        incremental=True, fetch_by_id=True
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
]


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
]


@pytest.mark.parametrize(
    ("flaw", "check", "message"), FLAWED, ids=[f"{f}-{c.__name__}" for f, c, _ in FLAWED]
)
def test_a_flawed_source_is_caught(flaw: str, check: Check, message: str, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=message):
        check(ToyHarness(tmp_path, frozenset({flaw})))


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
