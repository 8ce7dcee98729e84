"""``claimbridge demo`` after a simulated month, then ``report``, ``reconcile`` and ``run`` on its
workspace: the ledger's journal holds exactly the amounts the store says were booked, the report
shows the cases by status and the principal, interest and fees recovered — the same amounts —,
the cases carry the agency's statuses, the direct payment reached the agency once, and the
commands' JSON and exit codes are what a scheduler reads."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from claimbridge.connectors.accounting.journal import BookingsJournal
from claimbridge.sandbox.server import SandboxServer
from claimbridge.state import StateStore
from claimbridge.state import reconciliation as rq

from .conftest import TODAY_ARG, invoke, one_json, query, run

RECONCILE_KEYS = {
    "run_id", "updates_read", "updates_skipped", "unknown_updates", "receipts",
    "status_changes", "illegal_transitions", "settlement_lines", "lines_unmatched",
    "lines_booked", "lines_partly_booked", "lines_failed", "lines_manual", "booked",
    "ledger_payments_read",
    "credit_notes_read", "bank_payments_read", "agency_payments_ignored", "quarantined",
    "corrections_queued", "corrections_sent", "corrections_rejected", "corrections_unknown",
    "corrections_retryable", "corrections_manual", "recovered", "problems",
}  # fmt: skip


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("month") / "workspace"
    done = run("--json", *TODAY_ARG, "demo", "--dir", str(directory))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return directory, one_json(done.stdout)


def _by_account(directory: Path) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for row in BookingsJournal(directory / "bookings.csv").rows():
        totals[row.account] = totals.get(row.account, Decimal(0)) + row.amount
    return totals


def test_after_a_month_the_journal_holds_exactly_the_booked_amounts(
    month: tuple[Path, dict[str, Any]],
) -> None:
    directory, result = month
    assert result["simulated_until"] == "2026-12-23"
    assert result["lines_booked"] == result["settlement_lines"] > 0
    booked = result["booked"]["NOK"]
    principal, interest, fees, commission = (
        Decimal(booked[k]) for k in ("principal", "interest", "fees", "commission")
    )
    assert min(principal, interest, fees, commission) > 0
    accounts = _by_account(directory)
    assert -accounts["1500"] == principal  # payments on the invoices
    assert -accounts["8050"] == interest
    assert -accounts["3900"] == fees
    assert accounts["7790"] == commission
    assert accounts["1920"] == principal + interest + fees - commission  # what was paid out
    store = StateStore.open(f"sqlite:///{directory / 'claimbridge.db'}")
    try:
        totals = rq.booked_totals(store.engine, "main")["NOK"]
    finally:
        store.close()
    assert (totals.principal, totals.interest, totals.fees, totals.commission) == (
        principal,
        interest,
        fees,
        commission,
    )
    assert result["journal_bookings"] == len(
        {r.booking_id for r in BookingsJournal(directory / "bookings.csv").rows()}
    )


def test_after_a_month_the_report_shows_the_cases_and_exactly_the_booked_amounts(
    month: tuple[Path, dict[str, Any]],
) -> None:
    """Issue #7: the report shows cases by status, recovered principal, interest and fees; the
    ledger (the journal) holds exactly the booked amounts."""
    directory, result = month
    done = run("--config", str(directory / "claimbridge.toml"), "--today", "2026-12-23",
               "--json", "report", cwd=directory)  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = one_json(done.stdout)
    store = StateStore.open(f"sqlite:///{directory / 'claimbridge.db'}")
    try:
        held = rq.booked_totals(store.engine, "main")["NOK"]
        statuses = rq.case_status_counts(store.engine, "main")
    finally:
        store.close()

    shown: Counter[str] = Counter()
    for row in data["status"]["cases"]:
        shown[row["status"]] += row["cases"]
    assert dict(shown) == statuses == result["cases_by_status"]

    [nok] = [t for t in data["recovery"]["totals"] if t["currency"] == "NOK"]
    recovered, booked = nok["recovered"], nok["booked"]
    assert recovered["lines"] == booked["lines"] == held.lines == result["settlement_lines"]
    accounts = _by_account(directory)
    in_journal = {
        "principal": -accounts["1500"],
        "interest": -accounts["8050"],
        "fees": -accounts["3900"],
        "commission": accounts["7790"],
    }
    for part, journal_amount in in_journal.items():
        amounts = {
            Decimal(recovered[part]),
            Decimal(booked[part]),
            getattr(held, part),
            Decimal(result["booked"]["NOK"][part]),
            journal_amount,
        }
        assert len(amounts) == 1, (part, amounts)
    assert Decimal(booked["net"]) == accounts["1920"]  # what reached the bank
    assert Decimal(nok["recovered_to_date"]) == held.principal
    payment = result["direct_payment"]  # paid to the creditor: cash flow, not recovery
    assert data["cashflow"]["direct_payments"] == [
        {"month": "2026-11", "pipeline": "main", "currency": "NOK", "status": "reported",
         "payments": 1, "amount": payment["amount"]},
    ]  # fmt: skip


def test_after_a_month_the_cases_carry_the_agency_statuses(
    month: tuple[Path, dict[str, Any]],
) -> None:
    directory, result = month
    statuses = result["cases_by_status"]
    assert sum(statuses.values()) == result["agency_cases"] + result["rejected"]
    assert statuses.get("rejected") == 1
    assert set(statuses) - {"accepted", "rejected"}, "no case moved in a month"
    assert set(statuses) <= {"accepted", "rejected", "active", "paused", "paid", "closed",
                             "withdrawn", "returned"}  # fmt: skip
    stored = dict(
        query(directory / "claimbridge.db", "SELECT status, count(*) FROM cases GROUP BY status")
    )
    assert stored == statuses


def test_the_direct_payment_reached_the_agency_once_with_its_booking_date(
    month: tuple[Path, dict[str, Any]],
) -> None:
    directory, result = month
    payment = result["direct_payment"]
    assert payment["payment_date"] == "2026-11-26"
    at_agency = query(
        directory / "sandbox-agency.db",
        "SELECT kind, invoice_number, amount, status FROM corrections",
    )
    assert at_agency == [("payment", payment["invoice_number"], payment["amount"], "accepted")]
    [(case_key,)] = query(
        directory / "claimbridge.db",
        "SELECT case_key FROM claims WHERE invoice_number = ?",
        payment["invoice_number"],
    )
    shown = invoke("--config", str(directory / "claimbridge.toml"), *TODAY_ARG, "--json",
                   "cases", "show", case_key)  # fmt: skip
    assert shown.exit_code == 0, shown.stderr
    events = one_json(shown.stdout)["events"]
    reported = [e for e in events if e["kind"] == "payment_reported"]
    assert len(reported) == 1
    assert reported[0]["direction"] == "out"
    assert "booked 2026-11-26" in reported[0]["message"]
    human = invoke("--config", str(directory / "claimbridge.toml"), *TODAY_ARG, "cases",
                   "show", case_key)  # fmt: skip
    assert "→ direct payment of" in human.stdout


@pytest.fixture
def agency_again(month: tuple[Path, dict[str, Any]]) -> Iterator[Path]:
    """The demo's agency serving again on its own database, the config pointing at it."""
    directory, _ = month
    token = (directory / "sandbox.token").read_text().strip()
    config = directory / "claimbridge.toml"
    original = config.read_text()
    with SandboxServer(token, db_path=directory / "sandbox-agency.db") as server:
        import re

        config.write_text(re.sub(r'url = "http://[^"]+"', f'url = "{server.url}"', original))
        try:
            yield directory
        finally:
            config.write_text(original)


