"""The hardened XML parser: hostile documents are refused with one ParseError, whichever entry."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from claimbridge import xmlsafe
from claimbridge.errors import ParseError

XXE = b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<r>&x;</r>'
LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "lol">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
    )
    + b"]>\n<r>&j;</r>"
)
EXTERNAL_DTD = b'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">\n<r/>'
NETWORK_ENTITY = b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>\n<r>&e;</r>'
PARAMETER_ENTITY_ONLY = b'<!ENTITY x "y">\n<r/>'

HOSTILE = {
    "xxe": XXE,
    "billion-laughs": LAUGHS,
    "external-dtd": EXTERNAL_DTD,
    "network-entity": NETWORK_ENTITY,
    "bare-entity": PARAMETER_ENTITY_ONLY,
    "lowercase": XXE.replace(b"DOCTYPE", b"doctype"),
    "after-bom": b"\xef\xbb\xbf" + XXE,
    "after-whitespace": b"\n" * 500 + b"   \t" + XXE.split(b"\n", 1)[1],
    "after-comment": b"<!-- hello -->" + XXE.split(b"\n", 1)[1],
    # Past the byte scan's window: only the parsed document's docinfo can tell.
    "after-long-comment": b"<!--"
    + b"x" * (xmlsafe.HEAD_BYTES + 10)
    + b"-->"
    + XXE.split(b"\n", 1)[1],
    # Invisible to a byte scan for "<!DOCTYPE" altogether.
    "utf-16": XXE.decode().replace('"1.0"?>', '"1.0" encoding="UTF-16"?>').encode("utf-16"),
}


def _entries(tmp_path: Path) -> dict[str, Callable[[bytes], object]]:
    def from_file(data: bytes) -> object:
        path = tmp_path / "doc.xml"
        path.write_bytes(data)
        return xmlsafe.parse_file(path)

    def streamed(data: bytes) -> object:
        path = tmp_path / "stream.xml"
        path.write_bytes(data)
        return list(xmlsafe.iterparse(path))

    return {
        "parse_bytes": lambda data: xmlsafe.parse_bytes(data, name="doc.xml"),
        "parse_file": from_file,
        "iterparse": streamed,
        "iterparse-stream": lambda data: list(xmlsafe.iterparse(io.BytesIO(data), name="doc.xml")),
        "iterparse-tag-never-seen": lambda data: list(
            xmlsafe.iterparse(io.BytesIO(data), tag="nothing", name="doc.xml")
        ),
    }


@pytest.mark.parametrize("entry", list(_entries(Path())))
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_documents_are_refused(tmp_path: Path, entry: str, name: str) -> None:
    with pytest.raises(ParseError) as caught:
        _entries(tmp_path)[entry](HOSTILE[name])
    message = str(caught.value)
    assert "document type declarations" in message or "malformed XML" in message
    assert "doc.xml" in message or "stream.xml" in message
    assert "root:" not in message  # nothing of /etc/passwd


def test_refusal_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as caught:
        xmlsafe.parse_bytes(XXE, name="in.xml")
    assert caught.value.line == 2
    assert str(caught.value).startswith("in.xml:2:")


def test_plain_documents_parse_with_comments_and_pis_dropped() -> None:
    root = xmlsafe.parse_bytes(b"<?xml version='1.0'?><!-- c --><r><?pi x?><a>1</a><!-- d --></r>")
    assert [child.tag for child in root] == ["a"]
    assert root.getroottree().docinfo.doctype == ""


def test_text_mentioning_doctype_in_the_body_past_the_head_is_fine() -> None:
    body = b"<r>" + b"<a>x</a>" * (xmlsafe.HEAD_BYTES // 8 + 10) + b"<n>&lt;!DOCTYPE</n></r>"
    assert len(xmlsafe.parse_bytes(body)) > 1


def test_huge_file_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xmlsafe, "MAX_TREE_BYTES", 1024)
    path = tmp_path / "big.xml"
    path.write_bytes(b"<r>" + b"<a/>" * 1000 + b"</r>")
    with pytest.raises(ParseError, match="larger than 1024 bytes"):
        xmlsafe.parse_file(path)
    with pytest.raises(ParseError, match="larger than 1024 bytes"):
        xmlsafe.parse_bytes(path.read_bytes(), name="big.xml")


def test_deep_nesting_is_refused_not_a_crash() -> None:
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    with pytest.raises(ParseError, match="malformed XML"):
        xmlsafe.parse_bytes(deep)


@pytest.mark.parametrize("data", [b"", b"<r>", b"<r></s>", b"\x00\x01", b"<r>&undefined;</r>"])
def test_malformed_is_one_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError, match="malformed XML"):
        xmlsafe.parse_bytes(data, name="m.xml")


def test_parser_is_reused_within_a_thread_and_not_shared_across() -> None:
    mine = xmlsafe._parser()
    assert xmlsafe._parser() is mine
    theirs: list[etree.XMLParser] = []
    thread = threading.Thread(target=lambda: theirs.append(xmlsafe._parser()))
    thread.start()
    thread.join()
    [other] = theirs
    assert other is not mine


def test_a_failed_parse_leaves_the_reused_parser_usable() -> None:
    with pytest.raises(ParseError):
        xmlsafe.parse_bytes(b"<r>", name="cut.xml")
    assert xmlsafe.parse_bytes(b"<r><a/></r>")[0].tag == "a"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_parse_or_raise_parse_error(data: bytes) -> None:
    error: ParseError | None = None
    try:
        xmlsafe.parse_bytes(data, name="fuzz.xml")
    except ParseError as exc:
        error = exc
    assert error is None or "fuzz.xml" in str(error)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=" \t\r\n", max_size=40), st.sampled_from(["DOCTYPE", "doctype", "DocType"]))
def test_doctype_behind_any_whitespace_is_refused(padding: str, keyword: str) -> None:
    data = f'{padding}<!{keyword} r [<!ENTITY e "x">]><r>&e;</r>'.encode()
    with pytest.raises(ParseError):
        xmlsafe.parse_bytes(data)


# --- reading files and dropping blank text --------------------------------------------------------


def test_read_bounded_takes_str_and_path_and_names_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    path.write_bytes(b"<r/>")
    assert xmlsafe.read_bounded(path) == xmlsafe.read_bounded(str(path)) == b"<r/>"
    with pytest.raises(FileNotFoundError):
        xmlsafe.read_bounded(tmp_path / "missing.xml")


def test_read_bounded_refuses_a_huge_file_given_as_str(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xmlsafe, "MAX_TREE_BYTES", 16)
    path = tmp_path / "big.xml"
    path.write_bytes(b"<r>" + b"<a/>" * 10 + b"</r>")
    with pytest.raises(ParseError, match="larger than 16 bytes") as caught:
        xmlsafe.read_bounded(str(path))
    assert str(path) in str(caught.value)


def test_drop_blank_text_keeps_values_and_drops_layout() -> None:
    data = b"<r>\n  <a> x </a>\n  <b>  </b>\n  <c>mixed <d/> text</c>\n</r>"
    kept = xmlsafe.parse_bytes(data)
    dropped = xmlsafe.parse_bytes(data, drop_blank_text=True)
    assert kept.text == "\n  "
    assert dropped.text is None
    assert [c.text for c in dropped] == [c.text for c in kept] == [" x ", "  ", "mixed "]
    assert dropped[2][0].tail == " text"


@pytest.mark.parametrize("drop", [False, True])
def test_drop_blank_text_keeps_every_protection(drop: bool) -> None:
    with pytest.raises(ParseError, match="document type declarations"):
        xmlsafe.parse_bytes(b'<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>', drop_blank_text=drop)
    late = b"<!--" + b"x" * xmlsafe.HEAD_BYTES + b'--><!DOCTYPE r [<!ENTITY e "x">]><r/>'
    with pytest.raises(ParseError, match="document type declarations"):
        xmlsafe.parse_bytes(late, drop_blank_text=drop)
    with pytest.raises(ParseError, match="malformed XML"):
        xmlsafe.parse_bytes(b"<a>" * 100_000 + b"</a>" * 100_000, drop_blank_text=drop)


def test_each_option_has_its_own_reused_parser() -> None:
    plain, dropping = xmlsafe._parser(), xmlsafe._parser(drop_blank_text=True)
    assert plain is not dropping
    assert xmlsafe._parser(drop_blank_text=True) is dropping
    assert xmlsafe._parser() is plain
