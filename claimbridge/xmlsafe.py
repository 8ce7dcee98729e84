"""The one hardened XML parser: no entities, no DTD, no network, bounded size.

Every XML file claimbridge reads (UBL, SAF-T, camt.054, agency XML) goes through here, so an
XXE or entity-expansion file is refused in one place with one clear error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree

from claimbridge.errors import ParseError

__all__ = ["MAX_TREE_BYTES", "iterparse", "parse_bytes", "parse_file"]

MAX_TREE_BYTES = 64 * 1024 * 1024
"""Whole-tree parsing is for documents up to this size; larger files must stream."""

_FORBIDDEN_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _refuse_doctype(head: bytes, name: str) -> None:
    upper = head.upper()
    for marker in _FORBIDDEN_MARKERS:
        if marker in upper:
            raise ParseError(
                "document type declarations and entities are not allowed in input XML",
                file=name,
                line=head[: upper.index(marker)].count(b"\n") + 1,
            )


def parse_bytes(data: bytes, *, name: str = "<bytes>") -> etree._Element:
    """Parse a whole document held in memory."""
    if len(data) > MAX_TREE_BYTES:
        raise ParseError(f"document is larger than {MAX_TREE_BYTES} bytes", file=name)
    _refuse_doctype(data[:65536], name)
    try:
        return etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(_describe(exc), file=name, line=exc.lineno) from None


def parse_file(path: Path) -> etree._Element:
    """Parse a whole (bounded-size) file."""
    size = path.stat().st_size
    if size > MAX_TREE_BYTES:
        raise ParseError(f"file is larger than {MAX_TREE_BYTES} bytes; stream it", file=str(path))
    return parse_bytes(path.read_bytes(), name=str(path))


def iterparse(
    source: Path | IO[bytes], *, tag: str | tuple[str, ...] | None = None, name: str | None = None
) -> Iterator[tuple[str, Any]]:
    """Stream ``(event, element)`` pairs for large files; the caller clears what it has read.

    The DOCTYPE check reads the head of the file first; lxml itself is told not to resolve
    entities or touch the network.
    """
    label = name or str(source if isinstance(source, Path) else getattr(source, "name", "<stream>"))
    if isinstance(source, Path):
        with source.open("rb") as fh:
            _refuse_doctype(fh.read(65536), label)
        stream: IO[bytes] = source.open("rb")
    else:
        head = source.read(65536)
        _refuse_doctype(head, label)
        source.seek(0)
        stream = source
    try:
        context = etree.iterparse(
            stream,
            events=("end",),
            tag=tag,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            yield from context
        except etree.XMLSyntaxError as exc:
            raise ParseError(_describe(exc), file=label, line=exc.lineno) from None
    finally:
        if isinstance(source, Path):
            stream.close()


def _describe(exc: etree.XMLSyntaxError) -> str:
    message = str(exc.msg or exc).strip()
    return f"malformed XML: {message}"
