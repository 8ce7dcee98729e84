"""Sniffing an export file's format from its root element."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimbridge.connectors.accounting.export_detect import detect_export_format, sniff_root
from claimbridge.errors import NotFoundError, ParseError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.mark.external
def test_real_files(external_fixtures: Path) -> None:
    assert detect_export_format(external_fixtures / "saft" / "saft-financial-example.xml") == "saft"
    assert detect_export_format(external_fixtures / "ubl" / "peppol-bis3-base-example.xml") == "ubl"
    ubl_note = external_fixtures / "ubl" / "peppol-bis3-creditnote-correction.xml"
    assert detect_export_format(ubl_note) == "ubl"
    assert detect_export_format(external_fixtures / "payments" / "camt054-v2.xml") is None


def test_own_fixtures() -> None:
    assert detect_export_format(FIXTURES / "saft" / "saft-1.30-open-items.xml") == "saft"
    assert detect_export_format(FIXTURES / "ubl" / "ehf-invoice-4711.xml") == "ubl"


def test_invoice_root_outside_ubl_namespace_is_not_ubl(tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_text("<Invoice xmlns='urn:other'><ID>1</ID></Invoice>", encoding="utf-8")
    assert detect_export_format(path) is None
    assert sniff_root(path) == ("urn:other", "Invoice")


def test_root_whose_first_child_closes_late_is_still_found(tmp_path: Path) -> None:
    path = tmp_path / "late.xml"
    filler = "<a>" + "x" * 20000 + "</a>"
    path.write_text(f"<AuditFile><Header>{filler}</Header></AuditFile>", encoding="utf-8")
    assert detect_export_format(path) == "saft"


def test_sniff_reads_only_the_head(tmp_path: Path) -> None:
    path = tmp_path / "cut.xml"
    path.write_text("<AuditFile><Header><V>1.0</V></Header>" + "<T>1</T>" * 5000, encoding="utf-8")
    assert detect_export_format(path) == "saft"  # truncated far from the head: not noticed


@pytest.mark.parametrize(
    "content",
    [
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        "<AuditFile><Header>",
        "not xml at all",
        "",
    ],
    ids=["xxe", "truncated-head", "text", "empty"],
)
def test_bad_head_is_a_parse_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ParseError) as caught:
        detect_export_format(path)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        detect_export_format(tmp_path / "nope.xml")
