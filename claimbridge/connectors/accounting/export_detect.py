"""Tell export files apart by their root element, without reading the whole file.

``claimbridge inspect FILE`` and the export-file sources use this to pick a reader. The sniff
goes through the hardened parser and stops at the first closed element, so a 500 MB SAF-T file
costs a few kilobytes to recognize.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from lxml import etree

from claimbridge import xmlsafe
from claimbridge.errors import NotFoundError, ParseError

__all__ = [
    "SAFT_NAMESPACE",
    "UBL_CREDIT_NOTE_NAMESPACE",
    "UBL_INVOICE_NAMESPACE",
    "ExportFormat",
    "detect_export_format",
    "local_name",
    "sniff_root",
    "stream_events",
]

ExportFormat = Literal["saft", "ubl"]

SAFT_NAMESPACE = "urn:StandardAuditFile-Taxation-Financial:NO"
UBL_INVOICE_NAMESPACE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE_NAMESPACE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"

_UBL_ROOTS = {
    (UBL_INVOICE_NAMESPACE, "Invoice"),
    (UBL_CREDIT_NOTE_NAMESPACE, "CreditNote"),
}


def local_name(tag: object) -> str:
    """``{urn:x}Name`` → ``Name``; comments and other non-element nodes give ``""``."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


@contextmanager
def stream_events(
    path: Path, tags: tuple[str, ...] | None = None
) -> Iterator[Iterator[tuple[str, Any]]]:
    """``xmlsafe.iterparse`` that closes the file when the caller stops early."""
    events = xmlsafe.iterparse(path, tag=tags)
    try:
        yield events
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


_HEAD_BYTES = 8192


def sniff_root(path: Path) -> tuple[str, str]:
    """The root element of an XML file as ``(namespace, local name)``.

    Parses only the file's first few kilobytes, up to the first closed element; a file whose
    first element closes later is parsed from disk until it does. Raises ``ParseError`` for
    input the hardened parser refuses (DOCTYPE, entities, malformed head) and
    ``NotFoundError`` for a missing file.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except FileNotFoundError:
        raise NotFoundError(f"{path}: no such file") from None
    except OSError as exc:
        raise ParseError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from None
    try:
        found = _first_root(xmlsafe.iterparse(io.BytesIO(head), name=str(path)))
    except ParseError:
        if len(head) < _HEAD_BYTES:
            raise
        found = None
    if found is None and len(head) == _HEAD_BYTES:
        with stream_events(path) as events:
            found = _first_root(events)
    if found is None:
        raise ParseError("no XML element found", file=str(path))
    return found


def _first_root(events: Iterator[tuple[str, Any]]) -> tuple[str, str] | None:
    for _event, element in events:
        qname = etree.QName(element.getroottree().getroot())
        return qname.namespace or "", qname.localname
    return None


def detect_export_format(path: Path) -> ExportFormat | None:
    """``"saft"`` for a SAF-T Financial audit file, ``"ubl"`` for a UBL invoice or credit note.

    SAF-T is recognized by its root ``AuditFile`` in any namespace (producers vary in how they
    write it); UBL needs its official document namespace. Anything else gives None.
    """
    namespace, name = sniff_root(path)
    if name == "AuditFile":
        return "saft"
    if (namespace, name) in _UBL_ROOTS:
        return "ubl"
    return None
