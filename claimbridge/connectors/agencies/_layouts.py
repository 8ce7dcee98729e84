"""What a file format adds to a profile's rows: cell rules, header and trailer records, and the
fixed-width writer with the reader that reads its files back (XML is :mod:`._xml`).

The rule every format shares: a key, an amount or a reference is never cut, padded into
something else or re-encoded. A value that does not fit its column, or holds a character the
file's encoding cannot carry, is a :class:`CellError` naming the column, and the delivery it
belongs to is refused with that reason (never its value: it may be personal data). Free text
may be declared truncatable, and the encoding may declare a replacement policy for it.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from claimbridge.connectors.agencies._profiles import FileProfile

__all__ = [
    "CellError",
    "Column",
    "FileInfo",
    "FixedWidthWriter",
    "RecordField",
    "amount_value_parser",
    "clean_row",
    "fixed_line",
    "record_values",
]

Unencodable = Literal["error", "replace", "transliterate"]
RecordValue = Literal["const", "count", "sum", "date", "seq", "created"]
Row = list[str]

# Line breaks and tabs inside free text become a space in formats that are line-based.
_LINE_BREAKS = dict.fromkeys(map(ord, "\t\n\r\x0b\x0c\x85\u2028\u2029"), " ")
# Letters NFKD leaves whole: what a Latin-1 reader expects instead.
_FOLD = str.maketrans(
    {
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Ø": "O",
        "ø": "o",
        "Æ": "AE",
        "æ": "ae",
        "ß": "ss",
        "Œ": "OE",
        "œ": "oe",
        "Þ": "Th",
        "þ": "th",
        "ı": "i",
    }
)


class CellError(ValueError):
    """One value cannot be written as the column says; names the column, never the value."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"column {column!r}: {message}")
        self.column = column


@dataclass(frozen=True, slots=True)
class Column:
    """How one column's text goes into a file beyond its value: width, alignment, padding."""

    header: str
    width: int | None = None  # fixed-width only
    align: Literal["left", "right"] = "left"
    pad: str = " "
    strict: bool = False  # a key, an amount or a reference: never cut, replaced or folded
    truncate: bool = False  # free text that may be cut to its width
    amount: bool = False
    required: bool = False  # an empty value refuses the item (the agency would refuse it)


@dataclass(frozen=True, slots=True)
class RecordField:
    """A field of a header or trailer record: a constant, or a fact about the file."""

    column: Column
    value: RecordValue
    const: str = ""
    sum_of: int = -1  # the row column an amount control sum adds up
    date_format: str = "%Y-%m-%d"


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What header and trailer records may say about the file being written."""

    date: dt.date
    seq: int
    created: dt.datetime


# --- cells ----------------------------------------------------------------------------------


def clean_row(profile: FileProfile, row: Row) -> None:
    """Make a rendered row fit the file, in place, or raise :class:`CellError`.

    Line-based formats turn line breaks in free text into spaces; XML drops nothing but
    refuses characters XML 1.0 cannot hold; single-byte encodings apply the profile's policy
    for characters they lack; fixed-width checks every width.
    """
    columns = profile.columns
    line_based = profile.format != "xml"
    check_encoding = profile.format != "xml" and not profile.encoding.lower().startswith("utf")
    for index, cell in enumerate(row):
        column = columns[index]
        if not cell:
            if column.required:
                raise CellError(column.header, "is required and empty")
            continue
        if not cell.isprintable():
            cell = _controls(cell, column, line_based)
        if check_encoding:
            cell = _encodable(cell, column, profile.encoding, profile.unencodable)
        width = column.width
        if width is not None and len(cell) > width:
            if not column.truncate:
                raise CellError(
                    column.header, f"is {width} characters wide; the value needs {len(cell)}"
                )
            cell = cell[:width]
        row[index] = cell


def _controls(cell: str, column: Column, line_based: bool) -> str:
    if not column.strict:
        cell = cell.translate(_LINE_BREAKS) if line_based else cell
    for char in cell:
        code = ord(char)
        bad = code < 0x20 and (line_based or char not in "\t\n\r")
        if bad or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000 or code in (0xFFFE, 0xFFFF):
            raise CellError(column.header, f"holds a control character (U+{code:04X})")
    return cell


def _encodable(cell: str, column: Column, encoding: str, policy: Unencodable) -> str:
    try:
        cell.encode(encoding)
    except UnicodeEncodeError:
        pass
    else:
        return cell
    if policy == "error" or column.strict:
        raise CellError(column.header, f"holds a character {encoding} cannot encode") from None
    out = []
    for char in cell:
        try:
            char.encode(encoding)
        except UnicodeEncodeError:
            if policy == "transliterate":
                folded = unicodedata.normalize("NFKD", char.translate(_FOLD))
                folded = "".join(c for c in folded if not unicodedata.combining(c))
                try:
                    folded.encode(encoding)
                except UnicodeEncodeError:
                    folded = "?"
                out.append(folded or "?")
            else:
                out.append("?")
        else:
            out.append(char)
    return "".join(out)


# --- header and trailer records ---------------------------------------------------------------


def record_values(
    fields: Sequence[RecordField],
    rows: Sequence[Row],
    info: FileInfo,
    amount_text: Callable[[Decimal], str],
    amount_value: Callable[[str], Decimal],
) -> Row:
    """The text of each field of a header or trailer record for this file's rows."""
    values = []
    for spec in fields:
        if spec.value == "const":
            text = spec.const
        elif spec.value == "count":
            text = str(len(rows))
        elif spec.value == "seq":
            text = str(info.seq)
        elif spec.value == "date":
            text = info.date.strftime(spec.date_format)
        elif spec.value == "created":
            text = info.created.strftime(spec.date_format)
        else:
            total = sum((amount_value(row[spec.sum_of]) for row in rows), Decimal(0))
            text = amount_text(total)
        values.append(text)
    return values


