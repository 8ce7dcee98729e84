"""``claimbridge report`` through the CLI: terminal tables, one JSON object, a self-contained
HTML file (parsed back with lxml), hostile values shown as written, and no personal data.

Most tests read a state store filled with the hand-worked ledger of ``tests/report_ledger.py``;
the last ones report on what a real sync to the sandbox agency wrote.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from claimbridge.state import StateStore
from tests.report_ledger import TODAY, report_ledger
from tests.state_rows import add, case, claim, quarantined, settlement

from .conftest import Workspace, invoke, one_json, query

CONFIG = """\
[state]
url = "sqlite:///state.db"

[creditor]
name = "Nordlys Energi AS"
organization_number = "923609016"
country = "NO"

[sources.ledger]
type = "files"
invoices = "invoices.csv"

[agencies.sandbox]
type = "file_drop"
directory = "drop-sandbox"

[agencies.drop]
type = "file_drop"
directory = "drop-other"

[pipelines.main]
source = "ledger"
agency = "sandbox"

[pipelines.other]
source = "ledger"
agency = "drop"
"""
REPORT_KEYS = {"status", "aging", "recovery", "cashflow", "resolution"}
SCOPE_KEYS = {"pipeline", "as_of", "since", "until", "age_edges"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config over a state store holding the hand-worked ledger."""
    (tmp_path / "invoices.csv").write_text("invoice_number\n", encoding="utf-8")
    path = tmp_path / "claimbridge.toml"
    path.write_text(CONFIG, encoding="utf-8")
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    add(store, **report_ledger())
    store.close()
    return path


def report(config: Path, *args: str, code: int = 0) -> Any:
    result = invoke("--config", str(config), "--today", TODAY.isoformat(), "report", *args)
    assert result.exit_code == code, result.stdout + result.stderr
    return result


# --- JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flag_first", [True, False])
def test_json_is_one_object_with_every_report(config: Path, flag_first: bool) -> None:
    args = ("--config", str(config), "--today", TODAY.isoformat())
    # the global --json, as every other command takes it, or the command's own
    result = invoke(*args, "--json", "report") if flag_first else invoke(*args, "report", "--json")
    assert result.exit_code == 0, result.stderr
    data = one_json(result.stdout)
    assert set(data) == SCOPE_KEYS | REPORT_KEYS
    assert (data["pipeline"], data["as_of"], data["since"], data["until"]) == (
        None,
        "2026-11-23",
        None,
        None,
    )
    assert data["age_edges"] == [30, 60, 90, 180, 365]
    nok = next(
        t for t in data["recovery"]["totals"] if (t["pipeline"], t["currency"]) == ("main", "NOK")
    )
    assert nok["recovered"] == {
        "lines": 3,
        "principal": "750.00",
        "interest": "35.00",
        "fees": "105.00",
        "commission": "89.00",
        "total": "890.00",
        "net": "801.00",
    }
    assert (nok["handed_over"], nok["recovery_rate"]) == ("1840.00", "0.4076")
    assert data["aging"]["as_of"] == "2026-11-23"
    assert data["aging"]["rows"][0] == {
        "pipeline": "main",
        "agency": None,
        "currency": "EUR",
        "bucket": ">365",
        "claims": 1,
        "principal": "50.00",
    }
    assert data["cashflow"]["days"][0]["period"] == "2026-10-05"
    assert data["status"]["last_runs"][1] == {
        "pipeline": "main",
        "kind": "sync",
        "status": "ok",
        "started_at": "2026-11-23T06:00:00+00:00",
        "finished_at": "2026-11-23T06:01:00+00:00",
    }
    assert data["resolution"]["by_age"][1]["shares"]["paid_in_full"] == "0.3333"


def test_json_of_one_report_for_one_pipeline_and_period(config: Path) -> None:
    result = report(
        config, "cashflow", "--json", "-p", "main", "--since", "2026-11-01", "--until", "2026-11-30"
    )
    data = one_json(result.stdout)
    assert set(data) == SCOPE_KEYS | {"cashflow"}
    assert (data["pipeline"], data["since"], data["until"]) == ("main", "2026-11-01", "2026-11-30")
    assert [d["period"] for d in data["cashflow"]["days"]] == ["2026-11-05"]
    assert "dated_by" not in data["cashflow"]  # always the agency's settlement date


