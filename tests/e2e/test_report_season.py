"""The report after a simulated season at the sandbox agency: payments, returns, disputes and
monthly itemized settlements, as the sandbox simulates them over HTTP.

Reconciliation (which records what agencies report back) is built on another branch; until it
is merged here, :func:`record_as_reconciliation_will` writes the agency's settlement lines and
case statuses into the state store's own tables the way reconciliation is specified to. The
report's totals are then checked against the settlements the agency itself sent.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from claimbridge import build
from claimbridge.config import load_config
from claimbridge.connectors.agencies.sandbox import SandboxAgency
from claimbridge.schemas import Settlement
from claimbridge.state import StateStore
from claimbridge.state.tables import settlements_seen

from .conftest import TODAY, Workspace, one_json


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


def record_as_reconciliation_will(
    store: StateStore, settlements: list[Settlement], statuses: dict[str, str]
) -> None:
    rows: list[dict[str, Any]] = [
        {
            "agency": "sandbox",
            "line_id": line.line_id,
            "settlement_id": settlement.settlement_id,
            "pipeline": "main",
            "case_key": line.case_key,
            "invoice_number": line.invoice_number,
            "principal": line.principal,
            "interest": line.interest,
            "fees": line.fees,
            "commission": line.commission,
            "status": "seen",
            "ledger_ref": None,
            # the store has no settlement date column yet: seen on the settlement day
            "seen_at": dt.datetime.combine(settlement.settlement_date, dt.time(12), dt.UTC),
            "booked_at": None,
        }
        for settlement in settlements
        for line in settlement.lines
    ]
    with store.begin() as conn:
        if rows:
            conn.execute(settlements_seen.insert(), rows)
        store.set_case_statuses(
            conn, [{"case_key": key, "status": status} for key, status in statuses.items()]
        )


def test_report_after_a_simulated_season(workspace: Workspace) -> None:
    assert workspace.invoke("sync").exit_code == 13  # one debtor is turned away
    season_end = dt.date.today() + dt.timedelta(days=200)
    assert workspace.server.simulate(season_end) > 0
    settlements, statuses = _agency_reports(workspace)
    assert settlements, "the sandbox paid nothing out in 200 days"
    store = StateStore.open(f"sqlite:///{workspace.state_db}")
    try:
        record_as_reconciliation_will(store, settlements, statuses)
    finally:
        store.close()
    as_of = season_end.isoformat()
    data = one_json(workspace.invoke("--json", "report", "--as-of", as_of).stdout)

    lines = [line for s in settlements for line in s.lines]
    [nok] = [t for t in data["recovery"]["totals"] if t["recovered"]["lines"]]
    assert nok["currency"] == "NOK"
    assert nok["recovered"]["lines"] == len(lines)
    assert Decimal(nok["recovered"]["principal"]) == sum(line.principal for line in lines)
    assert Decimal(nok["recovered"]["net"]) == sum(s.payout for s in settlements)
    assert Decimal(nok["recovered_to_date"]) == Decimal(nok["recovered"]["principal"])
    assert 0 < Decimal(nok["recovery_rate"]) <= 1

    per_month: dict[str, Decimal] = defaultdict(Decimal)
    for s in settlements:
        per_month[s.settlement_date.isoformat()[:7]] += s.payout
    paid_out = {m["period"]: Decimal(m["net"]) for m in data["cashflow"]["months"]}
    assert paid_out == dict(per_month)

    status_counts = Counter(c["status"] for c in data["status"]["cases"] for _ in range(c["cases"]))
    expected = Counter(statuses.values())
    expected["rejected"] += 1
    expected["accepted"] += workspace.ledger.expected_debtors - len(statuses)
    assert +status_counts == +expected

    outcomes: Counter[str] = Counter()
    for row in data["resolution"]["by_age"]:
        outcomes.update({k: v for k, v in row["outcomes"].items() if v})
    assert sum(outcomes.values()) == len(workspace.ledger.expected_due)
    assert outcomes["paid_in_full"] > 0
    assert set(outcomes) <= {"paid_in_full", "partly_paid", "returned", "open", "closed"}
    paid_cases = sum(c["claims"] for c in data["status"]["cases"] if c["status"] == "paid")
    assert outcomes["paid_in_full"] >= paid_cases