def test_reconcile_and_run_on_the_demo_workspace_book_nothing_again(agency_again: Path) -> None:
    directory = agency_again
    journal = (directory / "bookings.csv").read_bytes()
    args = ("--config", str(directory / "claimbridge.toml"), "--today", "2026-12-23", "--json")
    done = run(*args, "reconcile", cwd=directory)
    assert done.returncode == 0, done.stderr
    stats = one_json(done.stdout)
    assert set(stats) == RECONCILE_KEYS
    assert (stats["lines_booked"], stats["corrections_sent"]) == (0, 0)
    assert stats["booked"] == {}

    both = run(*args, "run", cwd=directory)
    assert both.returncode == 0, both.stderr
    result = json.loads(both.stdout)
    assert set(result) == {"sync", "reconcile"}
    # a month on, more invoices are due: the sync hands them over; nothing is booked twice
    assert result["sync"]["cases_sent"] == result["sync"]["cases_queued"]
    assert result["sync"]["already_handed_over"] > 0
    assert set(result["reconcile"]) == RECONCILE_KEYS
    assert (directory / "bookings.csv").read_bytes() == journal

    human = run("--config", str(directory / "claimbridge.toml"), "--today", "2026-12-23",
                "reconcile", cwd=directory)  # fmt: skip
    assert human.returncode == 0, human.stderr
    assert "reconciled:" in human.stdout


def test_reconcile_with_the_agency_down_exits_7_and_says_which_step(
    month: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, _ = month
    config = tmp_path / "claimbridge.toml"
    text = (directory / "claimbridge.toml").read_text()
    import re

    text = re.sub(r'url = "http://[^"]+"', 'url = "http://127.0.0.1:9"', text)
    text = text.replace('"sqlite:///claimbridge.db"', f'"sqlite:///{directory / "claimbridge.db"}"')
    text = text.replace('"ledger/', f'"{directory}/ledger/').replace(
        '"bookings.csv"', f'"{directory / "bookings.csv"}"'
    )
    text = text.replace("${file:sandbox.token}", f"${{file:{directory / 'sandbox.token'}}}")
    config.write_text(text + "\n[agencies.sandbox.http]\nmax_retries = 0\n")
    done = run("--config", str(config), *TODAY_ARG, "--json", "reconcile", cwd=tmp_path)
    assert done.returncode == 7, done.stdout + done.stderr
    stats = one_json(done.stdout)
    assert stats["problems"][0]["exit_code"] == 7
    assert stats["problems"][0]["step"] == "agency updates"
    assert "Traceback" not in done.stderr
