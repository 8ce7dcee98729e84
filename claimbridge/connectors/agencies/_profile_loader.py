"""Reads a file profile (TOML) into compiled sections: the cases file, one file kind per
corrections section, and the return files the agency sends back.

A profile's top level is its cases file (``[file]``, ``[[columns]]``, optional
``[[header_record]]``/``[[trailer_record]]`` and ``[references]``). Each
``[corrections.<name>]`` table is another file kind that carries the correction kinds it
lists (``kinds = ["payment", "reduce"]``); it inherits every ``[file]`` setting but the file
name. ``[[returns]]`` entries describe the return files (see :mod:`._returns`). Every mistake
is a :class:`MappingError` naming the profile and the field, raised when the profile loads.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, cast

from claimbridge.connectors.agencies._layouts import (
    Column,
    RecordField,
    RecordValue,
    amount_value_parser,
)
from claimbridge.connectors.agencies._profiles import (
    KEY_PATH,
    MAX_PATH_STEPS,
    PROFILES_DIR,
    WRITERS,
    FileProfile,
    _cell,
    _formatter,
    _Generator,
    _Node,
)
from claimbridge.connectors.agencies._return_specs import ReturnSource, parse_returns
from claimbridge.connectors.agencies._samples import prove_against_schema
from claimbridge.connectors.agencies._xml import XmlLayout, load_schema
from claimbridge.connectors.base import CorrectionKind
from claimbridge.errors import MappingError
from claimbridge.mappings.converters import build_converter
from claimbridge.mappings.engine import parse_path, resolve_packaged

__all__ = ["DropProfile", "load_drop_profile", "parse_profile"]

SETTING_KEYS = frozenset(
    {
        "format",
        "encoding",
        "unencodable",
        "delimiter",
        "line_ending",
        "decimal_separator",
        "amounts",
        "minor_unit_digits",
        "date_format",
        "filename",
        "header",
        "directory",
        "keys",
        "root",
        "record",
        "namespace",
        "header_element",
        "trailer_element",
        "xsd",
    }
)
COLUMN_KEYS = frozenset(
    {
        "header",
        "path",
        "const",
        "convert",
        "amount",
        "reference",
        "date_format",
        "map",
        "width",
        "align",
        "pad",
        "overflow",
        "required",
    }
)
RECORD_KEYS = frozenset(
    {"name", "value", "const", "column", "width", "align", "pad", "date_format"}
)
SECTION_KEYS = SETTING_KEYS | {"kinds", "per_claim", "columns", "header_record", "trailer_record"}
TOP_KEYS = frozenset(
    {
        "profile",
        "file",
        "columns",
        "header_record",
        "trailer_record",
        "references",
        "corrections",
        "returns",
    }
)
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_SAMPLE_DAY = dt.date(2000, 1, 1)
_SAMPLE_NOW = dt.datetime(2000, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class DropProfile:
    """A whole file profile: the cases file, the corrections files, the return files."""

    name: str
    cases: FileProfile
    corrections: tuple[FileProfile, ...] = ()
    returns: tuple[ReturnSource, ...] = ()
    description: str = ""
    setup: str = ""  # what `claimbridge init` tells the user to set up beyond the profile

    @property
    def sections(self) -> tuple[FileProfile, ...]:
        return (self.cases, *self.corrections)

    def section(self, name: str) -> FileProfile | None:
        return next((s for s in self.sections if s.kind == name), None)

    def section_for(self, kind: CorrectionKind) -> FileProfile | None:
        return next((s for s in self.corrections if kind in s.kinds), None)

    @property
    def kinds(self) -> frozenset[CorrectionKind]:
        return frozenset(k for s in self.corrections for k in s.kinds)


def load_drop_profile(name_or_path: str | Path) -> DropProfile:
    """A packaged profile by name (``generic_csv``) or a profile file; compiled once."""
    return _load_cached(resolve_packaged(name_or_path, PROFILES_DIR))


@lru_cache(maxsize=32)
def _load_cached(path: Path) -> DropProfile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read: {exc.__class__.__name__}", mapping=str(path)) from None
    return parse_profile(text, path.name, path.parent)


def parse_profile(text: str, label: str, base_dir: Path = PROFILES_DIR) -> DropProfile:
    """Compile a profile's TOML text; ``base_dir`` is where a named XSD is looked for."""

    def fail(message: str, field: str = "") -> MappingError:
        return MappingError(message, mapping=label, field=field)

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"invalid TOML: {exc}") from None
    unknown = set(document) - TOP_KEYS
    if unknown:
        raise fail(f"unknown tables {sorted(unknown)}")
    file = document.get("file", {})
    columns = document.get("columns", [])
    if not isinstance(file, dict) or not isinstance(columns, list) or not columns:
        raise fail("needs a [file] table and at least one [[columns]] entry")
    unknown = set(file) - SETTING_KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}", "file")
    defaults = {"filename": "cases_{date:%Y%m%d}_{seq:04d}.csv", **file}
    references = document.get("references", {})
    if not isinstance(references, dict) or set(references) - {"case", "claim"}:
        raise fail("takes 'case' and 'claim' (column headers)", "references")
    compiler = _SectionCompiler(label, base_dir)
    cases = compiler.section(
        "cases",
        defaults,
        columns,
        document.get("header_record", []),
        document.get("trailer_record", []),
        references=references,
    )
    corrections = []
    tables = document.get("corrections", {})
    if not isinstance(tables, dict):
        raise fail("must be a table of [corrections.<name>] tables", "corrections")
    seen: dict[CorrectionKind, str] = {}
    for name, table in tables.items():
        where = f"corrections.{name}"
        if not isinstance(table, dict) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise fail("each corrections section is a table named in lower case", where)
        if name == "cases":
            raise fail("'cases' is the name of the top-level section", where)
        unknown = set(table) - SECTION_KEYS
        if unknown:
            raise fail(f"unknown keys {sorted(unknown)}", where)
        if "filename" not in table:
            raise fail("needs its own 'filename'", where)
        kinds = _kinds(table.get("kinds"), where, fail)
        for kind in kinds:
            if kind in seen:
                raise fail(f"{kind.value!r} is already carried by {seen[kind]}", where)
            seen[kind] = where
        settings = {**defaults, **{k: v for k, v in table.items() if k in SETTING_KEYS}}
        per_claim = table.get("per_claim", False)
        if not isinstance(per_claim, bool):
            raise fail("must be true or false", f"{where}.per_claim")
        if per_claim and (cases.case_column < 0 or cases.claim_column < 0):
            raise fail("per_claim needs [references] case and claim in the cases file", where)
        corrections.append(
            compiler.section(
                name,
                settings,
                table.get("columns", []),
                table.get("header_record", []),
                table.get("trailer_record", []),
                kinds=kinds,
                per_claim=per_claim,
            )
        )
    sections = (cases, *corrections)
    _check_names_apart(sections, fail)
    for section in sections:
        prove_against_schema(section)
    returns = parse_returns(
        document.get("returns", []), label, defaults, {s.kind: s for s in sections}, base_dir
    )
    meta = document.get("profile", {})
    if not isinstance(meta, dict) or set(meta) - {"description", "setup"}:
        raise fail("takes 'description' and 'setup'", "profile")
    description, setup = str(meta.get("description", "")), str(meta.get("setup", ""))
    return DropProfile(label, cases, tuple(corrections), returns, description, setup)


