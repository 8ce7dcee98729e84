"""File profiles: what goes in a file-drop file, compiled once into fast row functions.

A profile (``mappings/profiles/*.toml``) declares the file format, encoding, separators, file
name pattern and one ``[[columns]]`` entry per column, each a path over the row context
``{case, claim, debtor, creditor, delivery}`` plus optional converters. One row per claim.
Formats are looked up in :data:`WRITERS`, so fixed-width and XML writers can be added without
touching the profile or agency code.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import string
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TextIO

from claimbridge.connectors.base import Delivery
from claimbridge.errors import MappingError
from claimbridge.mappings import register_converter
from claimbridge.mappings.converters import ConversionError, Converter, build_converter
from claimbridge.mappings.engine import parse_path, resolve_packaged
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
        self.cells: list[tuple[int, Cell]] = []

    def add(self, steps: tuple[str | int, ...], column: int, cell: Cell) -> None:
        node = self
        for step in steps:
            node = node.children.setdefault(step, _Node(step))
        node.cells.append((column, cell))


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
        for column, cell in node.cells:
            name = f"_cell{column}"
            self.namespace[name] = cell
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


def _cell(chain: tuple[Converter, ...], fmt: Callable[[Any], str]) -> Cell:
    if not chain:
        return fmt

    def cell(value: Any) -> str:
        try:
            for convert in chain:
                value = convert(value)
                if value is None:
                    return ""
        except ConversionError:
            return ""
        return fmt(value)

    return cell


@dataclass(frozen=True, slots=True)
class FileProfile:
    """A compiled file profile: how to name, encode and fill one delivery file.

    The columns are split in two generated functions: ``fill_case`` for everything that is the
    same on every row of a case (debtor, creditor, delivery) and ``fill_claim`` for the
    ``claim.*`` columns, so a case with several claims resolves its debtor columns once.
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
    key_column: int
    source: str = ""  # the generated functions' text, for reading and debugging

    def row(self, context: dict[str, Any]) -> list[str]:
        out = list(self.template)
        self.fill_case(context, out)
        self.fill_claim(context, out)
        return out

    def rows(self, delivery: Delivery) -> Iterator[list[str]]:
        """One row per claim of the delivery's case; protected address lines never written."""
        case = delivery.case
        context: dict[str, Any] = {
            "case": case,
            "claim": None,
            "debtor": _without_protected_lines(case.debtor),
            "creditor": case.creditor,
            "delivery": delivery,
        }
        base = list(self.template)
        self.fill_case(context, base)
        for claim in case.claims:
            context["claim"] = claim
            out = base.copy()
            self.fill_claim(context, out)
            yield out

    def file_pattern(self, day: dt.date | None) -> re.Pattern[str]:
        """Names this profile writes: for one day (``seq`` captured), or for any day."""
        parts = []
        for literal, field, spec, _ in string.Formatter().parse(self.filename):
            parts.append(re.escape(literal))
            if field == "seq":
                parts.append(r"(\d+)")
            elif field == "date":
                parts.append(re.escape(format(day, spec or "")) if day else r".+?")
        return re.compile("".join(parts))


def _formatter(
    amount: bool, minor: bool, decimal_sep: str, date_format: str
) -> Callable[[Any], str]:
    """One column's cell text. The common exact types (dates, amounts, whole numbers) are
    looked up by type first; anything else goes through the general rules."""

    def decimal_text(value: Decimal) -> str:
        if amount and minor:
            return str(int(value.scaleb(2)))
        if amount:
            text = str(value)  # already "1234.50" for an amount with two decimals
            if text[-3:-2] != "." or "E" in text:
                text = f"{value:.2f}"
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


