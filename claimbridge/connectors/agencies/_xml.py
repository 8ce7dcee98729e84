"""XML files: the element layout a profile declares, the writer (lxml, streamed), the reader of
our own files, and validation against the profile's XSD.

Each record is built as an element and written out with ``etree.xmlfile``, so a large batch is
never one tree in memory. A written file is validated against the profile's schema before it
is put in place; :class:`XsdInvalid` says which records fail and why (the schema rule and the
element, never the value).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

from lxml import etree

from claimbridge import xmlsafe
from claimbridge.connectors.agencies._layouts import FileInfo, RecordField, Row, record_values
from claimbridge.errors import MappingError, ParseError

if TYPE_CHECKING:
    from claimbridge.connectors.agencies._profiles import FileProfile

__all__ = ["XmlLayout", "XmlWriter", "XsdInvalid", "element_path", "load_schema"]


@dataclass(frozen=True, slots=True)
class XmlLayout:
    """Element layout of an XML profile: root, one record element per row, and per column a
    path of child elements below the record (``Debtor/Name``), or an attribute (``@key``)."""

    root: str
    record: str
    namespace: str | None = None
    header: str = "Header"
    trailer: str = "Trailer"
    xsd: Path | None = None
    paths: tuple[tuple[str, ...], ...] = ()

    def qname(self, local: str) -> str:
        return f"{{{self.namespace}}}{local}" if self.namespace else local

    def element(self, local: str) -> etree._Element:
        """A top element (record, header, trailer) in the default namespace: serialized
        alone, it declares the namespace again rather than inventing a prefix."""
        nsmap = {None: self.namespace} if self.namespace else None
        return etree.Element(self.qname(local), nsmap=nsmap)


# --- XML --------------------------------------------------------------------------------------


class XsdInvalid(Exception):
    """The written file does not validate: which records (by row index), and why."""

    def __init__(self, problems: dict[int, str], outside: list[str]) -> None:
        super().__init__("; ".join([*problems.values(), *outside]))
        self.problems = problems
        self.outside = outside


class XmlWriter:
    """Builds each record with lxml and streams it out (``etree.xmlfile``), so a large batch
    never becomes one tree in memory. Empty values leave their element out."""

    binary: ClassVar[bool] = True

    def write(
        self,
        stream: IO[Any],
        profile: FileProfile,
        rows: Iterable[Row],
        info: FileInfo | None = None,
    ) -> None:
        layout = _layout(profile)
        info = info or FileInfo(dt.date.today(), 0, dt.datetime.now(dt.UTC))
        needs_rows = bool(profile.header_record or profile.trailer_record)
        body: Iterable[Row] = list(rows) if needs_rows else rows
        nsmap = {None: layout.namespace} if layout.namespace else None
        with etree.xmlfile(stream, encoding=profile.encoding, close=False) as xf:
            xf.write_declaration()
            with xf.element(layout.qname(layout.root), nsmap=nsmap):
                xf.write("\n")
                if profile.header_record:
                    xf.write(
                        _summary(profile, layout, layout.header, profile.header_record, body, info)
                    )
                    xf.write("\n")
                for row in body:
                    xf.write(_record(layout, profile.headers, row))
                    xf.write("\n")
                if profile.trailer_record:
                    xf.write(
                        _summary(
                            profile, layout, layout.trailer, profile.trailer_record, body, info
                        )
                    )
                    xf.write("\n")

    def records(
        self, stream: IO[Any], profile: FileProfile
    ) -> Iterator[tuple[int, dict[str, str]]]:
        layout = _layout(profile)
        root = xmlsafe.parse_bytes(stream.read(), name=profile.name)
        tag = layout.qname(layout.record)
        for element in root.iterchildren(tag):
            record = {}
            for header, steps in zip(profile.headers, layout.paths, strict=True):
                record[header] = _value(element, steps, layout) or ""
            yield element.sourceline or 0, record

    def keys(self, stream: IO[Any], profile: FileProfile) -> Iterator[str]:
        header = profile.headers[profile.key_column]
        for _, record in self.records(stream, profile):
            if record.get(header):
                yield record[header]

    @staticmethod
    def validate(path: Path, profile: FileProfile) -> None:
        """Validate a written file against the profile's XSD; :class:`XsdInvalid` says which
        records fail (by row index) with the schema's reason, never a value."""
        layout = _layout(profile)
        if layout.xsd is None:
            return
        schema = load_schema(layout.xsd)
        root = xmlsafe.parse_bytes(xmlsafe.read_bounded(path), name=path.name)
        if schema.validate(root.getroottree()):
            return
        marks: list[tuple[int, int | None]] = [
            (element.sourceline or 0, index)
            for index, element in enumerate(root.iterchildren(layout.qname(layout.record)))
        ]
        for name in (layout.header, layout.trailer):
            for element in root.iterchildren(layout.qname(name)):
                marks.append((element.sourceline or 0, None))
        marks.sort(key=lambda mark: mark[0])
        problems: dict[int, str] = {}
        outside: list[str] = []
        for entry in schema.error_log:
            reason = f"{element_path(root, entry.path)} ({entry.type_name})"
            index = _mark_at(marks, entry.line)
            if index is None:
                outside.append(reason)
            else:
                problems.setdefault(index, reason)
        raise XsdInvalid(problems, outside)