def _kinds(value: Any, where: str, fail: Any) -> tuple[CorrectionKind, ...]:
    if not isinstance(value, list) or not value:
        raise fail(f"lists the corrections it carries: {[k.value for k in CorrectionKind]}", where)
    try:
        return tuple(CorrectionKind(str(v)) for v in value)
    except ValueError:
        raise fail(f"kinds must be among {[k.value for k in CorrectionKind]}", where) from None


def _check_names_apart(sections: tuple[FileProfile, ...], fail: Any) -> None:
    """Two sections in one directory must never be able to claim each other's files."""
    for first in sections:
        for second in sections:
            if first is second or first.directory != second.directory:
                continue
            sample = first.file_name(_SAMPLE_DAY, _SAMPLE_NOW, 1)
            if second.file_pattern(None).fullmatch(sample):
                raise fail(
                    f"file names of {first.kind!r} and {second.kind!r} can be confused in "
                    f"directory {first.directory or '.'!r}; give them distinct names",
                    "filename",
                )


class _SectionCompiler:
    """Compiles one section: validated settings, columns, records, the fill functions."""

    def __init__(self, label: str, base_dir: Path) -> None:
        self.label = label
        self.base_dir = base_dir

    def fail(self, message: str, field: str = "") -> MappingError:
        return MappingError(message, mapping=self.label, field=field)

    def section(
        self,
        name: str,
        settings: Mapping[str, Any],
        columns: Any,
        header_record: Any,
        trailer_record: Any,
        *,
        references: Mapping[str, Any] | None = None,
        kinds: tuple[CorrectionKind, ...] = (),
        per_claim: bool = False,
    ) -> FileProfile:
        prefix = "" if name == "cases" else f"corrections.{name}."
        if not isinstance(columns, list) or not columns:
            raise self.fail("needs at least one column", f"{prefix}columns")
        fmt_name = settings.get("format", "csv")
        if fmt_name not in WRITERS:
            raise self.fail(
                f"format {fmt_name!r} is not supported; use one of {sorted(WRITERS)}", "format"
            )
        amounts = settings.get("amounts", "major")
        if amounts not in ("major", "minor"):
            raise self.fail("must be 'major' or 'minor'", "amounts")
        decimal_sep = settings.get("decimal_separator", ".")
        if decimal_sep not in (".", ","):
            raise self.fail("must be '.' or ','", "decimal_separator")
        digits = settings.get("minor_unit_digits", 2)
        if not isinstance(digits, int) or isinstance(digits, bool) or not 0 <= digits <= 4:
            raise self.fail("must be a whole number from 0 to 4", "minor_unit_digits")
        filename = self._filename(settings.get("filename"), f"{prefix}filename")
        encoding = self._encoding(settings.get("encoding", "utf-8"), fmt_name)
        unencodable = settings.get("unencodable", "error")
        if unencodable not in ("error", "replace", "transliterate"):
            raise self.fail("must be 'error', 'replace' or 'transliterate'", "unencodable")
        delimiter = str(settings.get("delimiter", ";"))
        if fmt_name == "csv" and len(delimiter) != 1:
            raise self.fail("must be one character", "delimiter")
        line_ending = str(settings.get("line_ending", "\r\n"))
        if not line_ending:
            raise self.fail("must not be empty", "line_ending")
        keys = settings.get("keys", "column")
        if keys not in ("column", "manifest"):
            raise self.fail("must be 'column' or 'manifest'", "keys")
        date_format = str(settings.get("date_format", "%Y-%m-%d"))
        minor = amounts == "minor"
        amount_fmt = _formatter(True, minor, decimal_sep, date_format, "control sum", digits)

        headers: list[str] = []
        template: list[str] = []
        specs: list[Column] = []
        root = _Node("")
        key_column = -1
        for number, column in enumerate(columns, start=1):
            where = f"{prefix}columns[{number}]"
            spec, cell, steps, const = self._column(
                column, where, fmt_name, minor, decimal_sep, date_format, digits
            )
            if const is not None:
                template.append(const)
            else:
                template.append("")
                assert steps is not None
                assert cell is not None
                root.add(steps, number - 1, cell, "map" in column)
                if column.get("path") == KEY_PATH:
                    key_column = number - 1
            headers.append(spec.header)
            specs.append(spec)
        if len(set(headers)) != len(headers):
            raise self.fail("column headers must be unique", f"{prefix}columns")
        if keys == "column" and key_column < 0:
            raise self.fail(f"one column must hold {KEY_PATH!r} (needed to look up deliveries)")
        if keys == "manifest":
            key_column = -1
        per_row = {"claim"} if name == "cases" else {"claim_ref"}
        tops = list(root.children.values())
        case_fill, case_source = _Generator().function([n for n in tops if n.key not in per_row])
        claim_fill, claim_source = _Generator().function([n for n in tops if n.key in per_row])
        case_column, claim_column = self._references(references or {}, headers)
        xml = self._xml(settings, headers, prefix) if fmt_name == "xml" else None
        fields = {"header_record": header_record, "trailer_record": trailer_record}
        records = {
            key: self._records(value, f"{prefix}{key}", fmt_name, specs, date_format)
            for key, value in fields.items()
        }
        return FileProfile(
            name=self.label,
            format=str(fmt_name),
            encoding=encoding,
            delimiter=delimiter,
            line_ending=line_ending,
            header=bool(settings.get("header", True)) and fmt_name == "csv",
            filename=filename,
            headers=tuple(headers),
            template=tuple(template),
            fill_case=case_fill,
            fill_claim=claim_fill,
            key_column=key_column,
            source=f"{case_source}\n{claim_source}",
            kind=name,
            kinds=kinds,
            directory=self._directory(settings.get("directory", ""), f"{prefix}directory"),
            columns=tuple(specs),
            unencodable=unencodable,
            per_claim=per_claim,
            case_column=case_column,
            claim_column=claim_column,
            header_record=records["header_record"],
            trailer_record=records["trailer_record"],
            xml=xml,
            amount_text=amount_fmt,
            amount_value=amount_value_parser(minor, decimal_sep, digits),
        )

    # --- settings -----------------------------------------------------------------------

    def _filename(self, value: Any, field: str) -> str:
        filename = str(value)
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(filename) if f is not None]
            filename.format(date=_SAMPLE_DAY, now=_SAMPLE_NOW, seq=1)
        except (ValueError, KeyError, IndexError):
            raise self.fail(
                "bad file name pattern; use {date:%Y%m%d}, {now:%H%M%S} and {seq:04d}", field
            ) from None
        if fields.count("seq") != 1 or set(fields) - {"date", "now", "seq"} or "/" in filename:
            raise self.fail("needs exactly one {seq}, optionally {date} and {now}, no '/'", field)
        return filename

    def _encoding(self, value: Any, fmt_name: str) -> str:
        encoding = str(value)
        try:
            info = codecs.lookup(encoding)
        except LookupError:
            raise self.fail(f"unknown encoding {encoding!r}", "encoding") from None
        if fmt_name == "fixed" and len("é".encode(info.name, errors="replace")) != 1:
            raise self.fail(
                "a fixed-width file needs a single-byte encoding (latin-1, cp1252, …): its "
                "widths count characters",
                "encoding",
            )
        return encoding

    def _directory(self, value: Any, field: str) -> str:
        text = str(value).strip("/") if value else ""
        if not text:
            return ""
        parts = PurePosixPath(text).parts
        if str(value).startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise self.fail("must be a relative path without '..'", field)
        if any(not re.fullmatch(r"[A-Za-z0-9_.\-]+", p) or p.startswith(".") for p in parts):
            raise self.fail("use letters, digits, '_', '-' and '.' (not leading)", field)
        return "/".join(parts)

    def _references(self, references: Mapping[str, Any], headers: list[str]) -> tuple[int, int]:
        found = []
        for role in ("case", "claim"):
            header = references.get(role)
            if header is None:
                found.append(-1)
            elif header not in headers:
                raise self.fail(f"no column {header!r}", f"references.{role}")
            else:
                found.append(headers.index(header))
        return found[0], found[1]

    def _xml(self, settings: Mapping[str, Any], headers: list[str], prefix: str) -> XmlLayout:
        names = {}
        for key, default in (
            ("root", None),
            ("record", None),
            ("header_element", "Header"),
            ("trailer_element", "Trailer"),
        ):
            value = settings.get(key, default)
            if not isinstance(value, str) or not _XML_NAME.fullmatch(value):
                raise self.fail("needs an XML element name", f"{prefix}{key}")
            names[key] = value
        paths = []
        for header in headers:
            steps = tuple(header.split("/"))
            for position, step in enumerate(steps):
                last = position == len(steps) - 1
                name = step[1:] if last and step.startswith("@") else step
                if not _XML_NAME.fullmatch(name):
                    raise self.fail(
                        f"column {header!r} is not an element path (Debtor/Name, @key)", prefix
                    )
            paths.append(steps)
        namespace = settings.get("namespace")
        xsd = settings.get("xsd")
        xsd_path = None
        if xsd is not None:
            xsd_path = (self.base_dir / str(xsd)).resolve()
            if not xsd_path.is_file():
                raise self.fail(f"schema {xsd!r} not found next to the profile", "xsd")
            load_schema(xsd_path)  # a broken schema fails here, not at the first write
        return XmlLayout(
            root=names["root"],
            record=names["record"],
            namespace=str(namespace) if namespace else None,
            header=names["header_element"],
            trailer=names["trailer_element"],
            xsd=xsd_path,
            paths=tuple(paths),
        )

    # --- columns and records ------------------------------------------------------------

    def _column(
        self,
        column: Any,
        where: str,
        fmt_name: str,
        minor: bool,
        decimal_sep: str,
        date_format: str,
        digits: int,
    ) -> tuple[Column, Any, tuple[str | int, ...] | None, str | None]:
        if not isinstance(column, dict) or "header" not in column:
            raise self.fail("each column needs a 'header'", where)
        unknown = set(column) - COLUMN_KEYS
        if unknown:
            raise self.fail(f"unknown keys {sorted(unknown)}", where)
        header = str(column["header"])
        amount = bool(column.get("amount"))
        strict = amount or bool(column.get("reference")) or column.get("path") == KEY_PATH
        spec = self._layout(column, where, fmt_name, header, strict, amount)
        fmt = _formatter(
            amount, minor, decimal_sep, str(column.get("date_format", date_format)), header, digits
        )
        if "const" in column:
            const = fmt(column["const"])
            if spec.width is not None and len(const) > spec.width:
                raise self.fail(f"the constant is longer than the width {spec.width}", where)
            return spec, None, None, const
        path = column.get("path")
        if not isinstance(path, str):
            raise self.fail("needs a 'path' or a 'const'", where)
        mapping = column.get("map")
        if mapping is not None and (
            not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values())
        ):
            raise self.fail("'map' is a table of text values", where)
        names = column.get("convert", [])
        names = names if isinstance(names, list) else [names]
        try:
            chain = tuple(build_converter(str(n)) for n in names)
            steps = parse_path(path)
            if len(steps) > MAX_PATH_STEPS:
                raise ValueError(f"path is longer than {MAX_PATH_STEPS} steps")
        except KeyError as exc:
            raise self.fail(f"unknown converter {exc.args[0]!r}", where) from None
        except ValueError as exc:
            raise self.fail(str(exc), where) from None
        return spec, _cell(chain, fmt, mapping, header), steps, None

    def _layout(
        self,
        column: Mapping[str, Any],
        where: str,
        fmt_name: str,
        header: str,
        strict: bool,
        amount: bool = False,
    ) -> Column:
        width = column.get("width")
        if width is not None and (not isinstance(width, int) or isinstance(width, bool)):
            raise self.fail("width is a whole number", where)
        if fmt_name == "fixed" and (width is None or width < 1):
            raise self.fail("a fixed-width column needs a width of at least 1", where)
        if width is not None and width < 1:
            raise self.fail("width must be at least 1", where)
        align = column.get("align", "left")
        if align not in ("left", "right"):
            raise self.fail("align is 'left' or 'right'", where)
        pad = column.get("pad", " ")
        if not isinstance(pad, str) or len(pad) != 1:
            raise self.fail("pad is one character", where)
        overflow = column.get("overflow", "error")
        if overflow not in ("error", "truncate"):
            raise self.fail("overflow is 'error' or 'truncate'", where)
        if overflow == "truncate" and strict:
            raise self.fail("a key, amount or reference column is never truncated", where)
        required = column.get("required", False)
        if not isinstance(required, bool):
            raise self.fail("required is true or false", where)
        return Column(header, width, align, pad, strict, overflow == "truncate", amount, required)

    def _records(
        self,
        fields: Any,
        where: str,
        fmt_name: str,
        columns: list[Column],
        date_format: str,
    ) -> tuple[RecordField, ...]:
        if not isinstance(fields, list):
            raise self.fail("is a list of fields ([[header_record]])", where)
        out = []
        headers = [c.header for c in columns]
        for number, field in enumerate(fields, start=1):
            here = f"{where}[{number}]"
            if not isinstance(field, dict) or "name" not in field:
                raise self.fail("each field needs a 'name'", here)
            unknown = set(field) - RECORD_KEYS
            if unknown:
                raise self.fail(f"unknown keys {sorted(unknown)}", here)
            value = "const" if "const" in field else field.get("value")
            if value not in ("const", "count", "sum", "date", "seq", "created"):
                raise self.fail("value is count, sum, date, seq, created, or a const", here)
            name = str(field["name"])
            if fmt_name == "xml" and not _XML_NAME.fullmatch(name):
                raise self.fail("the name must be an XML element name", here)
            sum_of = -1
            if value == "sum":
                target = field.get("column")
                if target not in headers or not columns[headers.index(target)].amount:
                    raise self.fail("a sum names an amount column of this file", here)
                sum_of = headers.index(target)
            spec = self._layout(field, here, fmt_name, name, strict=value != "const")
            out.append(
                RecordField(
                    column=spec,
                    value=cast(RecordValue, value),
                    const=str(field.get("const", "")),
                    sum_of=sum_of,
                    date_format=str(field.get("date_format", date_format)),
                )
            )
        return tuple(out)
