"""What a profile's ``[[returns]]`` entries declare: where return files are, how they are laid
out, and what they mean (receipts, answers to our files, status changes, settlements).

The declarations are validated when the profile loads; a mistake is a :class:`MappingError`
naming the entry. Reading the files is :mod:`._returns`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from claimbridge.connectors.base import PushStatus
from claimbridge.errors import MappingError
from claimbridge.schemas import CaseStatus

if TYPE_CHECKING:
    from claimbridge.connectors.agencies._profiles import FileProfile

__all__ = ["REQUIRED", "FieldSpec", "LineMark", "ReturnSource", "parse_returns"]

ReturnKind = Literal["receipts", "errors", "status", "settlements"]

REQUIRED: dict[str, tuple[str, ...]] = {
    "receipts": ("idempotency_key", "status"),
    "errors": (),
    "status": ("case_key", "status", "date"),
    "settlements": ("settlement_id", "date"),
}
_FIELDS: dict[str, frozenset[str]] = {
    "receipts": frozenset({"idempotency_key", "status", "agency_ref", "reason"}),
    "errors": frozenset(),
    "status": frozenset({"case_key", "status", "date", "agency_ref", "message", "event_id"}),
    "settlements": frozenset(
        {
            "settlement_id",
            "date",
            "currency",
            "line_id",
            "case_key",
            "agency_ref",
            "invoice_number",
            "principal",
            "interest",
            "fees",
            "total",
            "commission",
        }
    ),
}
_KEYS = frozenset(
    {
        "name",
        "kind",
        "directory",
        "pattern",
        "format",
        "encoding",
        "delimiter",
        "decimal_separator",
        "amounts",
        "minor_unit_digits",
        "date_format",
        "fields",
        "values",
        "statuses",
        "section",
        "suffix",
        "reason",
        "match",
        "agency_ref",
        "record",
        "namespace",
        "xsd",
        "detail",
        "trailer",
        "count",
    }
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Where a value is in a record: a CSV header or XML path, a fixed-width slice, a const."""

    column: str = ""
    start: int = 0  # fixed width: 0-based offset
    width: int = 0
    const: str | None = None


@dataclass(frozen=True, slots=True)
class LineMark:
    """A fixed-width record type: the text at ``start`` (0-based) of ``width`` characters."""

    start: int
    width: int
    value: str

    def matches(self, line: str) -> bool:
        return line[self.start : self.start + self.width] == self.value


@dataclass(frozen=True, slots=True)
class ReturnSource:
    """One ``[[returns]]`` entry: where its files are, how to read them, what they mean."""

    name: str
    kind: ReturnKind
    directory: str = ""
    pattern: str = "*"
    format: str = "csv"
    encoding: str = "utf-8"
    delimiter: str = ";"
    decimal_separator: str = "."
    minor: bool = False
    minor_digits: int = 2
    date_format: str = "%Y-%m-%d"
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    values: Mapping[str, PushStatus] = field(default_factory=dict)
    statuses: Mapping[str, CaseStatus | None] = field(default_factory=dict)
    section: str = ""  # errors: the section whose files these answer
    suffix: str = ".err"  # errors: answered file name = this name without the suffix
    reason: str = ""  # errors: the column with the reason
    match: str = ""  # errors: the column the failed rows share with the answered file
    agency_ref: str = ""  # errors: the answered file's column that is the agency's reference
    record: str = ""  # xml: the record element
    namespace: str | None = None
    xsd: Path | None = None
    detail: LineMark | None = None  # fixed: which lines are records
    trailer: LineMark | None = None  # fixed: the trailer line
    count: FieldSpec | None = None  # the trailer's record count (fixed slice or XML path)

    def accepts(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.pattern)

    def answered(self, name: str) -> str:
        """errors: the name of our file that a return file answers."""
        return name[: -len(self.suffix)] if self.suffix and name.endswith(self.suffix) else name