def fixed_line(columns: Sequence[Column], row: Row) -> str:
    """One fixed-width line: each value padded to its column's width (checked before)."""
    parts = []
    for column, cell in zip(columns, row, strict=True):
        width = column.width or 0
        if len(cell) > width:
            raise CellError(column.header, f"is {width} characters wide; the value needs more")
        if column.align == "left":
            parts.append(cell.ljust(width, column.pad))
        elif cell.startswith("-") and column.pad == "0":
            parts.append("-" + cell[1:].rjust(width - 1, "0"))
        else:
            parts.append(cell.rjust(width, column.pad))
    return "".join(parts)


# --- fixed width ------------------------------------------------------------------------------


class FixedWidthWriter:
    """One line per row, every column at its declared width; header and trailer records
    (counts, control sums) on their own lines when the profile declares them."""

    binary: ClassVar[bool] = False

    def write(
        self,
        stream: IO[Any],
        profile: FileProfile,
        rows: Iterable[Row],
        info: FileInfo | None = None,
    ) -> None:
        ending = profile.line_ending
        body = list(rows)
        info = info or FileInfo(dt.date.today(), 0, dt.datetime.now(dt.UTC))
        if profile.header_record:
            stream.write(_record_line(profile, profile.header_record, body, info) + ending)
        columns = profile.columns
        stream.writelines(fixed_line(columns, row) + ending for row in body)
        if profile.trailer_record:
            stream.write(_record_line(profile, profile.trailer_record, body, info) + ending)

    def records(
        self, stream: IO[Any], profile: FileProfile
    ) -> Iterator[tuple[int, dict[str, str]]]:
        """Each data line as ``{header: value}`` with the padding stripped, and its line number."""
        slices = _slices(profile.columns)
        lines = iter(enumerate(_lines(stream, profile.line_ending), start=1))
        if profile.header_record:
            next(lines, None)
        pending: tuple[int, str] | None = None
        for number, line in lines:
            if pending is not None:
                yield pending[0], _cut(line=pending[1], slices=slices)
            pending = (number, line)
        if pending is not None and not profile.trailer_record:
            yield pending[0], _cut(line=pending[1], slices=slices)

    def keys(self, stream: IO[Any], profile: FileProfile) -> Iterator[str]:
        header = profile.headers[profile.key_column]
        for _, record in self.records(stream, profile):
            if record.get(header):
                yield record[header]


def _record_line(
    profile: FileProfile, fields: Sequence[RecordField], rows: Sequence[Row], info: FileInfo
) -> str:
    values = record_values(fields, rows, info, profile.amount_text, profile.amount_value)
    return fixed_line([f.column for f in fields], values)


def _lines(stream: IO[Any], ending: str) -> Iterator[str]:
    if ending in ("\n", "\r\n"):
        for line in stream:
            line = line.rstrip("\n").rstrip("\r")
            if line:
                yield line
        return
    text = stream.read()
    yield from (line for line in text.split(ending) if line)


def _slices(columns: Sequence[Column]) -> list[tuple[str, int, int, Column]]:
    out, start = [], 0
    for column in columns:
        width = column.width or 0
        out.append((column.header, start, start + width, column))
        start += width
    return out


def _cut(*, line: str, slices: Sequence[tuple[str, int, int, Column]]) -> dict[str, str]:
    record = {}
    for header, start, end, column in slices:
        text = line[start:end]
        if column.align == "left":
            text = text.rstrip(column.pad)
        else:
            stripped = text.lstrip(column.pad)
            # a zero-padded number of zeros is 0, not empty
            text = "0" if not stripped and text and column.pad == "0" else stripped
        record[header] = text
    return record


def amount_value_parser(minor: bool, decimal_sep: str, digits: int = 2) -> Callable[[str], Decimal]:
    """Reads back an amount cell this profile wrote (for control sums), in major units."""

    def parse(text: str) -> Decimal:
        if not text:
            return Decimal(0)
        try:
            if minor:
                return Decimal(int(text)).scaleb(-digits)
            return Decimal(text.replace(decimal_sep, ".") if decimal_sep != "." else text)
        except (ValueError, InvalidOperation):
            raise CellError("control sum", "adds up a column that is not an amount") from None

    return parse
