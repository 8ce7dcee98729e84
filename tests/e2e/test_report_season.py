"""The report after a simulated season at the sandbox agency: payments, returns, disputes and
monthly itemized settlements, as the sandbox simulates them over HTTP, brought back by the real
``claimbridge reconcile`` after each simulated month and booked into the files source's
bookings journal.

The report's totals are then checked against two outside witnesses: the settlements the agency
itself sent (read again over HTTP) and the journal the ledger would import.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from claimbridge import build
from claimbridge.config import load_config
from claimbridge.connectors.accounting.journal import BookingsJournal
from claimbridge.connectors.agencies.sandbox import SandboxAgency
from claimbridge.schemas import Settlement
from claimbridge.state import StateStore
from claimbridge.state import reconciliation as rq

from .conftest import TODAY, Workspace, invoke, one_json

SEASON_DAYS = 200
MONTH_DAYS = 30
BANK, RECEIVABLES = "1920", "1500"  # the files source's journal defaults
INTEREST, FEES, COMMISSION = "8050", "3900", "7790"
RECONCILE = f"""
[pipelines.main.reconcile]
bank_account = "{BANK}"
interest_income_account = "{INTEREST}"
fee_income_account = "{FEES}"
commission_expense_account = "{COMMISSION}"
"""


def _book_into_a_journal(workspace: Workspace) -> None:
    """The workspace's config, with the journal reconciliation books into and its accounts."""
    text = workspace.config.read_text(encoding="utf-8")
    invoices = 'invoices = "ledger/invoices.csv"\n'
    assert invoices in text
    text = text.replace(invoices, invoices + 'journal = "bookings.csv"\n') + RECONCILE
    workspace.config.write_text(text, encoding="utf-8")


def _agency_reports(workspace: Workspace) -> tuple[list[Settlement], dict[str, str]]:
    """Every settlement the agency sent, and each case's last status, read over HTTP."""
    config = load_config(workspace.config)
    agency = build.agency(config, config.agencies["sandbox"], TODAY)
    assert isinstance(agency, SandboxAgency)
    settlements: list[Settlement] = []
    statuses: dict[str, str] = {}
    try:
        for update in agency.updates(None):
            if update.settlement is not None:
                settlements.append(update.settlement)
            elif update.event is not None and update.event.status is not None:
                statuses[update.event.case_key] = update.event.status.value
    finally:
        agency.close()
    return settlements, statuses


def _reconcile_each_month(workspace: Workspace, season_end: dt.date) -> list[dict[str, Any]]:
    """Let the agency's months pass, reconciling after each as a scheduler would."""
    runs = []
    day = TODAY
    while day < season_end:
        day = min(day + dt.timedelta(days=MONTH_DAYS), season_end)
        workspace.server.simulate(day)
        done = invoke(
            "--config", str(workspace.config), "--today", day.isoformat(), "--json", "reconcile"
        )
        assert done.exit_code == 0, done.stdout + done.stderr
        runs.append(one_json(done.stdout))
    return runs


def _journal(workspace: Workspace) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Per account, and per month on the bank account, what the journal holds."""
    by_account: dict[str, Decimal] = defaultdict(Decimal)
    bank_by_month: dict[str, Decimal] = defaultdict(Decimal)
    for row in BookingsJournal(workspace.directory / "bookings.csv").rows():
        by_account[row.account] += row.amount
        if row.account == BANK:
            bank_by_month[row.date.isoformat()[:7]] += row.amount
    return dict(by_account), dict(bank_by_month)


def test_report_after_a_simulated_season(workspace: Workspace) -> None:
    _book_into_a_journal(workspace)
    workspace.server.simulate(TODAY)  # the agency's clock starts on the day of the hand-over
    assert workspace.invoke("sync").exit_code == 13  # one debtor is turned away
    season_end = TODAY + dt.timedelta(days=SEASON_DAYS)
    runs = _reconcile_each_month(workspace, season_end)
    settlements, statuses = _agency_reports(workspace)
    assert settlements, f"the sandbox paid nothing out in {SEASON_DAYS} days"
    lines = [line for s in settlements for line in s.lines]
    assert sum(r["settlement_lines"] for r in runs) == len(lines)
    assert sum(r["lines_booked"] for r in runs) == len(lines)  # every part has its account

    data = one_json(workspace.invoke("--json", "report", "--as-of", season_end.isoformat()).stdout)

    # recovery: what the agency's settlements said, line by line
    [nok] = [t for t in data["recovery"]["totals"] if t["recovered"]["lines"]]
    assert nok["currency"] == "NOK"
    recovered = nok["recovered"]
    assert recovered["lines"] == len(lines)
    for part in ("principal", "interest", "fees", "commission"):
        assert Decimal(recovered[part]) == sum(getattr(line, part) for line in lines), part
    assert Decimal(recovered["net"]) == sum(s.payout for s in settlements)
    assert Decimal(nok["recovered_to_date"]) == Decimal(recovered["principal"])
    assert 0 < Decimal(nok["recovery_rate"]) <= 1

    # booked: exactly what the journal holds, and what the store says reconciliation booked
    accounts, bank_by_month = _journal(workspace)
    booked = {k: Decimal(v) if k != "lines" else v for k, v in nok["booked"].items()}
    assert booked == {k: Decimal(v) if k != "lines" else v for k, v in recovered.items()}
    assert booked["principal"] == -accounts[RECEIVABLES]
    assert booked["interest"] == -accounts[INTEREST]
    assert booked["fees"] == -accounts[FEES]
    assert booked["commission"] == accounts[COMMISSION]
    assert booked["net"] == accounts[BANK]
    store = StateStore.open(f"sqlite:///{workspace.state_db}")
    try:
        held = rq.booked_totals(store.engine, "main")["NOK"]
        by_status = rq.case_status_counts(store.engine, "main")
    finally:
        store.close()
    assert (held.lines, held.principal, held.interest, held.fees, held.commission) == (
        booked["lines"], booked["principal"], booked["interest"], booked["fees"],
        booked["commission"],
    )  # fmt: skip

    # cash flow: per month, the agency's pay-outs = the report's net = the journal's bank
    per_month: dict[str, Decimal] = defaultdict(Decimal)
    for s in settlements:
        per_month[s.settlement_date.isoformat()[:7]] += s.payout
    paid_out = {m["period"]: Decimal(m["net"]) for m in data["cashflow"]["months"]}
    assert paid_out == dict(per_month) == bank_by_month
    assert data["cashflow"]["direct_payments"] == []  # this ledger exports no payments

    # status: the agency's last word on each case, as reconciliation applied it
    status_counts = Counter(c["status"] for c in data["status"]["cases"] for _ in range(c["cases"]))
    expected = Counter(statuses.values())
    expected["rejected"] += 1
    expected["accepted"] += workspace.ledger.expected_debtors - len(statuses)
    assert +status_counts == +expected == Counter(by_status)

    outcomes: Counter[str] = Counter()
    for row in data["resolution"]["by_age"]:
        outcomes.update({k: v for k, v in row["outcomes"].items() if v})
    assert sum(outcomes.values()) == len(workspace.ledger.expected_due)
    assert outcomes["paid_in_full"] > 0
    assert set(outcomes) <= {"paid_in_full", "partly_paid", "returned", "open", "closed"}
    paid_cases = sum(c["claims"] for c in data["status"]["cases"] if c["status"] == "paid")
    assert outcomes["paid_in_full"] >= paid_cases
