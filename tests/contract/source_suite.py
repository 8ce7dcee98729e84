"""The contract every source connector must pass, generated per connector.

A connector's test module implements a :class:`SourceHarness` (how to write a fake ledger in the
connector's own format and build the source over it) and subclasses :class:`SourceContract`;
that is all. The checks are plain functions (``check_*``) so the suite's own tests can run them
against a deliberately broken source and prove each one can fail. ``docs/contract-suite.md``
says what each check asserts and why.

The fake ledger is held as plain data (:class:`FakeLedger`); a harness renders it into files (or
a fake API) after every change, so the checks speak of customers and invoices, never of CSV
columns or XML elements.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, get_args, get_origin

import pytest
from pydantic import BaseModel

from claimbridge.connectors.agencies.file_drop import FileDropAgency, FileDropSettings
from claimbridge.connectors.base import (
    CheckKind,
    CheckResult,
    ConnectorContext,
    NotSupportedError,
    RawRecord,
    Source,
    StreamSpec,
    Voucher,
    VoucherLine,
)
from claimbridge.errors import ClaimbridgeError, OutcomeUnknownError, RecordError
from claimbridge.mappings import load_mapping
from claimbridge.mappings.engine import parse_path, resolve_packaged
from claimbridge.pipeline import PipelineSpec, sync
from claimbridge.policy import PolicySettings
from claimbridge.schemas import Claim, CreditNote, Party, Payment, PaymentKind, SourceRef
from claimbridge.state import StateStore
from tests.factories import make_claim, make_creditor

__all__ = [
    "TODAY",
    "FakeCreditNote",
    "FakeCustomer",
    "FakeInvoice",
    "FakeLedger",
    "Planted",
    "SourceContract",
    "SourceHarness",
    "check_booking_survives_a_lost_answer",
    "check_check_semantics",
    "check_claims_reference_debtors",
    "check_cursor_round_trip",
    "check_cursors_are_stable",
    "check_distinct_payments_are_booked_apart",
    "check_empty_ledger",
    "check_fetch_by_id",
    "check_find_booking",
    "check_full_read_yields_expected_keys",
    "check_malformed_records_are_record_errors",
    "check_mappings_validate",
    "check_normalize_yields_canonical_models",
    "check_pages_respect_page_size",
    "check_payment_is_booked_once",
    "check_pipeline_quarantines_and_delivers",
    "check_read_is_lazy",
    "check_record_errors_hide_personal_data",
    "check_record_errors_name_a_location",
    "check_unbalanced_voucher_is_refused",
    "check_unique_primary_keys",
    "check_voucher_is_booked_once",
]

TODAY = dt.date(2026, 3, 2)
CANONICAL = (Party, Claim, Payment, CreditNote)
MAPPING_TARGETS: dict[str, type[BaseModel]] = {
    "party": Party,
    "claim": Claim,
    "payment": Payment,
    "credit_note": CreditNote,
}


# --- the fake ledger ---------------------------------------------------------------------------


@dataclass
class FakeCustomer:
    number: str
    name: str
    phone: str
    email: str


@dataclass
class FakeInvoice:
    number: str
    customer: str
    invoice_date: dt.date
    due_date: dt.date
    amount: Decimal
    paid: Decimal = Decimal("0")


@dataclass
class FakeCreditNote:
    number: str
    invoice: str
    amount: Decimal
    issue_date: dt.date


@dataclass(frozen=True)
class Planted:
    """A record planted to fail normalization, carrying personal data that must not leak."""

    stream: str
    key: str  # its primary key in ``stream``
    personal_data: tuple[str, ...]
    index: int


@dataclass
class FakeLedger:
    """Customers, invoices and credit notes, as plain data a harness renders in its format."""

    customers: list[FakeCustomer] = field(default_factory=list)
    invoices: list[FakeInvoice] = field(default_factory=list)
    credit_notes: list[FakeCreditNote] = field(default_factory=list)
    malformed: list[Planted] = field(default_factory=list)

    def add(self, n: int) -> None:
        """``n`` more customers; each has one open invoice, every third a second one, and every
        fifth invoice a partial credit note. Invoice numbers are 5 digits, so they sort."""
        start = len(self.customers)
        for i in range(start, start + n):
            number = f"C{i:04d}"
            self.customers.append(
                FakeCustomer(number, f"Kunde {i} AS", f"+4722{i:06d}", f"post{i}@kunde.example")
            )
            numbers = [f"{10000 + i}"] + ([f"{50000 + i}"] if i % 3 == 0 else [])
            for offset, invoice_number in enumerate(numbers):
                issued = TODAY - dt.timedelta(days=120 + offset + i % 7)
                self.invoices.append(
                    FakeInvoice(
                        invoice_number,
                        number,
                        issued,
                        issued + dt.timedelta(days=14),
                        Decimal(1000 + i) + Decimal("0.50"),
                    )
                )
        for invoice in self.invoices[start:]:
            if int(invoice.number) % 5 == 0 and invoice.number not in self.credited:
                self.credit_notes.append(
                    FakeCreditNote(
                        f"K{invoice.number}",
                        invoice.number,
                        Decimal("50.00"),
                        invoice.invoice_date + dt.timedelta(days=3),
                    )
                )

    @property
    def credited(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for note in self.credit_notes:
            out[note.invoice] = out.get(note.invoice, Decimal("0")) + note.amount
        return out


def personal_data(index: int) -> tuple[str, str, str, str]:
    """Invented, but shaped like the real thing: name, phone, e-mail, and a birth date that
    is a real date for odd ``index`` and no date at all (29 February 1990) for even ones."""
    return (
        f"Malin Misdata{index}",
        f"+47 912 {index:02d} 345",
        f"malin.misdata{index}@privat.example",
        f"1990-01-{index % 28 + 1:02d}" if index % 2 else "1990-02-29",
    )


# --- the harness -------------------------------------------------------------------------------


class SourceHarness(ABC):
    """What a connector's contract module provides: a fake ledger in the connector's format.

    Override the abstract methods; the class variables declare what the suite cannot find out
    by itself. Every mutating method re-renders the ledger (``write``).
    """

    page_size: ClassVar[int] = 4
    ledger_size: ClassVar[int] = 9  # customers in the ordinary fake ledger
    lazy_ledger_size: ClassVar[int] = 600  # large enough to outgrow every reader's buffer
    #: streams whose first page needs the whole input, with the reason (documented limits)
    whole_input_streams: ClassVar[Mapping[str, str]] = {}
    #: packaged mapping names (or paths) the source uses; empty when it maps in code
    mappings: ClassVar[Sequence[str]] = ()
    #: the stream a malformed record is planted in (``add_malformed_record``)
    malformed_stream: ClassVar[str] = "invoices"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.ledger = FakeLedger()
        self.today = TODAY

    # --- what a connector module implements -----------------------------------------------

    @abstractmethod
    def write(self) -> None:
        """Render ``self.ledger`` (including ``malformed``) where the source reads it."""

    @abstractmethod
    def source(self) -> Source:
        """A new source over the ledger, reading ``page_size`` records per page."""

    @abstractmethod
    def broken_source(self) -> Source:
        """A source whose config points at something missing (file, directory)."""

    @abstractmethod
    def expected_keys(self) -> dict[str, set[str]]:
        """Stream name → the primary keys a full read of the current ledger yields."""

    @abstractmethod
    def truncate_ledger(self) -> None:
        """Cut the ledger in place (same files) down to its first few records.

        Called after a reader has handed out its first page: a lazy reader notices, an eager
        one, holding the whole ledger already, does not.
        """

    def serving(self) -> contextlib.AbstractContextManager[object]:
        """What the source talks to, held for the duration of one check.

        File sources need nothing; an API source's harness returns a context that installs
        its fake (e.g. a ``responses`` mock) so every read, check and fetch reaches it.
        """
        return contextlib.nullcontext()

    # --- booking back: what a harness of a source that books must add ----------------------

    #: the fake ledger's currency, and accounts a test voucher posts to: (bank, income, expense)
    currency: ClassVar[str] = "NOK"
    voucher_accounts: ClassVar[tuple[str, str, str]] = ("1920", "8050", "7770")

    def vouchers_booked(self, external_ref: str) -> int:
        """How many vouchers the fake ledger holds under ``external_ref``."""
        raise NotImplementedError(f"{type(self).__name__}: the source books vouchers")

    def payments_booked(self, invoice_number: str) -> int:
        """How many payments the fake ledger holds on the invoice ``invoice_number``."""
        raise NotImplementedError(f"{type(self).__name__}: the source books payments")

    def requests_made(self) -> int:
        """Requests the fake has answered so far, token requests included."""
        raise NotImplementedError(f"{type(self).__name__}: the source books vouchers")

    def lose_next_answer(self) -> None:
        """The fake accepts the next write to the ledger, but its answer is lost on the way
        back (the client sees a read timeout)."""
        raise NotImplementedError(f"{type(self).__name__}: the source books vouchers")

    def planted_key(self, index: int) -> str:
        """The primary key of the ``index``-th planted record, in the connector's key format.

        Override where keys have a fixed shape (an API's integer ids).
        """
        return f"BAD{index}"

    def changed_keys(self, invoices: Sequence[FakeInvoice]) -> dict[str, set[str]]:
        """Stream name → the keys whose raw records change when ``invoices`` change."""
        return {"invoices": {invoice.number for invoice in invoices}}

    def expected_claims(self) -> set[str]:
        """Invoice numbers the pipeline should hand over (open, with a good record)."""
        credited = self.ledger.credited
        return {
            invoice.number
            for invoice in self.ledger.invoices
            if invoice.amount - invoice.paid - credited.get(invoice.number, Decimal(0)) > 0
        }

    # --- ledger operations ----------------------------------------------------------------

    def build(self, n: int | None = None) -> None:
        self.ledger = FakeLedger()
        self.ledger.add(self.ledger_size if n is None else n)
        self.write()

    def add_records(self, n: int) -> None:
        self.ledger.add(n)
        self.write()

    def change_records(self, n: int = 2) -> dict[str, set[str]]:
        """Book a partial payment on the first ``n`` invoices; returns the keys that change."""
        changed = self.ledger.invoices[:n]
        for invoice in changed:
            invoice.paid += Decimal("100.00")
        self.write()
        return self.changed_keys(changed)

    def add_malformed_record(self) -> Planted:
        index = len(self.ledger.malformed) + 1
        key = self.planted_key(index)
        planted = Planted(self.malformed_stream, key, personal_data(index), index)
        self.ledger.malformed.append(planted)
        self.write()
        return planted

    def make_empty(self) -> None:
        self.ledger = FakeLedger()
        self.write()


# --- reading helpers ---------------------------------------------------------------------------


def read_all(source: Source, stream: StreamSpec, cursor: str | None = None) -> list[RawRecord]:
    return [record for page in source.read(stream, cursor) for record in page.records]


def key_of(stream: StreamSpec, record: RawRecord) -> str:
    return str(record.data.get(stream.primary_key, ""))


def _cursors(source: Source, stream: StreamSpec, cursor: str | None = None) -> list[str | None]:
    return [page.cursor for page in source.read(stream, cursor)]


def _last_cursor(cursors: Sequence[str | None]) -> str | None:
    return next((c for c in reversed(cursors) if c is not None), None)


def _snapshot(stream: StreamSpec, records: Sequence[RawRecord]) -> dict[str, str]:
    """Key → the record's data as canonical JSON, to compare two reads."""
    return {
        key_of(stream, r): json.dumps(dict(r.data), sort_keys=True, default=str) for r in records
    }


def _normalize_all(source: Source) -> Iterator[tuple[StreamSpec, RawRecord, Sequence[Any]]]:
    for stream in source.streams():
        for record in read_all(source, stream):
            yield stream, record, source.normalize(stream, record)


# --- the checks --------------------------------------------------------------------------------


def check_unique_primary_keys(harness: SourceHarness) -> None:
    """Within one full read, no primary key appears twice in a stream, and none is empty."""
    harness.build()
    source = harness.source()
    for stream in source.streams():
        keys = [key_of(stream, r) for r in read_all(source, stream)]
        assert "" not in keys, f"{stream.name}: a record has no {stream.primary_key!r}"
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        assert not dupes, f"{stream.name}: duplicate primary keys {dupes[:5]}"


def check_full_read_yields_expected_keys(harness: SourceHarness) -> None:
    """A full read yields exactly the records the harness says the ledger holds."""
    harness.build()
    harness.add_malformed_record()
    source = harness.source()
    expected = harness.expected_keys()
    assert {s.name for s in source.streams()} >= set(expected), "a stream is missing"
    for stream in source.streams():
        got = {key_of(stream, r) for r in read_all(source, stream)}
        assert got == expected.get(stream.name, set()), f"{stream.name}: unexpected records"


def check_normalize_yields_canonical_models(harness: SourceHarness) -> None:
    """Good records normalize to canonical models that survive a JSON round trip."""
    harness.build()
    count = 0
    for stream, _record, models in _normalize_all(harness.source()):
        for model in models:
            assert isinstance(model, CANONICAL), f"{stream.name}: {type(model).__name__}"
            again = type(model).model_validate_json(model.model_dump_json())
            assert again == model, f"{stream.name}: {type(model).__name__} changes in JSON"
            count += 1
    assert count, "the ledger normalized to nothing"


def check_claims_reference_debtors(harness: SourceHarness) -> None:
    """Every claim's ``debtor_id`` is the record id of a party the source yields."""
    harness.build()
    parties: set[str] = set()
    debtors: set[str] = set()
    for _stream, _record, models in _normalize_all(harness.source()):
        for model in models:
            if isinstance(model, Party):
                parties.add(model.source.record_id)
            elif isinstance(model, Claim):
                debtors.add(model.debtor_id)
    assert debtors, "no claims to check"
    missing = sorted(debtors - parties)
    assert not missing, f"claims name debtors no customer record has: {missing[:5]}"


def check_cursors_are_stable(harness: SourceHarness) -> None:
    """Cursors are strings or None, and two reads of an unchanged ledger give the same ones."""
    harness.build()
    source = harness.source()
    for stream in source.streams():
        first = _cursors(source, stream)
        assert all(c is None or isinstance(c, str) for c in first), f"{stream.name}: {first}"
        assert _cursors(harness.source(), stream) == first, f"{stream.name}: cursor moved"


def check_cursor_round_trip(harness: SourceHarness) -> None:
    """Reading again from the last cursor.

    Incremental sources yield nothing when nothing changed, and exactly the changed records
    after a change. Full-refresh sources are idempotent instead: they yield the same records
    again, and after a change the same keys, with exactly the changed records different.
    """
    harness.build()
    source = harness.source()
    streams = source.streams()
    before = {s.name: read_all(source, s) for s in streams}
    cursors = {s.name: _last_cursor(_cursors(source, s)) for s in streams}
    incremental = source.capabilities.incremental
    for stream in streams:
        again = read_all(harness.source(), stream, cursors[stream.name])
        if incremental:
            assert not again, f"{stream.name}: {len(again)} records again from the last cursor"
        else:
            assert _snapshot(stream, again) == _snapshot(stream, before[stream.name]), (
                f"{stream.name}: a full refresh of an unchanged ledger differs"
            )
    changed = harness.change_records()
    for stream in streams:
        after = read_all(harness.source(), stream, cursors[stream.name])
        want = changed.get(stream.name, set())
        if incremental:
            got = {key_of(stream, r) for r in after}
        else:
            old, new = _snapshot(stream, before[stream.name]), _snapshot(stream, after)
            assert set(new) == set(old), f"{stream.name}: keys changed with the data"
            got = {k for k in new if new[k] != old[k]}
        assert got == want, f"{stream.name}: changed {sorted(got)}, expected {sorted(want)}"


def check_pages_respect_page_size(harness: SourceHarness) -> None:
    """No page holds more than the configured page size; a large stream takes several pages."""
    harness.build(harness.page_size * 3)
    source = harness.source()
    for stream in source.streams():
        sizes = [len(page.records) for page in source.read(stream, None)]
        assert max(sizes, default=0) <= harness.page_size, f"{stream.name}: pages {sizes}"
        if sum(sizes) > harness.page_size:
            assert len(sizes) > 1, f"{stream.name}: {sum(sizes)} records in one page"


def check_empty_ledger(harness: SourceHarness) -> None:
    """An empty ledger reads as no records, without an error, and checks as fine."""
    harness.make_empty()
    source = harness.source()
    for stream in source.streams():
        assert read_all(source, stream) == [], f"{stream.name}: records from an empty ledger"
    result = source.check()
    assert result.ok, f"check() fails on an empty ledger: {result.items}"


def check_read_is_lazy(harness: SourceHarness) -> None:
    """The first page arrives before the whole ledger has been read.

    Proof: after the first page, the ledger is cut in place. A lazy reader notices (fewer or
    other records, or a ``ClaimbridgeError``); an eager one hands out the old ledger unchanged.
    Streams in ``whole_input_streams`` are exempt, each with its documented reason.
    """
    checked = 0
    for name in [s.name for s in harness.source().streams()]:
        if name in harness.whole_input_streams:
            continue
        harness.build(harness.lazy_ledger_size)
        source = harness.source()
        stream = next(s for s in source.streams() if s.name == name)
        full = _snapshot(stream, read_all(source, stream))
        if len(full) <= harness.page_size:
            continue  # a one-page stream cannot show laziness
        pages = harness.source().read(stream, None)
        records = list(next(pages).records)
        assert 0 < len(records) <= harness.page_size
        harness.truncate_ledger()
        try:
            records.extend(r for page in pages for r in page.records)
        except ClaimbridgeError:
            checked += 1  # it went back to the input and found it cut: lazy
            continue
        assert _snapshot(stream, records) != full, (
            f"{name}: the whole ledger was read before the first page was handed out"
        )
        checked += 1
    assert checked, "no stream could be checked for laziness"


def _record_errors(harness: SourceHarness) -> tuple[list[Planted], list[tuple[str, RawRecord]]]:
    """Plant two malformed records; normalize everything. Returns the planted and what failed.

    Any exception other than ``RecordError`` fails the check on the spot.
    """
    harness.build()
    planted = [harness.add_malformed_record(), harness.add_malformed_record()]
    source = harness.source()
    failed: list[tuple[str, RawRecord]] = []
    for stream in source.streams():
        for record in read_all(source, stream):
            try:
                source.normalize(stream, record)
            except RecordError:
                failed.append((stream.name, record))
            except Exception as exc:
                raise AssertionError(
                    f"{stream.name} {record.location}: normalize raised {type(exc).__name__}, "
                    "not RecordError"
                ) from exc
    return planted, failed


def _record_error(source: Source, stream_name: str, record: RawRecord) -> RecordError:
    stream = next(s for s in source.streams() if s.name == stream_name)
    with pytest.raises(RecordError) as caught:
        source.normalize(stream, record)
    return caught.value


def check_malformed_records_are_record_errors(harness: SourceHarness) -> None:
    """Exactly the planted records fail, each with a ``RecordError`` that gives reasons."""
    planted, failed = _record_errors(harness)
    streams = {s.name: s for s in harness.source().streams()}
    got = {(name, key_of(streams[name], record)) for name, record in failed}
    assert got == {(p.stream, p.key) for p in planted}, f"failed records: {sorted(got)}"
    source = harness.source()
    for name, record in failed:
        error = _record_error(source, name, record)
        assert error.reasons, f"{record.location}: RecordError without reasons"
        assert all(isinstance(r, str) and r.strip() for r in error.reasons)


def check_record_errors_name_a_location(harness: SourceHarness) -> None:
    """A ``RecordError`` says where the record is (file:line, or the record's own location)."""
    _planted, failed = _record_errors(harness)
    source = harness.source()
    assert failed, "no record failed"
    for name, record in failed:
        error = _record_error(source, name, record)
        assert error.location, f"{name} {record.location}: RecordError has no location"


def check_record_errors_hide_personal_data(harness: SourceHarness) -> None:
    """Reasons never repeat the names, phone numbers or e-mail addresses of the record."""
    planted, failed = _record_errors(harness)
    source = harness.source()
    secrets = [s.lower() for p in planted for s in p.personal_data]
    assert failed, "no record failed"
    for name, record in failed:
        error = _record_error(source, name, record)
        text = " ".join([str(error), *error.reasons]).lower()
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{name} {record.location}: the error repeats personal data"


def check_check_semantics(harness: SourceHarness) -> None:
    """``check()`` never raises; its items have kinds; a good config is all ok; a missing
    file or directory fails a CONFIG item."""
    harness.build()
    good = harness.source().check()
    assert isinstance(good, CheckResult)
    assert good.items, "check() returned no items"
    assert all(isinstance(item.kind, CheckKind) for item in good.items)
    assert good.ok, f"check() fails on a good config: {good.items}"
    try:
        bad = harness.broken_source().check()
    except Exception as exc:
        raise AssertionError(f"check() raised {type(exc).__name__} on a bad config") from exc
    assert isinstance(bad, CheckResult)
    failing = [item for item in bad.items if not item.ok]
    assert any(item.kind is CheckKind.CONFIG for item in failing), f"bad config: {bad.items}"


def check_fetch_by_id(harness: SourceHarness) -> None:
    """With ``fetch_by_id``, records fetched by key equal those read and unknown keys are
    skipped; without it, ``fetch`` raises ``NotSupportedError``."""
    harness.build()
    source = harness.source()
    for stream in source.streams():
        read = {key_of(stream, r): r for r in read_all(source, stream)}
        wanted = sorted(read)[::2]
        if not source.capabilities.fetch_by_id:
            with pytest.raises(NotSupportedError):
                list(source.fetch(stream, wanted))
            continue
        fetched = list(source.fetch(stream, [*wanted, "NO-SUCH-KEY-0"]))
        got = {key_of(stream, r): r for r in fetched}
        assert sorted(got) == wanted, f"{stream.name}: fetched {sorted(got)}"
        assert len(fetched) == len(wanted), f"{stream.name}: a record fetched twice"
        for key, record in got.items():
            assert dict(record.data) == dict(read[key].data), f"{stream.name} {key}: differs"


def _targets(fields: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted target paths of a mapping's ``[fields]`` table (nested tables flattened)."""
    for key, value in fields.items():
        if isinstance(value, dict) and not ({"path", "expr", "const"} & set(value)):
            yield from _targets(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, directly, in a tuple/list, or as an optional."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _missing_field(model: type[BaseModel], steps: Sequence[str | int]) -> str | None:
    """The first step of ``steps`` that is not a field of the (nested) model, else None."""
    current: type[BaseModel] | None = model
    for step in steps:
        if isinstance(step, int):
            continue  # a list index: the item model is already current
        if current is None or step not in current.model_fields:
            return str(step)
        current = _model_in(current.model_fields[step].annotation)
    return None


def check_mappings_validate(harness: SourceHarness) -> None:
    """Each mapping loads, and every target path (nested ones too) exists on its model."""
    assert harness.mappings, "the harness names no mappings"
    for name in harness.mappings:
        mapping = load_mapping(name)
        model = MAPPING_TARGETS[mapping.target]
        document = tomllib.loads(resolve_packaged(name).read_text(encoding="utf-8"))
        for target in _targets(document["fields"]):
            missing = _missing_field(model, parse_path(target))
            assert missing is None, f"{name}: {target!r}: {missing!r} is not on {model.__name__}"


def check_pipeline_quarantines_and_delivers(harness: SourceHarness, workdir: Path) -> None:
    """End to end: a sync with the real file-drop agency and SQLite state quarantines exactly
    the planted records (reasons without personal data) and hands over every good claim."""
    harness.build()
    planted = [harness.add_malformed_record()]
    store = StateStore.open(f"sqlite:///{workdir / 'state.db'}")
    try:
        context = ConnectorContext(name="drop", workdir=workdir, today=harness.today)
        agency = FileDropAgency(FileDropSettings(directory=workdir / "drop"), context)
        spec = PipelineSpec(
            name="contract",
            source=harness.source(),
            agency=agency,
            creditor=make_creditor(),
            policy=PolicySettings(collection_notice="agency"),
        )
        stats = sync(spec, store, today=harness.today)
        rows = store.list_quarantine("contract")
        assert {(r.stream, r.record_id) for r in rows} == {(p.stream, p.key) for p in planted}
        secrets = [s.lower() for p in planted for s in p.personal_data]
        for row in rows:
            assert json.loads(row.reasons), f"{row.location}: quarantined without reasons"
            text = f"{row.reasons} {row.location}".lower()
            assert not [s for s in secrets if s in text], "quarantine holds personal data"
        expected = harness.expected_claims()
        assert stats.claims_sent == len(expected), stats.to_dict()
        for number in expected:
            claim = store.claim("contract", number)
            assert claim is not None, f"claim {number} was not recorded"
            assert claim.case_key is not None, f"claim {number} was not handed over"
        assert any((workdir / "drop").iterdir()), "the agency received no file"
    finally:
        store.close()


# --- booking back ----------------------------------------------------------------------------


def sample_voucher(harness: SourceHarness, ref: str = "settlement-1:line-1") -> Voucher:
    """Interest and fees paid out by an agency, less its commission: three lines, both sides."""
    bank, income, expense = harness.voucher_accounts
    return Voucher(
        external_ref=ref,
        date=harness.today - dt.timedelta(days=1),
        currency=harness.currency,
        description="Renter og gebyr fra inkassobyrå, oppgjør 1",
        lines=(
            VoucherLine(bank, Decimal("130.50"), "Utbetalt fra byrå"),
            VoucherLine(income, Decimal("-150.50"), "Renter og gebyr"),
            VoucherLine(expense, Decimal("20.00"), "Provisjon"),
        ),
    )


def unbalanced(voucher: Voucher) -> Voucher:
    """``voucher`` with its first line one cent off, built past ``Voucher``'s own check as a
    caller with a bug could (``object.__setattr__`` on a frozen dataclass)."""
    made = object.__new__(Voucher)
    for item in dataclasses.fields(Voucher):
        object.__setattr__(made, item.name, getattr(voucher, item.name))
    first = voucher.lines[0]
    skewed = VoucherLine(first.account, first.amount + Decimal("0.01"), first.description)
    object.__setattr__(made, "lines", (skewed, *voucher.lines[1:]))
    return made


def check_voucher_is_booked_once(harness: SourceHarness) -> None:
    """With ``can_book_vouchers``, booking the same voucher twice (the second time from a new
    source, as a later run would) books one voucher and answers with its id both times;
    without it, ``book_voucher`` raises ``NotSupportedError``."""
    harness.build()
    voucher = sample_voucher(harness)
    source = harness.source()
    if not source.capabilities.can_book_vouchers:
        with pytest.raises(NotSupportedError):
            source.book_voucher(voucher)
        return
    first = source.book_voucher(voucher)
    assert isinstance(first, str), f"book_voucher returned {first!r}, not an id"
    assert first, "book_voucher returned an empty id"
    again = harness.source().book_voucher(voucher)
    assert again == first, f"booking again answered {again!r}, the first booking {first!r}"
    assert harness.vouchers_booked(voucher.external_ref) == 1, "the voucher was booked twice"


def check_find_booking(harness: SourceHarness) -> None:
    """``find_booking`` answers None before the voucher is booked and its id after; a reference
    never booked (even one the booked reference starts with) is None."""
    harness.build()
    voucher = sample_voucher(harness)
    source = harness.source()
    if not source.capabilities.can_book_vouchers:
        with pytest.raises(NotSupportedError):
            source.find_booking(voucher.external_ref)
        return
    assert source.find_booking(voucher.external_ref) is None, "found before it was booked"
    booked = source.book_voucher(voucher)
    found = harness.source().find_booking(voucher.external_ref)
    assert found == booked, f"find_booking answered {found!r} for the voucher booked as {booked!r}"
    for unknown in ("settlement-0:never-booked", voucher.external_ref[:-1]):
        got = harness.source().find_booking(unknown)
        assert got is None, f"find_booking found {got!r} for {unknown!r}, never booked"


def check_unbalanced_voucher_is_refused(harness: SourceHarness) -> None:
    """An unbalanced voucher is refused with a ``ClaimbridgeError`` before any request."""
    harness.build()
    bad = unbalanced(sample_voucher(harness))
    source = harness.source()
    if not source.capabilities.can_book_vouchers:
        with pytest.raises(NotSupportedError):
            source.book_voucher(bad)
        return
    before = harness.requests_made()
    refused = False
    try:
        source.book_voucher(bad)
    except ClaimbridgeError:
        refused = True
    assert refused, "an unbalanced voucher was accepted"
    assert harness.requests_made() == before, "requests were sent for an unbalanced voucher"
    assert harness.vouchers_booked(bad.external_ref) == 0, "an unbalanced voucher was booked"


def check_booking_survives_a_lost_answer(harness: SourceHarness) -> None:
    """The ledger accepts a voucher but its answer is lost: ``book_voucher`` ends with the
    voucher's id or ``OutcomeUnknownError``, ``find_booking`` then finds that voucher, and
    booking again answers with it instead of booking a second one."""
    harness.build()
    voucher = sample_voucher(harness, "settlement-2:line-1")
    source = harness.source()
    if not source.capabilities.can_book_vouchers:
        with pytest.raises(NotSupportedError):
            source.book_voucher(voucher)
        return
    harness.lose_next_answer()
    try:
        answered: str | None = source.book_voucher(voucher)
    except OutcomeUnknownError:
        answered = None
    found = harness.source().find_booking(voucher.external_ref)
    assert found is not None, "the voucher the ledger accepted is not found"
    assert answered in (None, found), f"answered {answered!r}, but {found!r} is what was booked"
    again = harness.source().book_voucher(voucher)
    assert again == found, f"booking again answered {again!r}, not the booked {found!r}"
    assert harness.vouchers_booked(voucher.external_ref) == 1, "the voucher was booked twice"


def _claim_to_pay(source: Source) -> Claim:
    stream = next(s for s in source.streams() if s.name == "invoices")
    for record in read_all(source, stream):
        try:
            models = source.normalize(stream, record)
        except RecordError:
            continue
        for model in models:
            if isinstance(model, Claim) and model.remaining_principal >= Decimal(100):
                return model
    raise AssertionError("the ledger has no open invoice to pay")


def _settlement_payment(harness: SourceHarness, claim: Claim, payment_id: str) -> Payment:
    return Payment(
        payment_id=payment_id,
        source=SourceRef(system="agency", record_id=payment_id, record_type="settlement"),
        kind=PaymentKind.SETTLEMENT,
        amount=Decimal("25.00"),
        currency=claim.currency,
        booking_date=harness.today - dt.timedelta(days=1),
    )


def check_payment_is_booked_once(harness: SourceHarness) -> None:
    """With ``can_book_payments`` and ``idempotent_payments``, registering the same payment
    twice (the second time from a new source) books one payment and answers with its id both
    times; without ``can_book_payments``, ``register_payment`` raises ``NotSupportedError``. A
    source that declares it cannot take a payment twice is not asked to (reconciliation sends
    an interrupted booking of it to a person)."""
    harness.build()
    source = harness.source()
    if not source.capabilities.can_book_payments:
        claim = make_claim()
        with pytest.raises(NotSupportedError):
            source.register_payment(_settlement_payment(harness, claim, "p-1"), claim)
        return
    if not source.capabilities.idempotent_payments:
        pytest.skip(
            f"{type(source).__name__} declares idempotent_payments = False: a payment is never "
            "registered twice, an interrupted one goes to a person"
        )
    claim = _claim_to_pay(source)
    before = harness.payments_booked(claim.invoice_number)
    payment = _settlement_payment(harness, claim, "settlement-3:line-1")
    first = source.register_payment(payment, claim)
    again = harness.source().register_payment(payment, claim)
    assert again == first, f"registering again answered {again!r}, the first time {first!r}"
    booked = harness.payments_booked(claim.invoice_number) - before
    assert booked == 1, f"one payment registered twice was booked {booked} times"


def check_distinct_payments_are_booked_apart(harness: SourceHarness) -> None:
    """Two payments with different ids are two payments, even with the same amount and date on
    the same invoice (two instalments paid out in one settlement)."""
    harness.build()
    source = harness.source()
    if not source.capabilities.can_book_payments:
        return  # check_payment_is_booked_once covers the refusal
    claim = _claim_to_pay(source)
    before = harness.payments_booked(claim.invoice_number)
    first = source.register_payment(_settlement_payment(harness, claim, "settlement-4:a"), claim)
    second = harness.source().register_payment(
        _settlement_payment(harness, claim, "settlement-4:b"), claim
    )
    booked = harness.payments_booked(claim.invoice_number) - before
    assert booked == 2, f"two payments with equal amount and date were booked as {booked}"
    assert first != second, "two payments answered with the same ledger id"


# --- the generated pytest class ------------------------------------------------------------


class SourceContract:
    """Subclass as ``TestXxxContract`` with ``harness_class`` set; pytest collects the rest.

    To mark one check as a known defect, override its method with
    ``@pytest.mark.xfail(strict=True, reason=…)`` and call ``super()``.
    """

    harness_class: ClassVar[type[SourceHarness]]

    @pytest.fixture
    def harness(self, tmp_path: Path) -> Iterator[SourceHarness]:
        harness = self.harness_class(tmp_path / "ledger")
        with harness.serving():
            yield harness

    def test_unique_primary_keys(self, harness: SourceHarness) -> None:
        check_unique_primary_keys(harness)

    def test_full_read_yields_expected_keys(self, harness: SourceHarness) -> None:
        check_full_read_yields_expected_keys(harness)

    def test_normalize_yields_canonical_models(self, harness: SourceHarness) -> None:
        check_normalize_yields_canonical_models(harness)

    def test_claims_reference_debtors(self, harness: SourceHarness) -> None:
        check_claims_reference_debtors(harness)

    def test_cursors_are_stable(self, harness: SourceHarness) -> None:
        check_cursors_are_stable(harness)

    def test_cursor_round_trip(self, harness: SourceHarness) -> None:
        check_cursor_round_trip(harness)

    def test_pages_respect_page_size(self, harness: SourceHarness) -> None:
        check_pages_respect_page_size(harness)

    def test_empty_ledger(self, harness: SourceHarness) -> None:
        check_empty_ledger(harness)

    def test_read_is_lazy(self, harness: SourceHarness) -> None:
        check_read_is_lazy(harness)

    def test_malformed_records_are_record_errors(self, harness: SourceHarness) -> None:
        check_malformed_records_are_record_errors(harness)

    def test_record_errors_name_a_location(self, harness: SourceHarness) -> None:
        check_record_errors_name_a_location(harness)

    def test_record_errors_hide_personal_data(self, harness: SourceHarness) -> None:
        check_record_errors_hide_personal_data(harness)

    def test_check_semantics(self, harness: SourceHarness) -> None:
        check_check_semantics(harness)

    def test_fetch_by_id(self, harness: SourceHarness) -> None:
        check_fetch_by_id(harness)

    def test_mappings_validate(self, harness: SourceHarness) -> None:
        if not harness.mappings:
            pytest.skip(f"{type(harness).__name__} maps in code, not with mapping files")
        check_mappings_validate(harness)

    def test_pipeline_quarantines_and_delivers(
        self, harness: SourceHarness, tmp_path: Path
    ) -> None:
        check_pipeline_quarantines_and_delivers(harness, tmp_path)

    def test_voucher_is_booked_once(self, harness: SourceHarness) -> None:
        check_voucher_is_booked_once(harness)

    def test_find_booking(self, harness: SourceHarness) -> None:
        check_find_booking(harness)

    def test_unbalanced_voucher_is_refused(self, harness: SourceHarness) -> None:
        check_unbalanced_voucher_is_refused(harness)

    def test_booking_survives_a_lost_answer(self, harness: SourceHarness) -> None:
        check_booking_survives_a_lost_answer(harness)

    def test_payment_is_booked_once(self, harness: SourceHarness) -> None:
        check_payment_is_booked_once(harness)

    def test_distinct_payments_are_booked_apart(self, harness: SourceHarness) -> None:
        check_distinct_payments_are_booked_apart(harness)