# --- the TOML ---------------------------------------------------------------------------------


def parse_returns(
    entries: Any,
    label: str,
    defaults: Mapping[str, Any],
    sections: Mapping[str, FileProfile],
    base_dir: Path,
) -> tuple[ReturnSource, ...]:
    """The ``[[returns]]`` entries of a profile, validated (MappingError names the entry)."""

    def fail(message: str, field: str) -> MappingError:
        return MappingError(message, mapping=label, field=field)

    if not isinstance(entries, list):
        raise fail("is a list of [[returns]] tables", "returns")
    out: list[ReturnSource] = []
    for number, entry in enumerate(entries, start=1):
        where = f"returns[{number}]"
        if not isinstance(entry, dict):
            raise fail("must be a table", where)
        unknown = set(entry) - _KEYS
        if unknown:
            raise fail(f"unknown keys {sorted(unknown)}", where)
        name = entry.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise fail("needs a lower-case 'name'", where)
        if any(s.name == name for s in out):
            raise fail(f"the name {name!r} is used twice", where)
        kind = entry.get("kind")
        if kind not in REQUIRED:
            raise fail(f"kind is one of {sorted(REQUIRED)}", where)
        settings = {**defaults, **entry}
        fmt = settings.get("format", "csv")
        if fmt not in ("csv", "fixed", "xml"):
            raise fail("format is csv, fixed or xml", where)
        if kind == "errors" and fmt != "csv":
            raise fail("errors files are read as CSV", where)
        encoding = str(settings.get("encoding", "utf-8"))
        try:
            "".encode(encoding)
        except LookupError:
            raise fail(f"unknown encoding {encoding!r}", where) from None
        pattern = entry.get("pattern", "*")
        if not isinstance(pattern, str) or not pattern or "/" in pattern:
            raise fail("pattern is a file-name glob", where)
        directory = str(entry.get("directory", "")).strip("/")
        if directory and any(
            p in ("", ".", "..") or p.startswith(".") for p in PurePosixPath(directory).parts
        ):
            raise fail("directory is a relative path without '..'", where)
        fields = _fields(entry.get("fields", {}), kind, fmt, where, fail)
        source = ReturnSource(
            name=name,
            kind=kind,
            directory=directory,
            pattern=pattern,
            format=fmt,
            encoding=encoding,
            delimiter=str(settings.get("delimiter", ";")),
            decimal_separator=str(settings.get("decimal_separator", ".")),
            minor=settings.get("amounts", "major") == "minor",
            minor_digits=int(settings.get("minor_unit_digits", 2)),
            date_format=str(settings.get("date_format", "%Y-%m-%d")),
            fields=fields,
            values=_values(entry.get("values"), kind, where, fail),
            statuses=_statuses(entry.get("statuses", {}), where, fail),
            record=str(entry.get("record", "")),
            namespace=str(entry["namespace"]) if entry.get("namespace") else None,
            xsd=_xsd(entry.get("xsd"), base_dir, where, fail),
            detail=_mark(entry.get("detail"), where, fail),
            trailer=_mark(entry.get("trailer"), where, fail),
            count=_count_spec(entry.get("count"), fmt, where, fail),
            **_errors_settings(entry, kind, sections, where, fail),
        )
        if fmt == "xml" and not source.record:
            raise fail("an XML return file needs its 'record' element", where)
        out.append(source)
    return tuple(out)