def _profile_from_toml(text: str, label: str) -> FileProfile:
    def fail(message: str, field: str = "") -> MappingError:
        return MappingError(message, mapping=label, field=field)

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"invalid TOML: {exc}") from None
    file = document.get("file", {})
    columns = document.get("columns", [])
    if not isinstance(file, dict) or not isinstance(columns, list) or not columns:
        raise fail("needs a [file] table and at least one [[columns]] entry")
    fmt_name = file.get("format", "csv")
    if fmt_name not in WRITERS:
        raise fail(f"format {fmt_name!r} is not supported; use one of {sorted(WRITERS)}", "format")
    amounts = file.get("amounts", "major")
    if amounts not in ("major", "minor"):
        raise fail("must be 'major' or 'minor'", "amounts")
    decimal_sep = file.get("decimal_separator", ".")
    if decimal_sep not in (".", ","):
        raise fail("must be '.' or ','", "decimal_separator")
    filename = str(file.get("filename", "cases_{date:%Y%m%d}_{seq:04d}.csv"))
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(filename) if f is not None]
        filename.format(date=dt.date(2000, 1, 1), seq=1)
    except (ValueError, KeyError, IndexError):
        raise fail("bad file name pattern; use {date:%Y%m%d} and {seq:04d}", "filename") from None
    if fields.count("seq") != 1 or set(fields) - {"date", "seq"} or "/" in filename:
        raise fail("needs exactly one {seq}, optionally {date}, no '/'", "filename")
    encoding = str(file.get("encoding", "utf-8"))
    try:
        "".encode(encoding)
    except LookupError:
        raise fail(f"unknown encoding {encoding!r}", "encoding") from None
    date_format = str(file.get("date_format", "%Y-%m-%d"))
    headers: list[str] = []
    template: list[str] = []
    root = _Node("")
    key_column = -1
    for number, column in enumerate(columns, start=1):
        where = f"columns[{number}]"
        if not isinstance(column, dict) or "header" not in column:
            raise fail("each column needs a 'header'", where)
        unknown = set(column) - {"header", "path", "const", "convert", "amount"}
        if unknown:
            raise fail(f"unknown keys {sorted(unknown)}", where)
        fmt = _formatter(bool(column.get("amount")), amounts == "minor", decimal_sep, date_format)
        template.append(fmt(column["const"]) if "const" in column else "")
        if "const" not in column:
            path = column.get("path")
            if not isinstance(path, str):
                raise fail("needs a 'path' or a 'const'", where)
            names = column.get("convert", [])
            names = names if isinstance(names, list) else [names]
            try:
                chain = tuple(build_converter(str(n)) for n in names)
                steps = parse_path(path)
                if len(steps) > MAX_PATH_STEPS:
                    raise ValueError(f"path is longer than {MAX_PATH_STEPS} steps")
                root.add(steps, number - 1, _cell(chain, fmt))
            except KeyError as exc:
                raise fail(f"unknown converter {exc.args[0]!r}", where) from None
            except ValueError as exc:
                raise fail(str(exc), where) from None
            if path == KEY_PATH:
                key_column = number - 1
        headers.append(str(column["header"]))
    if key_column < 0:
        raise fail(f"one column must hold {KEY_PATH!r} (needed to look up deliveries)")
    tops = list(root.children.values())
    case_fill, case_source = _Generator().function([n for n in tops if n.key != "claim"])
    claim_fill, claim_source = _Generator().function([n for n in tops if n.key == "claim"])
    return FileProfile(
        name=label,
        format=str(fmt_name),
        encoding=encoding,
        delimiter=str(file.get("delimiter", ";")),
        line_ending=str(file.get("line_ending", "\r\n")),
        header=bool(file.get("header", True)),
        filename=filename,
        headers=tuple(headers),
        template=tuple(template),
        fill_case=case_fill,
        fill_claim=claim_fill,
        key_column=key_column,
        source=f"{case_source}\n{claim_source}",
    )


@lru_cache(maxsize=32)
def _load_cached(path: Path) -> FileProfile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read: {exc.__class__.__name__}", mapping=str(path)) from None
    return _profile_from_toml(text, path.name)


def load_profile(name_or_path: str | Path) -> FileProfile:
    """A packaged profile by name (``generic_csv``) or a profile file; compiled once."""
    return _load_cached(resolve_packaged(name_or_path, PROFILES_DIR))


# --- writers (one per file format) --------------------------------------------------------


class FileWriter(Protocol):
    def write(self, stream: TextIO, profile: FileProfile, rows: Iterator[list[str]]) -> None: ...

    def keys(self, stream: TextIO, profile: FileProfile) -> Iterator[str]: ...


class CsvWriter:
    """CSV exactly as :func:`csv.writer` writes it (minimal quoting), but a row with nothing to
    quote — nearly every row — is joined with ``str.join``, which is several times faster than
    the csv module's per-character scan. Any other row is written by the csv module itself."""

    chunk_rows = 1000  # rows joined per ``stream.write``

    def write(self, stream: TextIO, profile: FileProfile, rows: Iterator[list[str]]) -> None:
        delimiter, ending = profile.delimiter, profile.line_ending
        writer = csv.writer(stream, delimiter=delimiter, lineterminator=ending)
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

    def keys(self, stream: TextIO, profile: FileProfile) -> Iterator[str]:
        reader = csv.reader(stream, delimiter=profile.delimiter)
        if profile.header:
            next(reader, None)
        column = profile.key_column
        for row in reader:
            if len(row) > column and row[column]:
                yield row[column]


def _flush(stream: TextIO, chunk: list[str], ending: str) -> None:
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


WRITERS: dict[str, FileWriter] = {"csv": CsvWriter()}


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