def test_own_bucket_edges_and_as_of(config: Path) -> None:
    data = one_json(
        report(config, "aging", "--json", "--buckets", "14,45", "--as-of", "2026-10-31").stdout
    )
    assert data["age_edges"] == [14, 45]
    assert data["aging"]["buckets"] == ["not due", "0-14", "15-45", ">45"]
    assert data["aging"]["as_of"] == "2026-10-31"


# --- terminal -----------------------------------------------------------------------------


def test_terminal_tables(config: Path) -> None:
    out = report(config).stdout
    for heading in (
        "Cases",
        "Last run of each kind",
        "Outstanding principal by days past due",
        "In total, with the recovery rate to date",
        "Settlement pay-outs per month",
        "Share of claims by days past due at hand-over",
    ):
        assert heading in out
    assert "1,840.00" in out  # NOK handed over at sandbox
    assert "40.8 %" in out  # its recovery rate
    assert "by the agency's settlement date" in out
    assert "2026-11-23 06:00" in out  # the last sync, in UTC


def test_terminal_says_when_there_is_nothing(tmp_path: Path) -> None:
    (tmp_path / "invoices.csv").write_text("invoice_number\n", encoding="utf-8")
    config = tmp_path / "claimbridge.toml"
    config.write_text(CONFIG, encoding="utf-8")
    out = report(config).stdout
    assert "Cases: no cases" in out
    assert "Settlement pay-outs per day: no settlements" in out
    assert one_json(report(config, "--json").stdout)["status"]["cases"] == []


# --- HTML ---------------------------------------------------------------------------------


def _html(config: Path, *args: str) -> tuple[str, Any]:
    target = config.parent / "report.html"
    result = report(config, "--html", str(target), *args)
    assert result.stdout.strip() == f"wrote {target}"
    text = target.read_text(encoding="utf-8")
    return text, lxml.html.document_fromstring(text)


def _cells(doc: Any, section: str, caption: str) -> list[list[str]]:
    [table] = doc.xpath(f'//section[@id="{section}"]//table[caption="{caption}"]')
    return [[cell.text_content() for cell in row] for row in table.xpath("./tbody/tr")]


def test_html_is_one_self_contained_file_with_every_report(config: Path) -> None:
    text, doc = _html(config)
    assert text.startswith("<!DOCTYPE html>")
    assert [s.get("id") for s in doc.xpath("//section")] == [
        "status",
        "aging",
        "recovery",
        "cashflow",
        "resolution",
    ]
    assert doc.xpath("//script") == []
    assert doc.xpath("//link | //img | //iframe | //object | //embed | //form") == []
    for element in doc.xpath("//*[@src or @href or @action]"):
        assert (element.get("href") or "").startswith("#"), lxml.html.tostring(element)
    assert "url(" not in text
    assert "@import" not in text
    [policy] = doc.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')
    assert "default-src 'none'" in policy
    totals = _cells(doc, "recovery", "In total, with the recovery rate to date")
    assert totals[1][:8] == [
        "main",
        "sandbox",
        "NOK",
        "750.00",
        "35.00",
        "105.00",
        "89.00",
        "801.00",
    ]
    assert totals[1][-3:] == ["1,840.00", "750.00", "40.8 %"]
    by_age = _cells(doc, "resolution", "Share of claims by days past due at hand-over")
    assert by_age[0] == ["0-30", "2", "0.0 %", "50.0 %", "0.0 %", "50.0 %", "0.0 %"]
    numeric = doc.xpath('//section[@id="aging"]//td[@class="num"]')
    assert numeric, "amounts are marked for right alignment"


def test_html_holds_no_personal_data(config: Path) -> None:
    text, doc = _html(config)
    ledger = report_ledger()
    private = set()
    for row in ledger["claim_rows"]:
        private |= {row["invoice_number"], row["debtor_id"], row["debtor_key"]}
        private.add(row["source_record_id"])
    for row in ledger["case_rows"]:
        private |= {row["case_key"], row["agency_ref"], row["debtor_key"]}
    words = set(doc.text_content().split())
    assert not private & words
    assert not any(secret in text for secret in private if len(secret) > 3)