def load_schema(path: Path) -> etree.XMLSchema:
    try:
        document = xmlsafe.parse_bytes(xmlsafe.read_bounded(path), name=path.name)
        return etree.XMLSchema(document)
    except OSError as exc:
        raise MappingError(f"cannot read the schema: {exc.strerror}", mapping=path.name) from None
    except ParseError as exc:
        raise MappingError(f"the schema is not XML: {exc}", mapping=path.name) from None
    except etree.XMLSchemaParseError as exc:
        raise MappingError(f"not a valid XML schema: {exc}", mapping=path.name) from None


def _layout(profile: FileProfile) -> XmlLayout:
    if profile.xml is None:
        raise MappingError("an XML profile needs its element layout", mapping=profile.name)
    return profile.xml


def _record(layout: XmlLayout, headers: Sequence[str], row: Row) -> etree._Element:
    record = layout.element(layout.record)
    made: dict[tuple[str, ...], etree._Element] = {(): record}
    for steps, cell in zip(layout.paths, row, strict=True):
        if not cell:
            continue
        *parents, last = steps
        parent = record
        for depth in range(1, len(parents) + 1):
            key = tuple(parents[:depth])
            child = made.get(key)
            if child is None:
                child = etree.SubElement(parent, layout.qname(parents[depth - 1]))
                made[key] = child
            parent = child
        if last.startswith("@"):
            parent.set(last[1:], cell)
        else:
            etree.SubElement(parent, layout.qname(last)).text = cell
    return record


def _summary(
    profile: FileProfile,
    layout: XmlLayout,
    name: str,
    fields: Sequence[RecordField],
    rows: Any,
    info: FileInfo,
) -> etree._Element:
    element = layout.element(name)
    values = record_values(fields, rows, info, profile.amount_text, profile.amount_value)
    for spec, value in zip(fields, values, strict=True):
        etree.SubElement(element, layout.qname(spec.column.header)).text = value
    return element


def _value(element: etree._Element, steps: Sequence[str], layout: XmlLayout) -> str | None:
    node: etree._Element | None = element
    *parents, last = steps
    for step in parents:
        node = node.find(layout.qname(step)) if node is not None else None
    if node is None:
        return None
    found = node.get(last[1:]) if last.startswith("@") else node.findtext(layout.qname(last))
    return None if found is None else str(found)


def _mark_at(marks: Sequence[tuple[int, int | None]], line: int) -> int | None:
    """The record (row index) whose element starts last at or before ``line``; None for the
    root, header or trailer."""
    found: int | None = None
    for start, index in marks:
        if start > line:
            break
        found = index
    return found


def element_path(root: etree._Element, path: str | None) -> str:
    """Where a schema error is, as local element names below the root (``Claim/Amount``).

    libxml2 reports ``/*/*[2]/*[3]`` for elements in a default namespace; that is an XPath, so
    it is resolved on the document and named from the element found. Never a value."""
    if not path:
        return "the root"
    try:
        found = root.getroottree().xpath(path)
    except etree.XPathError:
        found = []
    if not found or not isinstance(found[0], etree._Element):
        return "the document"
    names = []
    node: etree._Element | None = found[0]
    while node is not None and node is not root:
        names.append(etree.QName(node).localname)
        node = node.getparent()
    return "/".join(reversed(names)) or etree.QName(root).localname
