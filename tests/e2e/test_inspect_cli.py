"""``claimbridge inspect FILE``: the canonical records a file yields, one JSON object per line.

Real public files (Nets OCR giro, PEPPOL BIS 3, SAF-T Financial) are read in place; what they
should yield is worked out independently (netsgiro, lxml), not by the code under test.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import netsgiro
import pytest
from lxml import etree

from claimbridge.sandbox.ledger import generate_sample_ledger
from claimbridge.schemas import Claim, Party, Payment

from .conftest import E2E_FIXTURES, TODAY, run

OCR = Path("payments/nets-ocr-giro-transactions.txt")
UBL = Path("ubl/peppol-bis3-base-example.xml")
SAFT = Path("saft/saft-financial-example.xml")
MODELS: dict[str, type[Any]] = {"claim": Claim, "party": Party, "payment": Payment}


def _records(stdout: str) -> list[dict[str, Any]]:
    """Every stdout line is one JSON object of a canonical model (validated as such)."""
    records = []
    for line in stdout.splitlines():
        data = json.loads(line)
        assert isinstance(data, dict)
        fields = {k: v for k, v in data.items() if k not in ("type", "location")}
        MODELS[data["type"]].model_validate(fields)
        records.append(data)
    return records


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    generate_sample_ledger(tmp_path / "ledger", today=TODAY)
    return tmp_path


def _expected_invoices(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row["invoice_number"] for row in csv.DictReader(fh)]


def test_inspect_invoice_table_prints_one_claim_per_line(ledger_dir: Path) -> None:
    invoices = ledger_dir / "ledger" / "invoices.csv"
    done = run("--json", "inspect", str(invoices), cwd=ledger_dir)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    records = _records(done.stdout)
    assert {r["type"] for r in records} == {"claim"}
    assert [r["invoice_number"] for r in records] == _expected_invoices(invoices)
    assert all(r["location"].startswith("invoices.csv:") for r in records)


def test_inspect_with_a_relative_path(ledger_dir: Path) -> None:
    done = run("--json", "inspect", "ledger/invoices.csv", cwd=ledger_dir)
    assert done.returncode == 0, done.stderr
    records = _records(done.stdout)
    assert [r["invoice_number"] for r in records] == _expected_invoices(
        ledger_dir / "ledger" / "invoices.csv"
    )


def test_inspect_puts_quarantined_rows_on_stderr_and_exits_13(tmp_path: Path) -> None:
    invoices = tmp_path / "invoices.csv"
    invoices.write_bytes(
        (E2E_FIXTURES / "invoices.csv").read_bytes()
        + b"500101,E2E-2,31.02.2026,2026-06-19,NOK,300.00,300.00,,,,,,,,,,,,,\n"
        + b"500102,E2E-2,2026-06-01,2026-06-15,NOK,-50.00,-50.00,,,,,,,,,,,,,\n"
    )
    done = run("inspect", str(invoices), cwd=tmp_path)
    assert done.returncode == 13
    assert [r["invoice_number"] for r in _records(done.stdout)] == [
        "500001",
        "500002",
        "500003",
        "500004",
    ]
    problems = [json.loads(line) for line in done.stderr.splitlines()]
    assert [p["quarantined"] for p in problems] == ["invoices.csv:6", "invoices.csv:7"]
    assert "not a valid date" in problems[0]["reasons"][0]
    assert "Traceback" not in done.stderr


def test_inspect_customer_table_prints_parties(ledger_dir: Path) -> None:
    done = run("inspect", str(ledger_dir / "ledger" / "customers.csv"))
    assert done.returncode == 0, done.stderr
    records = _records(done.stdout)
    assert {r["type"] for r in records} == {"party"}
    assert len(records) == 60


def test_inspect_nets_ocr_giro_prints_one_payment_each(external_fixtures: Path) -> None:
    path = external_fixtures / OCR
    done = run("inspect", str(path))
    assert done.returncode == 0, done.stderr
    payments = _records(done.stdout)
    assert {p["type"] for p in payments} == {"payment"}

    transmission = netsgiro.parse(path.read_text(encoding="ascii"))
    expected = [
        t
        for a in transmission.assignments
        for t in a.transactions
        if isinstance(t, netsgiro.Transaction)
    ]
    assert len(payments) == len(expected) == 20
    for payment, tx in zip(payments, expected, strict=True):
        assert isinstance(payment["amount"], str)
        assert Decimal(payment["amount"]) == tx.amount
        assert payment["amount"] == f"{tx.amount:.2f}"
        assert payment["currency"] == "NOK"
        assert payment["booking_date"] == tx.date.isoformat()
        assert payment["reference"] == tx.kid


def test_inspect_truncated_ocr_file_exits_9_naming_the_line(
    external_fixtures: Path, tmp_path: Path
) -> None:
    lines = (external_fixtures / OCR).read_text(encoding="ascii").splitlines(keepends=True)
    truncated = tmp_path / "ocr-truncated.txt"
    truncated.write_text("".join(lines[:30]), encoding="ascii")
    done = run("inspect", str(truncated))
    assert done.returncode == 9
    [message] = done.stderr.strip().splitlines()
    assert message.startswith(f"error: {truncated}:31")
    assert "truncated" in message

    cut = tmp_path / "ocr-cut.txt"
    cut.write_text("".join(lines[:24]) + lines[24][:40], encoding="ascii")
    done = run("inspect", str(cut))
    assert done.returncode == 9
    [message] = done.stderr.strip().splitlines()
    assert message.startswith(f"error: {cut}:25")
    assert "Traceback" not in done.stderr


def test_inspect_peppol_invoice(external_fixtures: Path) -> None:
    path = external_fixtures / UBL
    done = run("inspect", str(path))
    assert done.returncode == 0, done.stderr
    records = _records(done.stdout)
    [claim] = [r for r in records if r["type"] == "claim"]
    [party] = [r for r in records if r["type"] == "party"]

    tree = etree.parse(str(path))
    ns = {
        "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
        "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
        "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    }

    def text(xpath: str) -> str:
        return str(tree.xpath(f"string({xpath})", namespaces=ns))

    assert claim["invoice_number"] == text("/inv:Invoice/cbc:ID")
    assert claim["invoice_date"] == text("/inv:Invoice/cbc:IssueDate")
    assert claim["due_date"] == text("/inv:Invoice/cbc:DueDate")
    assert claim["currency"] == text("/inv:Invoice/cbc:DocumentCurrencyCode")
    payable = Decimal(text("/inv:Invoice/cac:LegalMonetaryTotal/cbc:PayableAmount"))
    assert Decimal(claim["remaining_principal"]) == payable
    assert claim["debtor_id"] == party["source"]["record_id"]
    assert party["kind"] == "company"


def test_inspect_saft_file(external_fixtures: Path) -> None:
    path = external_fixtures / SAFT
    done = run("inspect", str(path))
    assert done.returncode == 0, done.stderr
    records = _records(done.stdout)

    tree = etree.parse(str(path))
    customers = tree.xpath("//*[local-name()='Customer']/*[local-name()='CustomerID']/text()")
    customer_lines = tree.xpath("//*[local-name()='Line'][*[local-name()='CustomerID']]")
    parties = [r for r in records if r["type"] == "party"]
    assert [p["source"]["record_id"] for p in parties] == customers
    assert all(p["source"]["system"] == "saft" for p in parties)
    assert [r for r in records if r["type"] == "claim"] == [] == customer_lines
