"""A ledger with bad rows: each bad row is quarantined with its file:line and reason, every
good row is delivered, and no output ever shows a traceback.

Files source → ``file_drop`` agency, so what was delivered is counted in the dropped CSV
files (one row per claim), independently of the state store.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import E2E_FIXTURES, FILE_DROP_CONFIG, TODAY_ARG, invoke, json_lines, one_json, run

GOOD = ("500001", "500002", "500003", "500004")
HEADER_AND_GOOD = (E2E_FIXTURES / "invoices.csv").read_bytes()


@dataclass(frozen=True)
class Bad:
    """One hostile row appended to the good ones, and what quarantine must say about it."""

    row: bytes
    record_id: str | None
    reason: str


BAD_ROWS: dict[str, Bad] = {
    "bad_date": Bad(
        b"500101,E2E-2,31.02.2026,2026-06-19,NOK,300.00,300.00,,Bad date,,,,,,,,,,,\n",
        "500101",
        "not a valid date",
    ),
    "negative_amount": Bad(
        b"500102,E2E-2,2026-06-01,2026-06-15,NOK,-50.00,-50.00,,Negative,,,,,,,,,,,\n",
        "500102",
        "greater than 0",
    ),
    "duplicate_invoice": Bad(
        b"500001,E2E-3,2026-06-09,2026-06-23,NOK,700.00,700.00,,Twice,,,,,,,2026-07-28,,,,\n",
        "500001",
        "appears more than once",
    ),
    "latin1_in_utf8": Bad(
        "500103,E2E-3,2026-06-01,2026-06-15,NOK,300.00,300.00,,Bøker og blåbær,,,,,,,,,,,\n".encode(
            "latin-1"
        ),
        None,
        "encoding",
    ),
    "truncated_last_line": Bad(b"500104,E2E-2,2026-06-0", None, "truncated"),
}


def _workspace(tmp_path: Path, invoices: bytes) -> Path:
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "invoices.csv").write_bytes(invoices)
    (tmp_path / "ledger" / "customers.csv").write_bytes(
        (E2E_FIXTURES / "customers.csv").read_bytes()
    )
    config = tmp_path / "claimbridge.toml"
    config.write_text(
        FILE_DROP_CONFIG.format(customers="ledger/customers.csv", invoices="ledger/invoices.csv"),
        encoding="utf-8",
    )
    return config


def _dropped_invoices(tmp_path: Path) -> list[str]:
    numbers = []
    for path in sorted((tmp_path / "drop").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            numbers += [row["invoice_number"] for row in csv.DictReader(fh, delimiter=";")]
    return numbers


def _line_of(invoices: bytes, row: bytes) -> int:
    before = invoices[: invoices.index(row)]
    return before.count(b"\n") + 1


def _check_quarantine(config: Path, invoices: bytes, bad: list[Bad]) -> None:
    listed = invoke("--config", str(config), "--json", "quarantine")
    assert listed.exit_code == 0
    rows = json_lines(listed.stdout)
    assert len(rows) == len(bad), rows
    by_location = {row["location"]: row for row in rows}
    for item in bad:
        location = f"invoices.csv:{_line_of(invoices, item.row)}"
        assert location in by_location, (location, sorted(by_location))
        found = by_location[location]
        if item.record_id is not None:
            assert found["record_id"] == item.record_id
        assert any(item.reason in reason for reason in found["reasons"]), found["reasons"]


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_one_bad_row_is_quarantined_and_the_good_ones_delivered(tmp_path: Path, case: str) -> None:
    bad = BAD_ROWS[case]
    invoices = HEADER_AND_GOOD + bad.row
    config = _workspace(tmp_path, invoices)

    result = invoke("--config", str(config), *TODAY_ARG, "--json", "sync")
    assert result.exit_code == 0, result.stdout + result.stderr
    stats = one_json(result.stdout)
    assert stats["quarantined"] == 1
    assert stats["claims_sent"] == len(GOOD)
    assert sorted(_dropped_invoices(tmp_path)) == sorted(GOOD)
    _check_quarantine(config, invoices, [bad])
    assert "Traceback" not in result.stdout + result.stderr


def test_every_kind_of_bad_row_at_once_in_a_real_process(tmp_path: Path) -> None:
    ordered = [BAD_ROWS[name] for name in sorted(BAD_ROWS) if name != "truncated_last_line"]
    invoices = b"".join([HEADER_AND_GOOD, *(b.row for b in ordered)])
    invoices += BAD_ROWS["truncated_last_line"].row
    config = _workspace(tmp_path, invoices)

    done = run("--config", str(config), *TODAY_ARG, "sync", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert f"sent 3 case(s) with {len(GOOD)} claim(s)" in done.stdout
    assert re.search(rf"quarantined records\s+{len(BAD_ROWS)}\n", done.stdout)

    assert sorted(_dropped_invoices(tmp_path)) == sorted(GOOD)
    _check_quarantine(config, invoices, [*ordered, BAD_ROWS["truncated_last_line"]])

    again = run("--config", str(config), *TODAY_ARG, "--json", "sync", cwd=tmp_path)
    assert again.returncode == 0
    assert one_json(again.stdout)["cases_sent"] == 0
    assert sorted(_dropped_invoices(tmp_path)) == sorted(GOOD)


@pytest.mark.parametrize(
    "header",
    [
        b"invoice_number,customer_number,invoice_date,currency,remaining\n",
        b"invoice_number;customer;due_date;amount\n",
    ],
)
def test_missing_columns_is_one_whole_file_error(tmp_path: Path, header: bytes) -> None:
    config = _workspace(tmp_path, header + b"600001,E2E-1,2026-06-01,NOK,100.00\n")
    done = run("--config", str(config), *TODAY_ARG, "sync", cwd=tmp_path)
    assert done.returncode == 9, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "invoices.csv" in lines[0]
    names = header.decode().strip().replace(";", ",").split(",")
    for column in ("invoice_number", "customer_number", "invoice_date", "due_date", "amount"):
        assert (column in lines[0]) == (column not in names), (column, lines[0])
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "drop").exists() or not any((tmp_path / "drop").glob("*.csv"))


HOSTILE: dict[str, Callable[[], bytes]] = {
    "nul_bytes": lambda: HEADER_AND_GOOD + b"500201,E2E-1,\x00\x00\x00,2026-06-15,NOK,1,1\n",
    "huge_field": lambda: (
        HEADER_AND_GOOD
        + b"500202,E2E-1,2026-06-01,2026-06-15,NOK,100.00,100.00,,"
        + b"x" * 200_000
        + b",,,,,,,,,,,\n"
    ),
    "unclosed_quote": lambda: HEADER_AND_GOOD + b'500203,E2E-1,"2026-06-01,2026-06-15,NOK\n',
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_rows_never_stop_the_run(tmp_path: Path, case: str) -> None:
    config = _workspace(tmp_path, HOSTILE[case]())
    result = invoke("--config", str(config), *TODAY_ARG, "--json", "sync")
    assert result.exit_code == 0, result.stdout + result.stderr
    stats = one_json(result.stdout)
    assert stats["quarantined"] == 1
    assert sorted(_dropped_invoices(tmp_path)) == sorted(GOOD)
    listed = json_lines(invoke("--config", str(config), "--json", "quarantine").stdout)
    assert [row["location"] for row in listed] == ["invoices.csv:6"]
    assert "Traceback" not in result.stdout + result.stderr
