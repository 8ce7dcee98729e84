"""Streaming readers for CSV and JSON Lines exports that never lose a good row.

Files are read as bytes, line by line, and decoded per line: one row with bytes that are not
valid in the configured encoding is reported (with its line number and a hint to set
``encoding``) while every other row is delivered. Row-level problems — wrong column count,
broken quoting, an over-long field, a truncated last row, invalid JSON — come back as a
:class:`Row` with ``problems`` set, so the caller can quarantine exactly that row. Only a file
that cannot be used at all (unreadable, missing required columns) raises ``ParseError``.

While reading, the bytes are hashed, so after the last row :attr:`TabularFile.fingerprint`
identifies the exact file content (``sha256:<hex>:<size>``).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple

from claimbridge.errors import ParseError

__all__ = ["MAX_FIELD_CHARS", "Row", "TabularFile", "detect_format"]

MAX_FIELD_CHARS = 131_072  # the csv module's own default field limit; JSONL values get the same
_DELIMITERS = ",;\t"
Format = Literal["csv", "jsonl"]


class Row(NamedTuple):
    """One record: its first physical line, its fields, and what is wrong with it, if anything.

    A named tuple rather than a frozen dataclass: as immutable, and cheaper to build for every
    row of a large export.
    """

    line: int
    data: dict[str, Any]
    problems: tuple[str, ...] = ()


def detect_format(path: Path, setting: str) -> Format:
    if setting in ("csv", "jsonl"):
        return setting  # type: ignore[return-value]
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    raise ParseError(
        "cannot tell the format from the file name; set format = 'csv' or 'jsonl'",
        file=path.name,
    )


def check_encoding(encoding: str) -> str:
    """The codec's canonical name; ``ValueError`` unless it is ASCII-compatible (lines split)."""
    info = codecs.lookup(encoding)
    if "\n".encode(info.name) != b"\n" or ',;\t"'.encode(info.name) != b',;\t"':
        raise ValueError(f"encoding {encoding!r} is not ASCII-compatible (use utf-8, latin-1…)")
    return info.name


@dataclass
class _Lines:
    """Byte lines → decoded lines; remembers bad lines, the hash and whether the end had '\\n'."""

    stream: BinaryIO
    encoding: str
    bad: set[int] = field(default_factory=set)
    number: int = 0
    size: int = 0
    ended_with_newline: bool = True
    digest: Any = field(default_factory=hashlib.sha256)

    def __iter__(self) -> Iterator[str]:
        utf8 = self.encoding == "utf-8"
        for raw in self.stream:
            self.number += 1
            self.size += len(raw)
            self.digest.update(raw)
            self.ended_with_newline = raw.endswith(b"\n")
            if self.number == 1 and utf8 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield raw.decode(self.encoding)
            except UnicodeDecodeError:
                self.bad.add(self.number)
                yield raw.decode(self.encoding, errors="replace")


