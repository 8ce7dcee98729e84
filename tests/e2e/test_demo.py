"""``claimbridge demo``: the sample ledger reaches the sandbox agency over HTTP, once.

The expectations come from ``LedgerSummary`` (regenerated with the same ``today``), which is
computed from the plan that wrote the ledger, not from the policy under test.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from claimbridge.sandbox.ledger import Category, LedgerSummary, generate_sample_ledger

from .conftest import (
    TODAY,
    TODAY_ARG,
    agency_cases,
    agency_rejections,
    assert_exactly_once,
    invoke,
    one_json,
    query,
    run,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """One demo run (the hand-over only) in a real subprocess, shared by the read-only tests
    below; ``test_demo_month.py`` follows the month after it."""
    directory = tmp_path_factory.mktemp("demo") / "workspace"
    done = run("--json", *TODAY_ARG, "demo", "--dir", str(directory), "--months", "0")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return directory, one_json(done.stdout)


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> LedgerSummary:
    return generate_sample_ledger(tmp_path_factory.mktemp("expected"), today=TODAY)


def _cli(directory: Path, *args: str) -> tuple[int, str, str]:
    result = invoke("--config", str(directory / "claimbridge.toml"), *TODAY_ARG, *args)
    return result.exit_code, result.stdout, result.stderr


def test_demo_hands_over_exactly_the_due_invoices(
    demo: tuple[Path, dict[str, object]], summary: LedgerSummary
) -> None:
    directory, stats = demo
    unreachable = summary.invoices_in(Category.UNREACHABLE)
    assert len(unreachable) == 1

    accepted = query(
        directory / "claimbridge.db",
        "SELECT c.invoice_number FROM claims c JOIN cases k ON k.case_key = c.case_key"
        " WHERE k.status = 'accepted'",
    )
    assert sorted(r[0] for r in accepted) == sorted(summary.expected_due)
    # the unreachable debtor's claim passes the policy; the agency turns its case away
    handed = query(
        directory / "claimbridge.db", "SELECT invoice_number FROM claims WHERE case_key IS NOT NULL"
    )
    assert sorted(r[0] for r in handed) == sorted([*summary.expected_due, *unreachable])

    assert stats["claims_seen"] == summary.invoice_count
    assert stats["cases_sent"] == summary.expected_debtors
    assert stats["claims_sent"] == len(summary.expected_due)
    assert stats["rejected"] == 1
    assert stats["agency_cases"] == summary.expected_debtors


def test_sandbox_store_holds_one_case_per_due_debtor(
    demo: tuple[Path, dict[str, object]], summary: LedgerSummary
) -> None:
    directory, _ = demo
    cases = agency_cases(directory / "sandbox-agency.db")
    assert len(cases) == summary.expected_debtors
    assert_exactly_once(cases, summary.expected_due)

    rejections = agency_rejections(directory / "sandbox-agency.db")
    assert len(rejections) == 1
    case_key, reason = rejections[0]
    assert "no address, phone number or e-mail" in reason
    rejected_invoices = query(
        directory / "claimbridge.db",
        "SELECT invoice_number FROM claims WHERE case_key = ?",
        case_key,
    )
    assert [r[0] for r in rejected_invoices] == list(summary.invoices_in(Category.UNREACHABLE))


def test_second_demo_run_sends_nothing(tmp_path: Path, summary: LedgerSummary) -> None:
    directory = tmp_path / "again"
    first = invoke("--json", *TODAY_ARG, "demo", "--dir", str(directory))
    assert first.exit_code == 0, first.stderr
    done = one_json(first.stdout)
    assert done["cases_sent"] == summary.expected_debtors
    assert done["lines_booked"] > 0
    journal = (directory / "bookings.csv").read_text()

    second = invoke("--json", *TODAY_ARG, "demo", "--dir", str(directory))
    assert second.exit_code == 0, second.stderr
    stats = one_json(second.stdout)
    assert stats["cases_sent"] == 0
    assert (stats["lines_booked"], stats["corrections_sent"]) == (0, 0)
    assert stats["booked"] == done["booked"]
    assert (directory / "bookings.csv").read_text() == journal
    assert stats["claims_sent"] == 0
    assert stats["rejected"] == 0
    assert stats["agency_cases"] == summary.expected_debtors
    assert len(agency_cases(directory / "sandbox-agency.db")) == summary.expected_debtors
    outbox = query(directory / "claimbridge.db", "SELECT count(*) FROM outbox WHERE kind = 'case'")
    assert outbox[0][0] == summary.expected_debtors + 1  # + the rejected one, never resent
    payments = query(
        directory / "claimbridge.db", "SELECT count(*) FROM outbox WHERE kind = 'payment'"
    )
    assert payments == [(1,)]  # the one direct payment, reported once


def _due_date(summary: LedgerSummary, invoice: str) -> str:
    with summary.invoices_path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["invoice_number"] == invoice:
                return row["due_date"]
    raise AssertionError(f"invoice {invoice} not in the ledger")


def test_why_a_sent_invoice_was_sent(
    demo: tuple[Path, dict[str, object]], summary: LedgerSummary
) -> None:
    directory, _ = demo
    invoice = summary.expected_due[0]
    code, out, err = _cli(directory, "cases", "why", invoice)
    assert code == 0, err
    assert f"invoice {invoice}" in out
    assert f"sent: due {_due_date(summary, invoice)}" in out
    assert "days past due" in out
    assert "accepted, agency reference SBX-" in out


def test_why_a_waiting_invoice_was_not_sent(
    demo: tuple[Path, dict[str, object]], summary: LedgerSummary
) -> None:
    directory, _ = demo
    not_due = summary.invoices_in(Category.NOT_YET_DUE)[0]
    code, out, _ = _cli(directory, "cases", "why", not_due)
    assert code == 0
    assert "not sent yet" in out
    assert f"due {_due_date(summary, not_due)}" in out

    pending = summary.invoices_in(Category.NOTICE_PENDING)[0]
    code, out, _ = _cli(directory, "cases", "why", pending)
    assert code == 0
    assert "not sent yet" in out
    assert "deadline ends" in out

    below = summary.invoices_in(Category.BELOW_MINIMUM)[0]
    code, out, _ = _cli(directory, "--json", "cases", "why", below)
    assert code == 0
    why = one_json(out)
    assert why["case_key"] is None
    assert "below the minimum" in why["explanation"]


def test_why_an_unknown_invoice_exits_4_with_one_line(
    demo: tuple[Path, dict[str, object]],
) -> None:
    directory, _ = demo
    code, out, err = _cli(directory, "cases", "why", "999999")
    assert code == 4
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: invoice 999999")


def test_the_demo_says_where_to_look_next_and_each_command_works(tmp_path: Path) -> None:
    directory = tmp_path / "shown"
    done = invoke(*TODAY_ARG, "demo", "--dir", str(directory), "--months", "0")
    assert done.exit_code == 0, done.stderr
    _, _, after = done.stdout.partition("where to look next:\n")
    commands = [line.split("#")[0].split() for line in after.splitlines() if line.startswith("  ")]
    assert [c[3] for c in commands] == ["report", "cases", "cases", "quarantine"]
    for command in commands:
        assert command[:3] == ["claimbridge", "-c", str(directory / "claimbridge.toml")]
        shown = invoke(*command[1:3], *TODAY_ARG, *command[3:])
        assert shown.exit_code == 0, (command, shown.stderr)
    report = invoke(*commands[0][1:3], *TODAY_ARG, "report").stdout
    assert "Cases" in report
    assert "In total, with the recovery rate to date" in report
