"""The postal register: shipped data, the file format, Bring/GeoNames parsing and refresh."""

from __future__ import annotations

import contextlib
import io
import zipfile
from pathlib import Path

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

from claimbridge.errors import ClaimbridgeError, ParseError, UsageError
from claimbridge.quality.postal import (
    PostalCodeRegister,
    default_register,
    parse_bring,
    parse_geonames,
    read_register_file,
    refresh_register,
    register_path,
    write_register_file,
)

BRING_URL = "https://www.bring.no/postnummerregister-ansi.txt"
GEONAMES_URL = "https://download.geonames.org/export/zip/SE.zip"


def bring_file(rows: int) -> bytes:
    lines = [f"{1000 + i:04d}\tSTED{i}\t0301\tOSLO\tG" for i in range(rows)]
    lines.insert(0, "0150\tOSLO\t0301\tOSLO\tG")
    lines.insert(1, "9008\tTROMSØ\t5501\tTROMSØ\tB")
    return "\r\n".join(lines).encode("cp1252")


def geonames_zip(rows: int) -> bytes:
    lines = [f"SE\t{10000 + i:05d}\tOrt{i}\tStockholm\t01" for i in range(rows)]
    lines.append("SE\t111 51\tStockholm\tStockholm\t01")
    lines.append("NO\t0150\tOslo\tOslo\t03")  # another country's line: ignored
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("SE.txt", "\n".join(lines))
        archive.writestr("readme.txt", "GeoNames")
    return buffer.getvalue()


# --- the shipped register ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "code", "city"),
    [
        ("NO", "0150", "OSLO"),
        ("NO", "5003", "BERGEN"),
        ("NO", "9008", "TROMSØ"),
        ("NO", "9170", "LONGYEARBYEN"),
        ("SE", "111 51", "STOCKHOLM"),
        ("SE", "11151", "STOCKHOLM"),  # looked up in any written form
        ("SE", "411 05", "GÖTEBORG"),
        ("DK", "2100", "København Ø"),
        ("no", "0150", "OSLO"),
    ],
)
def test_shipped_register_knows_real_codes(country: str, code: str, city: str) -> None:
    assert default_register().lookup(country, code) == city


def test_shipped_register_is_the_full_register() -> None:
    register = default_register()
    assert {c: register.covers(c) for c in ("NO", "SE", "DK", "FI", "DE")} == {
        "NO": True,
        "SE": True,
        "DK": True,
        "FI": False,
        "DE": False,
    }
    assert len(register) > 22_000
    assert register.lookup("NO", "9999") is None
    assert register.lookup("FI", "00100") is None


def test_register_from_tables_needs_no_files() -> None:
    register = PostalCodeRegister({"no": {"0150": "OSLO"}}, directory=None)
    assert register.covers("NO")
    assert not register.covers("SE")
    assert register.lookup("NO", "0150") == "OSLO"


# --- the file format --------------------------------------------------------------------------


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = register_path("NO", tmp_path)
    write_register_file(path, "NO", {"9008": "TROMSØ", "0150": "OSLO"}, source="test")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# postal register NO")
    assert "# source: test; fetched " in text
    assert read_register_file(path) == {"0150": "OSLO", "9008": "TROMSØ"}
    assert [p.name for p in tmp_path.iterdir()] == ["postal_NO.tsv"]  # no temp file left


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("0150 OSLO\n", 1),
        ("# header\n0150\tOSLO\n0151\n", 3),
        ("0150\t\n", 1),
        ("0150\tOSLO\textra\n", 1),
    ],
)
def test_malformed_register_file_names_the_line(tmp_path: Path, content: str, line: int) -> None:
    path = tmp_path / "postal_NO.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ParseError) as caught:
        read_register_file(path)
    assert caught.value.line == line
    assert caught.value.file == "postal_NO.tsv"


def test_undecodable_register_file_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "postal_NO.tsv"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ParseError):
        read_register_file(path)


# --- published formats ------------------------------------------------------------------------


def test_parse_bring_reads_windows_1252_and_skips_a_header() -> None:
    data = ("Postnummer\tPoststed\tKommunenummer\tKommunenavn\tKategori\n").encode("cp1252")
    data += bring_file(0)
    assert parse_bring(data) == {"0150": "OSLO", "9008": "TROMSØ"}


def test_parse_bring_reads_utf8_too() -> None:
    assert parse_bring("9008\tTROMSØ\t5501\tTROMSØ\tB\n".encode()) == {"9008": "TROMSØ"}


@pytest.mark.parametrize(
    "data",
    [b"0150\tOSLO\n12345\tX\t\t\t\n", b"0150\tOSLO\nOSLO\n", b"0150\t\t0301\n", b"\x00\x01"],
)
def test_parse_bring_refuses_bad_lines(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_bring(data)


def test_parse_geonames_reads_a_zip_for_one_country() -> None:
    table = parse_geonames(geonames_zip(3), "se")
    assert table["111 51"] == "Stockholm"
    assert table["100 00"] == "Ort0"
    assert "0150" not in table


@pytest.mark.parametrize(
    "data",
    [b"PK\x03\x04broken", geonames_zip(0).replace(b"SE.txt", b"XX.txt")],
)
def test_parse_geonames_refuses_broken_archives(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_geonames(data, "SE")


@given(st.binary(max_size=300))
def test_parsers_raise_only_parse_errors(data: bytes) -> None:
    for parse in (parse_bring, lambda d: parse_geonames(d, "SE")):
        with contextlib.suppress(ParseError):
            parse(data)


# --- refresh ----------------------------------------------------------------------------------


@responses.activate
def test_refresh_from_bring_replaces_the_file(tmp_path: Path) -> None:
    responses.get(BRING_URL, body=bring_file(600))
    result = refresh_register("NO", BRING_URL, tmp_path)
    assert result.entries == 602
    assert result.path == tmp_path / "postal_NO.tsv"
    register = PostalCodeRegister(directory=tmp_path)
    assert register.lookup("NO", "9008") == "TROMSØ"
    assert BRING_URL in result.path.read_text(encoding="utf-8")


@responses.activate
def test_refresh_from_geonames(tmp_path: Path) -> None:
    responses.get(GEONAMES_URL, body=geonames_zip(10))
    result = refresh_register("SE", GEONAMES_URL, tmp_path, min_entries=5)
    assert result.entries == 11
    assert PostalCodeRegister(directory=tmp_path).lookup("SE", "11151") == "Stockholm"


@responses.activate
def test_a_short_download_keeps_the_old_register(tmp_path: Path) -> None:
    path = register_path("NO", tmp_path)
    write_register_file(path, "NO", {"0150": "OSLO"}, source="before")
    before = path.read_bytes()
    responses.get(BRING_URL, body=bring_file(10))
    with pytest.raises(ParseError, match="not replaced"):
        refresh_register("NO", BRING_URL, tmp_path)
    assert path.read_bytes() == before


@responses.activate
def test_a_failed_download_is_a_claimbridge_error(tmp_path: Path) -> None:
    responses.get(BRING_URL, status=404)
    with pytest.raises(ClaimbridgeError):
        refresh_register("NO", BRING_URL, tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("country", "url", "fmt"),
    [
        ("NO", "http://www.bring.no/postnummerregister-ansi.txt", None),  # clear text
        ("NO", "https://user:pw@www.bring.no/x.txt", None),
        ("SE", BRING_URL, "bring"),
    ],
)
def test_refresh_refuses_bad_requests(country: str, url: str, fmt: str | None) -> None:
    with pytest.raises(UsageError):
        refresh_register(country, url, Path("/nonexistent"), fmt=fmt)  # type: ignore[arg-type]