class TabularFile:
    """One export file, read as a stream of :class:`Row`."""

    def __init__(
        self,
        path: Path,
        *,
        format: Format,
        encoding: str = "utf-8",
        delimiter: str | None = None,
        required: Sequence[str] = (),
    ) -> None:
        self.path = path
        self.format = format
        self.encoding = check_encoding(encoding)
        if self.encoding == "utf-8-sig":
            self.encoding = "utf-8"
        self.delimiter = delimiter
        self.required = tuple(required)
        self.fingerprint: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    def _open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise ParseError(f"cannot open: {exc.strerror or exc}", file=self.name) from None

    def header(self) -> list[str]:
        """The CSV header (checked for required columns); ``[]`` for JSONL or an empty file."""
        if self.format != "csv":
            return []
        with self._open() as stream:
            lines = _Lines(stream, self.encoding)
            for text in lines:
                if text.strip():
                    return self._parse_header(text, lines)
        return []

    def _parse_header(self, text: str, lines: _Lines) -> list[str]:
        line = lines.number
        if line in lines.bad:
            raise ParseError(
                f"header is not valid {self.encoding}; set the 'encoding' setting",
                file=self.name,
                line=line,
            )
        delimiter = self.delimiter or _sniff_delimiter(text)
        self.delimiter = delimiter
        try:
            cells = next(csv.reader([text], delimiter=delimiter))
        except csv.Error as exc:
            raise ParseError(
                f"header is not valid CSV ({exc})", file=self.name, line=line
            ) from None
        columns = [c.strip().lower() for c in cells]
        missing = [c for c in self.required if c not in columns]
        if missing:
            raise ParseError(
                f"missing required columns: {', '.join(missing)}", file=self.name, line=line
            )
        return columns

    def rows(self) -> Iterator[Row]:
        """Every record in file order; sets :attr:`fingerprint` once the file is read."""
        with self._open() as stream:
            lines = _Lines(stream, self.encoding)
            if self.format == "csv":
                yield from self._csv_rows(lines)
            else:
                yield from self._jsonl_rows(lines)
            self.fingerprint = f"sha256:{lines.digest.hexdigest()}:{lines.size}"

    def _encoding_problem(self, lines: _Lines, first: int, last: int) -> str | None:
        if any(first <= n <= last for n in lines.bad):
            return f"bytes not valid in {self.encoding}; check the 'encoding' setting"
        return None

    def _csv_rows(self, lines: _Lines) -> Iterator[Row]:
        decoded = iter(lines)
        header: list[str] | None = None
        for text in decoded:
            if text.strip():
                header = self._parse_header(text, lines)
                break
        if header is None:
            return
        width = len(header)
        reader = csv.reader(decoded, delimiter=self.delimiter or ",", strict=True)
        previous = lines.number
        while True:
            first = previous + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                previous = lines.number
                reason = str(exc)
                if reason == "unexpected end of data":
                    reason = "truncated (a quoted field is not closed)"
                elif "field limit" in reason:
                    reason = f"a field is longer than {MAX_FIELD_CHARS} characters"
                else:
                    reason = f"bad CSV quoting ({reason})"
                yield Row(first, {}, (reason,))
                continue
            previous = lines.number
            if len(cells) == width > 1 and not lines.bad:  # the common case: a clean row
                yield Row(first, dict(zip(header, cells, strict=True)))
                continue
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            problems = []
            if bad := self._encoding_problem(lines, first, previous):
                problems.append(bad)
            if len(cells) != width:
                # Only the last line can lack its newline: a short row there was cut off.
                if not lines.ended_with_newline and len(cells) < width:
                    problems.append("truncated (the last row is cut short)")
                else:
                    problems.append(f"expected {width} columns, found {len(cells)}")
                cells = cells[:width]
            yield Row(first, dict(zip(header, cells, strict=False)), tuple(problems))

    def _jsonl_rows(self, lines: _Lines) -> Iterator[Row]:
        for text in lines:
            if not text.strip():
                continue
            number = lines.number
            problems: list[str] = []
            if bad := self._encoding_problem(lines, number, number):
                problems.append(bad)
            try:
                value = json.loads(text.rstrip("\r\n"), parse_float=Decimal)
            except (json.JSONDecodeError, RecursionError) as exc:
                if not lines.ended_with_newline:
                    reason = "truncated (the last object is cut short)"
                elif isinstance(exc, json.JSONDecodeError):
                    reason = f"invalid JSON at column {exc.colno}: {exc.msg}"
                else:
                    reason = "invalid JSON: nested too deeply"
                yield Row(number, {}, (*problems, reason))
                continue
            if not isinstance(value, dict):
                yield Row(number, {}, (*problems, "expected a JSON object"))
                continue
            long = [k for k, v in value.items() if isinstance(v, str) and len(v) > MAX_FIELD_CHARS]
            if long:
                problems.append(f"a field is longer than {MAX_FIELD_CHARS} characters")
                value = {k: v for k, v in value.items() if k not in long}
            yield Row(number, {str(k).lower(): v for k, v in value.items()}, tuple(problems))


def _sniff_delimiter(header: str) -> str:
    """``,`` ``;`` or tab, from the header line (csv.Sniffer, with a count as the fallback)."""
    try:
        found = csv.Sniffer().sniff(header, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        found = max(_DELIMITERS, key=header.count)
    return found if header.count(found) else ","
