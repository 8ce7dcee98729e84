"""File profiles: what goes in a file-drop file, compiled once into fast row functions.

A profile (``mappings/profiles/*.toml``, read by :mod:`._profile_loader`) declares per file
kind (a *section*: new cases, or one kind of correction file) the format, encoding,
separators, file name pattern and one ``[[columns]]`` entry per column, each a path over the
row context plus optional converters. Cases are written one row per claim over
``{case, claim, debtor, creditor, delivery}``; corrections one row per claim reference over
``{correction, delivery, payment, credit_note, amount, currency, date, reference, claim_ref}``.
Formats are looked up in :data:`WRITERS` (CSV here; fixed width and XML in :mod:`._layouts`).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol

from claimbridge.connectors.agencies._layouts import (
    CellError,
    Column,
    FileInfo,
    FixedWidthWriter,
    RecordField,
    Unencodable,
    record_values,
)
from claimbridge.connectors.agencies._xml import XmlLayout, XmlWriter
from claimbridge.connectors.base import Correction, CorrectionKind, Delivery
from claimbridge.mappings import register_converter
from claimbridge.mappings.converters import ConversionError, Converter
from claimbridge.schemas import Address, AddressState, Decision, Party

__all__ = [
    "ARCHIVE",
    "KEY_PATH",
    "WRITERS",
    "CsvWriter",
    "FileProfile",
    "FileWriter",
    "load_profile",
]

PROFILES_DIR = Path(__file__).resolve().parents[2] / "mappings" / "profiles"
KEY_PATH = "delivery.idempotency_key"
ARCHIVE = "archive"


def _explain(value: Any) -> str:
    if isinstance(value, Decision):
        return value.explain()
    raise ConversionError("expected a policy decision")


register_converter("explain", _explain)


def _pluck(attribute: str | None) -> Converter:
    """``pluck:address``: each item's ``address`` (emails, phones → their text)."""
    if not attribute or not attribute.isidentifier():
        raise ValueError("pluck takes a field name: pluck:address")

    def pluck(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ConversionError("expected a list")
        return [getattr(item, attribute, None) for item in value if item is not None]

    return pluck


def _join(separator: str | None) -> Converter:
    """``join:;``: a list as one text, empty entries left out (default separator ``;``)."""
    glue = separator if separator else ";"

    def join(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ConversionError("expected a list")
        return glue.join(str(v) for v in value if v not in (None, "")) or None

    return join


register_converter("pluck", _pluck, takes_argument=True)
register_converter("join", _join, takes_argument=True)


# --- the profile --------------------------------------------------------------------------

Cell = Callable[[Any], str]
Fill = Callable[[dict[str, Any], list[str]], None]
MAX_PATH_STEPS = 32  # the generated code nests one block per step


class _Node:
    """One step of the column paths. Columns share prefixes (``debtor.addresses[0]``), so each
    row resolves every shared step once instead of once per column."""

    def __init__(self, key: str | int) -> None:
        self.key = key
        self.children: dict[str | int, _Node] = {}
        self.cells: list[tuple[int, Cell, bool]] = []

    def add(self, steps: tuple[str | int, ...], column: int, cell: Cell, always: bool) -> None:
        """``always``: text goes through the cell too (a value map), not written as it is."""
        node = self
        for step in steps:
            node = node.children.setdefault(step, _Node(step))
        node.cells.append((column, cell, always))


class _Generator:
    """Writes one ``fill(context, out)`` function for a set of columns, as dataclasses do for
    ``__init__``: every path is resolved by inline attribute reads instead of per-row calls.

    Only validated path steps (identifiers and list indexes, as ``repr`` literals) and column
    numbers reach the source text; the cell formatters are bound by generated names.
    """

    def __init__(self) -> None:
        self.lines = ["def fill(context, out):"]
        self.namespace: dict[str, Any] = {}
        self.count = 0

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def node(self, node: _Node, parent: str, indent: int) -> None:
        self.count += 1
        here = f"node{self.count}"
        key = node.key
        if isinstance(key, int):
            # Below the context are models and tuples; a missing index writes nothing, a
            # present one writes its cells even when the entry is None.
            self.emit(indent, f"if type({parent}) is tuple and len({parent}) > {key}:")
            self.emit(indent + 1, f"{here} = {parent}[{key}]")
            self.cells(node, here, indent + 1)
            if node.children:
                self.emit(indent + 1, f"if {here} is not None:")
                self.children(node, here, indent + 2)
            return
        if parent == "context" or hasattr(dict, key):  # the context is a dict; below it a dict
            # must not answer 'items' or 'keys' with its method
            self.emit(
                indent,
                f"{here} = {parent}.get({key!r}) if isinstance({parent}, dict) "
                f"else getattr({parent}, {key!r}, None)",
            )
        else:  # models (the common case) first, a dict by key only when that found nothing
            self.emit(indent, f"{here} = getattr({parent}, {key!r}, None)")
            self.emit(indent, f"if {here} is None and isinstance({parent}, dict):")
            self.emit(indent + 1, f"{here} = {parent}.get({key!r})")
        self.emit(indent, f"if {here} is not None:")
        self.cells(node, here, indent + 1)
        self.children(node, here, indent + 1)

    def cells(self, node: _Node, value: str, indent: int) -> None:
        for column, cell, always in node.cells:
            name = f"_cell{column}"
            self.namespace[name] = cell
            if always:
                self.emit(indent, f"out[{column}] = {name}({value})")
                continue
            self.emit(
                indent, f"out[{column}] = {value} if isinstance({value}, str) else {name}({value})"
            )

    def children(self, node: _Node, value: str, indent: int) -> None:
        for child in node.children.values():
            self.node(child, value, indent)

    def function(self, tops: list[_Node]) -> tuple[Fill, str]:
        for top in tops:
            self.node(top, "context", 1)
        if len(self.lines) == 1:
            self.emit(1, "pass")
        source = "\n".join(self.lines) + "\n"
        exec(compile(source, "<file profile>", "exec"), self.namespace)  # noqa: S102 - see class
        fill: Fill = self.namespace["fill"]
        return fill, source


def _cell(
    chain: tuple[Converter, ...],
    fmt: Callable[[Any], str],
    mapping: Mapping[str, str] | None = None,
    header: str = "",
) -> Cell:
    if not chain and mapping is None:
        return fmt

    def cell(value: Any) -> str:
        try:
            for convert in chain:
                value = convert(value)
                if value is None:
                    return ""
        except ConversionError:
            return ""
        text = value if isinstance(value, str) else fmt(value)
        if mapping is None:
            return text
        try:
            return mapping[text]
        except KeyError:
            raise CellError(header, "the value has no entry in the column's map") from None

    return cell


@dataclass(frozen=True, slots=True)
class CorrectionItem:
    """A correction with the claims its rows are written for: the one it names, or, in a
    per-claim section, every claim of the case as the case files written earlier show them."""

    correction: Correction
    claim_refs: tuple[str | None, ...] = (None,)

    @property
    def idempotency_key(self) -> str:
        return self.correction.idempotency_key


Item = Delivery | CorrectionItem


@dataclass(frozen=True, slots=True)
class FileProfile:
    """A compiled file profile section: how to name, encode and fill one kind of file.

    The columns are split in two generated functions: ``fill_case`` for everything that is the
    same on every row of an item (debtor, creditor, delivery, the correction) and
    ``fill_claim`` for the per-row columns (``claim.*``, ``claim_ref``), so a case with several
    claims resolves its debtor columns once.
    """

    name: str
    format: str
    encoding: str
    delimiter: str
    line_ending: str
    header: bool
    filename: str
    headers: tuple[str, ...]
    template: tuple[str, ...]  # constants filled in, every other cell empty
    fill_case: Fill
    fill_claim: Fill
    key_column: int  # -1: the keys are kept in a manifest beside the file (see file_drop)
    source: str = ""  # the generated functions' text, for reading and debugging
    kind: str = "cases"  # the section: "cases", or the name of a corrections section
    kinds: tuple[CorrectionKind, ...] = ()  # the corrections a corrections section carries
    directory: str = ""  # below the drop directory, and below sftp.remote_dir
    columns: tuple[Column, ...] = ()
    unencodable: Unencodable = "error"
    per_claim: bool = False  # one row per claim of the case, found in the case files
    case_column: int = -1  # cases: the column naming the case (for per-claim corrections)
    claim_column: int = -1  # cases: the column naming the claim
    header_record: tuple[RecordField, ...] = ()
    trailer_record: tuple[RecordField, ...] = ()
    xml: XmlLayout | None = None
    amount_text: Callable[[Decimal], str] = str
    amount_value: Callable[[str], Decimal] = Decimal

    @property
    def manifest(self) -> bool:
        """The file format has no column for our key: it is kept beside the file."""
        return self.key_column < 0

    @property
    def daily_sequence(self) -> bool:
        """Sequence numbers start again each day when the name carries the date."""
        return any(f == "date" for _, f, _, _ in string.Formatter().parse(self.filename))

    def row(self, context: dict[str, Any]) -> list[str]:
        out = list(self.template)
        self.fill_case(context, out)
        self.fill_claim(context, out)
        return out

    def rows(self, item: Item) -> Iterator[list[str]]:
        """One row per claim of a delivery's case (protected address lines never written),
        or one row per claim reference of a correction."""
        if not isinstance(item, Delivery):
            yield from self._correction_rows(item)
            return
        case = item.case
        context: dict[str, Any] = {
            "case": case,
            "claim": None,
            "debtor": _without_protected_lines(case.debtor),
            "creditor": case.creditor,
            "delivery": item,
        }
        base = list(self.template)
        self.fill_case(context, base)
        for claim in case.claims:
            context["claim"] = claim
            out = base.copy()
            self.fill_claim(context, out)
            yield out

    def _correction_rows(self, item: CorrectionItem) -> Iterator[list[str]]:
        correction = item.correction
        payment, note = correction.payment, correction.credit_note
        context: dict[str, Any] = {
            "correction": correction,
            "delivery": correction,
            "payment": payment,
            "credit_note": note,
            "amount": payment.amount if payment else note.amount if note else None,
            "currency": payment.currency if payment else note.currency if note else None,
            "date": payment.booking_date if payment else note.issue_date if note else None,
            "reference": payment.reference
            if payment
            else note.credit_note_number
            if note
            else None,
            "claim_ref": None,
        }
        base = list(self.template)
        self.fill_case(context, base)
        for ref in item.claim_refs:
            context["claim_ref"] = ref
            out = base.copy()
            self.fill_claim(context, out)
            yield out

    def file_name(self, day: dt.date, now: dt.datetime, seq: int) -> str:
        return self.filename.format(date=day, now=now, seq=seq)

    def file_pattern(self, day: dt.date | None) -> re.Pattern[str]:
        """Names this profile writes: for one day (``seq`` captured), or for any day."""
        parts = []
        for literal, field, spec, _ in string.Formatter().parse(self.filename):
            parts.append(re.escape(literal))
            if field == "seq":
                parts.append(r"(\d+)")
            elif field == "date":
                parts.append(re.escape(format(day, spec or "")) if day else _time_regex(spec))
            elif field == "now":
                parts.append(_time_regex(spec))
        return re.compile("".join(parts))


_DIRECTIVES = {"Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}"}
_DIRECTIVES |= {"M": r"\d{2}", "S": r"\d{2}", "j": r"\d{3}", "f": r"\d{6}", "%": "%"}


def _time_regex(spec: str | None) -> str:
    """A regex for what ``format(date, spec)`` writes (digits for the usual directives)."""
    if not spec:
        return r".+?"
    out, chars = [], iter(spec)
    for char in chars:
        if char == "%":
            directive = next(chars, "")
            out.append(_DIRECTIVES.get(directive, r".+?"))
        else:
            out.append(re.escape(char))
    return "".join(out)


def _formatter(
    amount: bool,
    minor: bool,
    decimal_sep: str,
    date_format: str,
    header: str = "",
    digits: int = 2,
) -> Callable[[Any], str]:
    """One column's cell text. The common exact types (dates, amounts, whole numbers) are
    looked up by type first; anything else goes through the general rules.

    An amount is written exactly or not at all: one with more decimals than the currency's
    minor unit (or not finite) is a :class:`CellError`, never rounded or cut."""
    quantum = Decimal(1).scaleb(-digits)

    def exact_amount(value: Decimal) -> Decimal:
        if not value.is_finite():
            raise CellError(header, "is not a finite amount")
        try:
            fitted = value.quantize(quantum)
        except InvalidOperation:
            raise CellError(header, "is too large an amount") from None
        if fitted != value:
            raise CellError(header, f"has more than {digits} decimals; it is never rounded")
        return fitted

    def decimal_text(value: Decimal) -> str:
        if amount and minor:
            scaled = value.scaleb(digits)
            if scaled == scaled.to_integral_value() and value.is_finite():
                return str(int(scaled))
            return str(int(exact_amount(value).scaleb(digits)))
        if amount:
            text = str(value)  # already "1234.50" for an amount with two decimals
            if digits != 2 or text[-3:-2] != "." or "E" in text:
                text = format(exact_amount(value), "f")
        else:
            text = format(value, "f")
        return text.replace(".", decimal_sep) if decimal_sep != "." else text

    def date_text(value: dt.date) -> str:
        return value.isoformat() if date_format == "%Y-%m-%d" else value.strftime(date_format)

    exact: dict[type, Callable[[Any], str]] = {
        Decimal: decimal_text,
        dt.date: dt.date.isoformat if date_format == "%Y-%m-%d" else date_text,
        int: str,
        bool: lambda value: "1" if value else "0",
    }

    def fmt(value: Any) -> str:
        fast = exact.get(type(value))
        if fast is not None:
            return fast(value)
        if value is None:
            return ""
        if isinstance(value, str):
            return str(value)
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, Decimal):
            return decimal_text(value)
        if isinstance(value, dt.date):
            return date_text(value)
        if isinstance(value, list | tuple):
            return ", ".join(fmt(v) for v in value)
        return str(value)

    return fmt


def load_profile(name_or_path: str | Path) -> FileProfile:
    """The cases section of a packaged profile (``generic_csv``) or a profile file; compiled
    once. :func:`~claimbridge.connectors.agencies._profile_loader.load_drop_profile` gives
    the whole profile (corrections sections and return files too)."""
    from claimbridge.connectors.agencies._profile_loader import load_drop_profile

    return load_drop_profile(name_or_path).cases


# --- writers (one per file format) --------------------------------------------------------


class FileWriter(Protocol):
    """Writes a section's rows as one file and reads the files it wrote back (records keyed by
    column header, and the idempotency keys lookups need). ``binary`` writers get a byte
    stream (XML declares its own encoding); the others a text stream in the profile's."""

    binary: ClassVar[bool]

    def write(
        self,
        stream: IO[Any],
        profile: FileProfile,
        rows: Iterable[list[str]],
        info: FileInfo | None = None,
    ) -> None: ...

    def records(
        self, stream: IO[Any], profile: FileProfile
    ) -> Iterator[tuple[int, dict[str, str]]]: ...

    def keys(self, stream: IO[Any], profile: FileProfile) -> Iterator[str]: ...


class CsvWriter:
    """CSV exactly as :func:`csv.writer` writes it (minimal quoting), but a row with nothing to
    quote — nearly every row — is joined with ``str.join``, which is several times faster than
    the csv module's per-character scan. Any other row is written by the csv module itself."""

    binary: ClassVar[bool] = False
    chunk_rows = 1000  # rows joined per ``stream.write``

    def write(
        self,
        stream: IO[Any],
        profile: FileProfile,
        rows: Iterable[list[str]],
        info: FileInfo | None = None,
    ) -> None:
        delimiter, ending = profile.delimiter, profile.line_ending
        writer = csv.writer(stream, delimiter=delimiter, lineterminator=ending)
        records = profile.header_record or profile.trailer_record
        if records:  # counts and control sums need every row first
            rows = list(rows)
            info = info or FileInfo(dt.date.today(), 0, dt.datetime.now(dt.UTC))
        if profile.header_record:
            writer.writerow(_summary_values(profile, profile.header_record, rows, info))
        if profile.header:
            writer.writerow(profile.headers)
        special = _special_characters(delimiter, ending)
        chunk: list[str] = []
        for row in rows:
            line = delimiter.join(row)
            if len(row) > 1 and line.count(delimiter) == len(row) - 1 and not special(line):
                chunk.append(line)
                if len(chunk) == self.chunk_rows:
                    _flush(stream, chunk, ending)
            else:
                _flush(stream, chunk, ending)  # keeps the rows in order
                writer.writerow(row)
        _flush(stream, chunk, ending)
        if profile.trailer_record:
            writer.writerow(_summary_values(profile, profile.trailer_record, rows, info))

    def records(
        self, stream: IO[Any], profile: FileProfile
    ) -> Iterator[tuple[int, dict[str, str]]]:
        """Each row as ``{header: value}`` with the line it starts on."""
        reader = csv.reader(stream, delimiter=profile.delimiter)
        skip = int(bool(profile.header_record)) + int(profile.header)
        headers = profile.headers
        previous: tuple[int, dict[str, str]] | None = None
        for index, row in enumerate(reader):
            if index < skip:
                continue
            record = dict(zip(headers, row, strict=False))
            if previous is not None:
                yield previous
            previous = (reader.line_num, record)
        if previous is not None and not profile.trailer_record:
            yield previous

    def keys(self, stream: IO[Any], profile: FileProfile) -> Iterator[str]:
        if profile.header_record or profile.trailer_record:
            header = profile.headers[profile.key_column]
            yield from (r[header] for _, r in self.records(stream, profile) if r.get(header))
            return
        reader = csv.reader(stream, delimiter=profile.delimiter)
        if profile.header:
            next(reader, None)
        column = profile.key_column
        for row in reader:
            if len(row) > column and row[column]:
                yield row[column]


def _summary_values(
    profile: FileProfile,
    fields: tuple[RecordField, ...],
    rows: Any,
    info: FileInfo | None,
) -> list[str]:
    assert info is not None
    return record_values(fields, rows, info, profile.amount_text, profile.amount_value)


def _flush(stream: IO[Any], chunk: list[str], ending: str) -> None:
    if chunk:
        stream.write(ending.join(chunk) + ending)
        chunk.clear()


@lru_cache(maxsize=32)
def _special_characters(delimiter: str, ending: str) -> Callable[[str], re.Match[str] | None]:
    """A search for anything that may make the csv module quote a field, apart from the
    delimiter itself (counted separately): the quote, line breaks, the line ending's characters.
    """
    characters = set('"\r\n') | set(ending)
    return re.compile("[" + "".join(re.escape(c) for c in sorted(characters)) + "]").search


WRITERS: dict[str, FileWriter] = {
    "csv": CsvWriter(),
    "fixed": FixedWidthWriter(),
    "xml": XmlWriter(),
}


def _without_protected_lines(debtor: Party) -> Party:
    """A protected address is never written: only its state is (the rule holds whatever the
    washing stage did)."""
    if all(a.state is not AddressState.PROTECTED for a in debtor.addresses):
        return debtor
    addresses = tuple(
        Address(kind=a.kind, state=a.state) if a.state is AddressState.PROTECTED else a
        for a in debtor.addresses
    )
    return debtor.model_copy(update={"addresses": addresses})