def _fields(table: Any, kind: str, fmt: str, where: str, fail: Any) -> dict[str, FieldSpec]:
    if not isinstance(table, dict):
        raise fail("fields is a table", where)
    unknown = set(table) - _FIELDS[kind]
    if unknown:
        raise fail(f"unknown fields {sorted(unknown)} for {kind}", where)
    missing = [f for f in REQUIRED[kind] if f not in table]
    if kind == "settlements" and not table.keys() & {"total", "principal"}:
        missing.append("total")
    if missing:
        raise fail(f"{kind} files need the fields {missing}", where)
    specs = {}
    for key, value in table.items():
        here = f"{where}.fields.{key}"
        if isinstance(value, dict) and set(value) == {"const"}:
            specs[key] = FieldSpec(const=str(value["const"]))
        elif fmt == "fixed":
            if (
                not isinstance(value, dict)
                or set(value) != {"start", "width"}
                or not all(isinstance(v, int) and v >= 1 for v in value.values())
            ):
                raise fail("a fixed-width field is { start = 1, width = 10 } (1-based)", here)
            specs[key] = FieldSpec(start=value["start"] - 1, width=value["width"])
        elif isinstance(value, str) and value:
            specs[key] = FieldSpec(column=value)
        else:
            raise fail("is a column header (CSV), an element path (XML), or { const }", here)
    return specs


def _values(table: Any, kind: str, where: str, fail: Any) -> dict[str, PushStatus]:
    if kind != "receipts":
        return {}
    if not isinstance(table, dict) or set(table) != {"accepted", "rejected"}:
        raise fail("receipts need values = { accepted = [...], rejected = [...] }", where)
    out = {}
    for status, said in table.items():
        for text in said if isinstance(said, list) else [said]:
            out[str(text)] = PushStatus(status)
    return out


def _statuses(table: Any, where: str, fail: Any) -> dict[str, CaseStatus | None]:
    if not isinstance(table, dict):
        raise fail("statuses is a table of agency values", where)
    out: dict[str, CaseStatus | None] = {}
    for said, ours in table.items():
        try:
            out[str(said)] = CaseStatus(ours) if ours else None
        except ValueError:
            raise fail(f"{ours!r} is not a case status", f"{where}.statuses") from None
    return out


def _xsd(value: Any, base_dir: Path, where: str, fail: Any) -> Path | None:
    if value is None:
        return None
    path = (base_dir / str(value)).resolve()
    if not path.is_file():
        raise fail(f"schema {value!r} not found next to the profile", where)
    return path


def _mark(value: Any, where: str, fail: Any) -> LineMark | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or set(value) != {"start", "width", "value"}
        or not isinstance(value["start"], int)
        or not isinstance(value["width"], int)
        or value["start"] < 1
    ):
        raise fail('a record type is { start = 1, width = 2, value = "99" }', where)
    return LineMark(value["start"] - 1, value["width"], str(value["value"]))


def _count_spec(value: Any, fmt: str, where: str, fail: Any) -> FieldSpec | None:
    if value is None:
        return None
    if fmt == "fixed" and isinstance(value, dict) and set(value) == {"start", "width"}:
        return FieldSpec(start=int(value["start"]) - 1, width=int(value["width"]))
    if fmt == "xml" and isinstance(value, str) and value:
        return FieldSpec(column=value)
    raise fail("count is a trailer slice (fixed) or an element path from the root (XML)", where)


def _errors_settings(
    entry: Mapping[str, Any],
    kind: str,
    sections: Mapping[str, FileProfile],
    where: str,
    fail: Any,
) -> dict[str, str]:
    if kind != "errors":
        return {}
    section = sections.get(str(entry.get("section", "")))
    if section is None:
        raise fail(f"names the section it answers: one of {sorted(sections)}", where)
    settings = {
        "section": section.kind,
        "suffix": str(entry.get("suffix", ".err")),
        "reason": str(entry.get("reason", "")),
        "match": str(entry.get("match", "")),
        "agency_ref": str(entry.get("agency_ref", "")),
    }
    if not settings["reason"] or not settings["match"]:
        raise fail("errors files need 'reason' and 'match' columns", where)
    for key in ("match", "agency_ref"):
        if settings[key] and settings[key] not in section.headers:
            raise fail(f"{key}: the {section.kind} file has no column {settings[key]!r}", where)
    return settings
