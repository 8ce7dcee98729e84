"""Reports as tables (for the terminal and the HTML file) and as JSON (for schedulers).

Both the terminal and the HTML report draw the same :class:`Section` list, so they always
show the same numbers under the same headings. Every cell is plain text: rich markup and HTML
in data (an agency's or a stream's name) are shown as written, never interpreted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from claimbridge.report.common import Filters
from claimbridge.report.outstanding import AgingReport, StatusReport
from claimbridge.report.recovery import (
    OUTCOMES,
    CashflowReport,
    Payouts,
    RecoveryReport,
    ResolutionReport,
)

__all__ = ["Column", "Section", "Table", "print_reports", "report_json", "sections"]

NOT_HANDED_OVER = "not handed over"
PIPED_WIDTH = 200
NONE = "—"
OUTCOME_WORDS = {
    "wait": "waiting (not due for collection yet)",
    "hold": "held for a person",
    "pending_approval": "waiting for approval",
    "skip": "not for collection (paid, below minimum, excluded)",
    "send": "due, not handed over yet",
}
RESOLUTION_WORDS = {
    "paid_in_full": "paid in full",
    "partly_paid": "partly paid",
    "returned": "returned uncollectable",
    "open": "still open",
    "closed": "closed, nothing paid",
}


@dataclass(frozen=True, slots=True)
class Column:
    heading: str
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str = "nothing to show"


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: str
    about: str
    tables: tuple[Table, ...]
    notes: tuple[str, ...] = field(default=())


def _text(*headings: str) -> tuple[Column, ...]:
    return tuple(Column(h) for h in headings)


def _numbers(*headings: str) -> tuple[Column, ...]:
    return tuple(Column(h, numeric=True) for h in headings)


def amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def share(value: Decimal | None) -> str:
    return NONE if value is None else f"{value * 100:.1f} %"


def _minute(at: dt.datetime | None) -> str:
    return NONE if at is None else f"{at:%Y-%m-%d %H:%M}"


def _where(agency: str | None) -> str:
    return NOT_HANDED_OVER if agency is None else agency


# --- one section per report ---------------------------------------------------------------


def status_section(report: StatusReport) -> Section:
    return Section(
        "status",
        "Status",
        "Where every case and claim stands now; what was not handed over and why.",
        (
            Table(
                "Cases",
                _text("pipeline", "agency", "status", "currency")
                + _numbers("cases", "claims", "principal"),
                tuple(
                    (
                        *(r.pipeline, r.agency, r.status, r.currency),
                        *(str(r.cases), str(r.claims), amount(r.principal)),
                    )
                    for r in report.cases
                ),
                "no cases",
            ),
            Table(
                "Claims",
                _text("pipeline", "where", "status", "currency") + _numbers("claims", "principal"),
                tuple(
                    (
                        *(r.pipeline, _where(r.agency), r.status, r.currency),
                        *(str(r.claims), amount(r.principal)),
                    )
                    for r in report.claims
                ),
                "no claims",
            ),
            Table(
                "Not handed over, by the policy's last decision",
                _text("pipeline", "why", "currency") + _numbers("claims", "principal"),
                tuple(
                    (
                        *(r.pipeline, OUTCOME_WORDS.get(r.outcome, r.outcome), r.currency),
                        *(str(r.claims), amount(r.principal)),
                    )
                    for r in report.not_sent
                ),
                "every claim seen has been handed over",
            ),
            Table(
                "Quarantined records (unresolved)",
                _text("pipeline", "stream") + _numbers("records"),
                tuple((r.pipeline, r.stream, str(r.records)) for r in report.quarantine),
                "nothing in quarantine",
            ),
            Table(
                "Deliveries in the outbox",
                _text("pipeline", "agency", "kind", "status") + _numbers("deliveries"),
                tuple(
                    (r.pipeline, r.agency, r.kind, r.status, str(r.deliveries))
                    for r in report.outbox
                ),
                "no deliveries",
            ),
            Table(
                "Last run of each kind",
                _text("pipeline", "kind", "status", "started (UTC)", "finished (UTC)"),
                tuple(
                    (r.pipeline, r.kind, r.status, _minute(r.started_at), _minute(r.finished_at))
                    for r in report.last_runs
                ),
                "no runs yet",
            ),
        ),
    )


def aging_section(report: AgingReport) -> Section:
    cells: dict[tuple[str, str, str], dict[str, Decimal]] = defaultdict(dict)
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for r in report.rows:
        key = (r.pipeline, _where(r.agency), r.currency)
        cells[key][r.bucket] = r.principal
        counts[key] += r.claims
    rows = tuple(
        (
            *key,
            *(amount(found[b]) if b in found else "" for b in report.buckets),
            *(str(counts[key]), amount(sum(found.values(), Decimal("0.00")))),
        )
        for key, found in cells.items()
    )
    return Section(
        "aging",
        f"Aging on {report.as_of.isoformat()}",
        "Outstanding principal by days past due, at each agency and not handed over.",
        (
            Table(
                "Outstanding principal by days past due",
                _text("pipeline", "where", "currency")
                + _numbers(*report.buckets, "claims", "total"),
                rows,
                "nothing outstanding",
            ),
        ),
        (
            "At an agency: principal at hand-over less what the agency's settlements put on the "
            "claim, direct payments and credit notes after hand-over. Case statuses are today's.",
        ),
    )


def recovery_section(report: RecoveryReport) -> Section:
    parts = ("principal", "interest", "fees", "commission", "net")
    return Section(
        "recovery",
        "Recovery",
        "What the agencies collected, what they kept, and the share of principal recovered.",
        (
            Table(
                "Per month",
                _text("month", "pipeline", "agency", "currency")
                + _numbers("lines", *parts, "booked net"),
                tuple(
                    (
                        *(m.month, m.pipeline, m.agency, m.currency, str(m.recovered.lines)),
                        *(amount(getattr(m.recovered, p)) for p in parts),
                        amount(m.booked.net),
                    )
                    for m in report.months
                ),
                "no settlements",
            ),
            Table(
                "In total, with the recovery rate to date",
                _text("pipeline", "agency", "currency")
                + _numbers(*parts, "handed over", "principal back", "rate"),
                tuple(
                    (
                        *(t.pipeline, t.agency, t.currency),
                        *(amount(getattr(t.recovered, p)) for p in parts),
                        *(amount(t.handed_over), amount(t.recovered_to_date)),
                        share(t.recovery_rate),
                    )
                    for t in report.totals
                ),
                "nothing handed over or recovered",
            ),
        ),
        (
            "Rate = principal settled / principal handed over, both up to the end of the "
            "period. Net = principal + interest + fees − commission. Every line the agency "
            "paid out counts, booked or not; booked net is what the ledger holds of it.",
        ),
    )


def _payouts(title: str, first: str, rows: Sequence[Payouts]) -> Table:
    return Table(
        title,
        _text(first, "pipeline", "agency", "currency")
        + _numbers("settlements", "lines", "collected", "commission", "net"),
        tuple(
            (
                *(p.period, p.pipeline, p.agency, p.currency, str(p.settlements), str(p.lines)),
                *(amount(p.total), amount(p.commission), amount(p.net)),
            )
            for p in rows
        ),
        "no settlements",
    )


def cashflow_section(report: CashflowReport) -> Section:
    return Section(
        "cashflow",
        "Cash flow",
        "Money paid out by the agencies, and paid by debtors straight to the creditor.",
        (
            _payouts("Settlement pay-outs per month", "month", report.months),
            _payouts("Settlement pay-outs per day", "day", report.days),
            Table(
                "Direct payments after hand-over",
                _text("month", "pipeline", "currency", "status") + _numbers("payments", "amount"),
                tuple(
                    (d.month, d.pipeline, d.currency, d.status, str(d.payments), amount(d.amount))
                    for d in report.direct_payments
                ),
                "no direct payments",
            ),
        ),
        (
            "Settlements by the agency's settlement date. Direct payments: to_report = not "
            "told to the agency yet; manual = a person must tell it; not_reported = reporting "
            "is off or the case had ended. Credit notes are no money and are not listed.",
        ),
    )


def resolution_section(report: ResolutionReport) -> Section:
    words = tuple(RESOLUTION_WORDS[o] for o in OUTCOMES)
    return Section(
        "resolution",
        "Resolution by age at hand-off",
        "Of the claims handed over, how many were resolved — by how old they were then.",
        (
            Table(
                "Share of claims by days past due at hand-over",
                _text("days past due") + _numbers("claims", *words),
                tuple(
                    (s.bucket, str(s.claims), *(share(s.shares[o]) for o in OUTCOMES))
                    for s in report.by_age
                ),
                "nothing handed over",
            ),
            Table(
                "Per agency and currency",
                _text("pipeline", "agency", "currency", "days past due")
                + _numbers("claims", *words, "principal", "principal back"),
                tuple(
                    (
                        *(r.pipeline, r.agency, r.currency, r.bucket, str(r.claims)),
                        *(str(r.outcomes[o]) for o in OUTCOMES),
                        *(amount(r.principal), amount(r.recovered)),
                    )
                    for r in report.rows
                ),
                "nothing handed over",
            ),
        ),
        (
            "Paid counts what the agency's settlements put on the claim and direct payments "
            "after hand-over; credit notes lower what was owed. Partly paid includes claims "
            "later returned or closed.",
        ),
    )


SECTION_OF: dict[str, Callable[[Any], Section]] = {
    "status": status_section,
    "aging": aging_section,
    "recovery": recovery_section,
    "cashflow": cashflow_section,
    "resolution": resolution_section,
}


def sections(reports: Mapping[str, Any]) -> list[Section]:
    return [SECTION_OF[name](report) for name, report in reports.items()]


# --- terminal -----------------------------------------------------------------------------


def print_reports(reports: Mapping[str, Any], console: Console | None = None) -> None:
    """Rich tables on the terminal, one block per report.

    Piped to a file or a pager, the tables get the width they need (rich would assume 80
    columns and squeeze the amounts)."""
    if console is None:
        console = Console(highlight=False, soft_wrap=True)
        if not console.is_terminal:
            console.width = max(console.width, PIPED_WIDTH)
    for section in sections(reports):
        console.print(Text(section.title, style="bold"))
        console.print(Text(section.about))
        for table in section.tables:
            _print_table(console, table)
        for note in section.notes:
            console.print(Text(note, style="dim"))
        console.print()


def _print_table(console: Console, table: Table) -> None:
    if not table.rows:
        console.print(Text(f"{table.title}: {table.empty}"))
        return
    rich = RichTable(title=Text(table.title), title_justify="left")
    for column in table.columns:
        if column.numeric:
            rich.add_column(Text(column.heading), justify="right", no_wrap=True)
        else:
            rich.add_column(Text(column.heading))
    for row in table.rows:
        rich.add_row(*(Text(cell) for cell in row))
    console.print(rich)


# --- JSON ---------------------------------------------------------------------------------


def report_json(
    reports: Mapping[str, Any],
    filters: Filters,
    *,
    as_of: dt.date,
    edges: Iterable[int],
) -> dict[str, Any]:
    """One JSON object: the scope, then one key per report. Money and rates are decimal
    strings, dates ISO."""
    return {
        "pipeline": filters.pipeline,
        "as_of": as_of.isoformat(),
        "since": _plain(filters.since),
        "until": _plain(filters.until),
        "age_edges": list(edges),
        **{name: _plain(report) for name, report in reports.items()},
    }


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
