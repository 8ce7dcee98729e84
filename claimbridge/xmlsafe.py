"""The one hardened XML parser: no entities, no DTD, no network, bounded size.

Every XML file claimbridge reads (UBL, SAF-T, camt.054, agency XML) goes through here, so an
XXE or entity-expansion file is refused in one place with one clear error.

A document type declaration is refused twice over: a byte scan of the head stops the plain
case before libxml2 sees it, and the parsed document's own ``docinfo`` catches one the scan
cannot see (behind a long comment, or in UTF-16). libxml2 is told not to resolve entities,
load DTDs or touch the network either way, so neither check is the only line of defence.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree

from claimbridge.errors import ParseError

__all__ = [
    "HEAD_BYTES",
    "MAX_TREE_BYTES",
    "iterparse",
    "parse_bytes",
    "parse_file",
    "read_bounded",
]

MAX_TREE_BYTES = 64 * 1024 * 1024
"""Whole-tree parsing is for documents up to this size; larger files must stream."""

HEAD_BYTES = 65536
"""How much of a document's head the byte scan for declarations reads."""

_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_DOCTYPE_REFUSED = "document type declarations and entities are not allowed in input XML"

_PARSER_OPTIONS: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)

_local = threading.local()


def _parser(*, drop_blank_text: bool = False) -> etree.XMLParser:
    """This thread's parser: building one per document costs more than a small parse.

    lxml parsers must not be shared between threads, and one parse at a time per thread is
    all ``fromstring`` ever does, so one per thread (and per option) is safe to reuse.
    """
    parsers: dict[bool, etree.XMLParser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(drop_blank_text)
    if parser is None:
        parser = etree.XMLParser(
            dtd_validation=False, remove_blank_text=drop_blank_text, **_PARSER_OPTIONS
        )
        parsers[drop_blank_text] = parser
    return parser


def _refuse_doctype(data: bytes, name: str) -> None:
    """Scan the first ``HEAD_BYTES`` of ``data`` (without copying them) for a declaration."""
    end = min(len(data), HEAD_BYTES)
    if data.find(b"!", 0, end) < 0:  # no declaration, comment or CDATA: the common case
        return
    match = _DECLARATION.search(data, 0, end)
    if match is not None:
        line = data.count(b"\n", 0, match.start()) + 1
        raise ParseError(_DOCTYPE_REFUSED, file=name, line=line)


def _refuse_parsed_doctype(element: etree._Element, name: str) -> None:
    """Refuse a document whose parse found a DOCTYPE the head scan missed."""
    if element.getroottree().docinfo.doctype:
        raise ParseError(_DOCTYPE_REFUSED, file=name)


def parse_bytes(
    data: bytes, *, name: str = "<bytes>", drop_blank_text: bool = False
) -> etree._Element:
    """Parse a whole document held in memory.

    ``drop_blank_text`` leaves out the whitespace-only text between elements, for a reader
    that only ever looks at leaf values: fewer nodes make both the parse and the walk cheaper.
    """
    if len(data) > MAX_TREE_BYTES:
        raise ParseError(f"document is larger than {MAX_TREE_BYTES} bytes", file=name)
    _refuse_doctype(data, name)
    try:
        root = etree.fromstring(data, parser=_parser(drop_blank_text=drop_blank_text))
    except etree.XMLSyntaxError as exc:
        raise ParseError(_describe(exc), file=name, line=exc.lineno) from None
    _refuse_parsed_doctype(root, name)
    return root


def read_bounded(path: str | os.PathLike[str]) -> bytes:
    """A file's bytes, refused before reading when it is too large to parse whole.

    The limit is checked on the open file, and the read is capped too, so a file that grows
    after the check is still refused (by ``parse_bytes``) rather than read whole. Plain
    descriptor calls: for a small document, a file object's setup costs more than the read.
    """
    fd = os.open(path, _READ_FLAGS)
    try:
        size = os.fstat(fd).st_size
        if size > MAX_TREE_BYTES:
            raise ParseError(
                f"file is larger than {MAX_TREE_BYTES} bytes; stream it", file=os.fspath(path)
            )
        data = os.read(fd, size + 1)  # sized to the file: a read of the limit would allocate it
        if len(data) > size:  # still growing: read on, up to just past the limit
            data += _read_up_to(fd, MAX_TREE_BYTES + 1 - len(data))
        return data
    finally:
        os.close(fd)


def _read_up_to(fd: int, limit: int) -> bytes:
    """At most ``limit`` more bytes of ``fd``, fewer only at its end."""
    parts: list[bytes] = []
    while limit > 0:
        chunk = os.read(fd, limit)
        if not chunk:
            break
        parts.append(chunk)
        limit -= len(chunk)
    return b"".join(parts)


def parse_file(path: Path) -> etree._Element:
    """Parse a whole (bounded-size) file."""
    data = read_bounded(path)
    return parse_bytes(data, name=str(path))


def iterparse(
    source: Path | IO[bytes], *, tag: str | tuple[str, ...] | None = None, name: str | None = None
) -> Iterator[tuple[str, Any]]:
    """Stream ``(event, element)`` pairs for large files; the caller clears what it has read.

    The DOCTYPE check reads the head of the file first, and the first element streamed is
    checked again against what libxml2 parsed; lxml itself is told not to resolve entities or
    touch the network.
    """
    label = name or str(source if isinstance(source, Path) else getattr(source, "name", "<stream>"))
    if isinstance(source, Path):
        with source.open("rb") as fh:
            _refuse_doctype(fh.read(HEAD_BYTES), label)
        stream: IO[bytes] = source.open("rb")
    else:
        head = source.read(HEAD_BYTES)
        _refuse_doctype(head, label)
        source.seek(0)
        stream = source
    try:
        context = etree.iterparse(stream, events=("end",), tag=tag, **_PARSER_OPTIONS)
        try:
            events = iter(context)
            for event, element in events:
                _refuse_parsed_doctype(element, label)
                yield event, element
                break
            else:  # nothing matched ``tag``: check what was parsed all the same
                if context.root is not None:
                    _refuse_parsed_doctype(context.root, label)
            yield from events
        except etree.XMLSyntaxError as exc:
            raise ParseError(_describe(exc), file=label, line=exc.lineno) from None
    finally:
        if isinstance(source, Path):
            stream.close()


def _describe(exc: etree.XMLSyntaxError) -> str:
    message = str(exc.msg or exc).strip()
    return f"malformed XML: {message}"