def test_hostile_values_are_shown_as_written(tmp_path: Path) -> None:
    """Whatever text reaches a report (an agency's name, a status, a stream) is escaped in
    HTML and printed literally on the terminal; invoice numbers never reach it at all."""
    (tmp_path / "invoices.csv").write_text("invoice_number\n", encoding="utf-8")
    config = tmp_path / "claimbridge.toml"
    config.write_text(CONFIG, encoding="utf-8")
    agency = '<img src=x onerror="alert(1)">'
    status = "</td></tr></table><script>alert(2)</script>"
    stream = "[bold red]x[/bold red] & <b>"
    invoice = "<script>alert('invoice')</script>"
    hostile = claim(invoice, "10.00", due=TODAY, case_key="cb-h", handed_over_on=TODAY)
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    add(
        store,
        claim_rows=[hostile],
        case_rows=[case("cb-h", [hostile], status=status, agency=agency)],
        quarantine_rows=[quarantined(stream)],
        settlement_rows=[settlement("S", on=TODAY, principal="1.00", agency=agency)],
    )
    store.close()
    text, doc = _html(config)
    assert doc.xpath("//script | //img | //b") == []
    cases = _cells(doc, "status", "Cases")
    assert cases == [["main", agency, status, "NOK", "1", "1", "10.00"]]
    assert _cells(doc, "status", "Quarantined records (unresolved)") == [["main", stream, "1"]]
    assert "alert('invoice')" not in text
    out = report(config, "status").stdout
    assert stream.split(" &")[0] in out  # rich markup printed, not applied
    assert "alert('invoice')" not in out


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--as-of", "2026-02-30"), 2, "not a date"),
        (("--since", "2026-11-02", "--until", "2026-11-01"), 2, "after until"),
        (("--buckets", "30,abc"), 2, "--buckets"),
        (("--buckets", "60,30"), 2, "increasing"),
        (("--pipeline", "nope"), 3, "no pipeline 'nope'"),
        (("weekly",), 2, "weekly"),
    ],
)
def test_bad_arguments_are_clear_errors(
    config: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    result = report(config, *args, code=code)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_html_into_a_missing_directory_is_a_clear_error(config: Path) -> None:
    result = report(config, "--html", str(config.parent / "nope" / "r.html"), code=2)
    assert "cannot write" in result.stderr


# --- on what a real sync wrote ------------------------------------------------------------


def test_report_after_a_real_sync_matches_the_store(workspace: Workspace) -> None:
    first = workspace.invoke("--json", "sync")
    assert first.exit_code == 13, first.stderr  # the agency turns one debtor away
    data = one_json(workspace.invoke("--json", "report").stdout)
    cases = data["status"]["cases"]
    by_status = {c["status"]: c["cases"] for c in cases}
    # the unreachable debtor's case is sent too, and turned away
    assert by_status == {"accepted": workspace.ledger.expected_debtors, "rejected": 1}
    [(count, claim_count)] = query(
        workspace.state_db, "SELECT count(*), sum(claim_count) FROM cases"
    )
    assert sum(c["cases"] for c in cases) == count
    assert sum(c["claims"] for c in cases) == claim_count
    stored = query(workspace.state_db, "SELECT total_principal FROM cases")
    expected = sum((Decimal(str(p)).quantize(Decimal("0.01")) for (p,) in stored), Decimal(0))
    assert sum(Decimal(c["principal"]) for c in cases) == expected
    not_sent = sum(r["claims"] for r in data["status"]["not_sent"])
    assert not_sent == len(workspace.ledger.expected_not_due) - 1  # the unreachable one was sent
    handed = sum(r["claims"] for r in data["resolution"]["rows"])
    assert handed == len(workspace.ledger.expected_due)  # the rejected case is not counted


def test_a_real_ledgers_people_never_appear_in_a_report(workspace: Workspace) -> None:
    workspace.invoke("sync")
    target = workspace.directory / "report.html"
    html = workspace.invoke("report", "--html", str(target))
    assert html.exit_code == 0, html.stderr
    outputs = {
        "html": lxml.html.document_fromstring(target.read_text(encoding="utf-8")).text_content(),
        "json": workspace.invoke("--json", "report").stdout,
        "terminal": workspace.invoke("report").stdout,
    }
    with workspace.ledger.customers_path.open(encoding="utf-8") as fh:
        people = list(csv.DictReader(fh))
    fields = ("name", "national_id", "organization_number", "address_line1", "email", "mobile")
    private = {p[f] for p in people for f in fields if len(p[f]) > 4}
    with workspace.ledger.invoices_path.open(encoding="utf-8") as fh:
        invoices = list(csv.DictReader(fh))
    private |= {i["kid"] for i in invoices if i["kid"]}
    references = {i["invoice_number"] for i in invoices} | {p["customer_number"] for p in people}
    assert len(private) > 50
    for kind, text in outputs.items():
        assert not [p for p in private if p in text], kind
    data = json.loads(outputs["json"])
    assert not _strings(data) & references
    assert not set(outputs["html"].split()) & references


def _strings(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()
