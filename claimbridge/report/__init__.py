"""Reports over the state store: what is outstanding where, how old, what was recovered, the
cash flow from settlements, and resolution rates by the claim's age at hand-off.

Each report is one function that aggregates in the database and returns a frozen dataclass;
``claimbridge.report.render`` turns them into terminal tables or JSON and
``claimbridge.report.html`` into one self-contained HTML file. Reports are aggregates only:
no debtor, invoice number or reference ever appears in one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from claimbridge.report.common import Filters
from claimbridge.report.outstanding import AgingReport, StatusReport, aging_report, status_report
from claimbridge.report.recovery import (
    CashflowReport,
    RecoveryReport,
    ResolutionReport,
    cashflow_report,
    recovery_report,
    resolution_report,
)
from claimbridge.report.sql import DEFAULT_AGE_EDGES
from claimbridge.state.store import StateStore

__all__ = [
    "DEFAULT_AGE_EDGES",
    "REPORTS",
    "AgingReport",
    "CashflowReport",
    "Filters",
    "RecoveryReport",
    "ResolutionReport",
    "StatusReport",
    "aging_report",
    "build_reports",
    "cashflow_report",
    "recovery_report",
    "resolution_report",
    "status_report",
]

REPORTS = ("status", "aging", "recovery", "cashflow", "resolution")


def build_reports(
    store: StateStore,
    names: Sequence[str],
    filters: Filters,
    *,
    as_of: dt.date,
    edges: Sequence[int] = DEFAULT_AGE_EDGES,
) -> dict[str, Any]:
    """The named reports, in the order of :data:`REPORTS`."""
    unknown = set(names) - set(REPORTS)
    if unknown:
        raise ValueError(f"unknown report(s): {', '.join(sorted(unknown))}")
    found: dict[str, Any] = {}
    for name in REPORTS:
        if name not in names:
            continue
        if name == "status":
            found[name] = status_report(store, filters)
        elif name == "aging":
            found[name] = aging_report(store, filters, as_of=as_of, edges=edges)
        elif name == "recovery":
            found[name] = recovery_report(store, filters)
        elif name == "cashflow":
            found[name] = cashflow_report(store, filters)
        else:
            found[name] = resolution_report(store, filters, as_of=as_of, edges=edges)
    return found
