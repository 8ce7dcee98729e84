"""Report benchmark: every report over a SQLite state store of N claims, one core.

    python benchmarks/report.py --claims 1000000 --json

Fills a state store (cached under benchmarks/out/; bulk inserts through the store's own tables
in a child process, so filling does not count towards the reports' memory) with a realistic
spread: claims due over five years in NOK, SEK and EUR; about 60 % handed over in cases of
one to four claims in every status; one to three settlement lines on most handed-over claims,
written as reconciliation writes them (settlement date, currency, the ledger ids of the parts
booked), each booked principal read back from the ledger as the agency's own pay-out (an
``ignored`` payment, as a ledger that exports every payment gives it); direct payments and
credit notes on a few. Then times each report and prints
``{"claims", "seconds": {report: s}, "cpu_seconds", "peak_rss_mb", "baseline_rss_mb", ...}``.
SQLite runs in the process, so CPU seconds are the report's own work even on a shared machine.
Peak RSS is the reporting process's high-water mark; baseline is the same process before the
first report.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import multiprocessing
import random
import resource
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from claimbridge.report import REPORTS, Filters, build_reports  # noqa: E402
from claimbridge.state import StateStore  # noqa: E402
from claimbridge.state._sql import executemany  # noqa: E402
from claimbridge.state.tables import (  # noqa: E402
    cases,
    claims,
    outbox,
    payments_seen,
    quarantine,
    settlements_seen,
)

TODAY = dt.date(2026, 11, 23)
AT = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)
CHUNK = 20_000
GENERATOR_VERSION = 2
CURRENCIES = (("NOK", 90), ("SEK", 7), ("EUR", 3))
CASE_STATUSES = (
    ("active", 35),
    ("accepted", 10),
    ("paid", 20),
    ("closed", 10),
    ("returned", 10),
    ("withdrawn", 5),
    ("rejected", 3),
    ("paused", 2),
    ("sent", 3),
    ("queued", 2),
)
OUTCOMES = (("wait", 50), ("hold", 15), ("pending_approval", 10), ("skip", 20), ("send", 5))


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _money(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(5_000, 2_500_000)).scaleb(-2)


def _rows(claim_count: int, seed: int = 7) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Rows for every table, a chunk at a time (memory holds one chunk)."""
    rng = random.Random(seed)
    made = 0
    case_no = 0
    while made < claim_count:
        batch: dict[str, list[dict[str, Any]]] = {
            "claims": [],
            "cases": [],
            "settlements": [],
            "payments": [],
            "outbox": [],
        }
        while len(batch["claims"]) < CHUNK and made < claim_count:
            currency = _pick(rng, CURRENCIES)
            debtor = f"d{rng.randint(1, claim_count // 4 + 1)}"
            handed = rng.random() < 0.6
            size = min(rng.randint(1, 4), claim_count - made) if handed else 1
            handed_on = TODAY - dt.timedelta(days=rng.randint(0, 700)) if handed else None
            key = None
            if handed:
                case_no += 1
                key = f"cb-{case_no:024x}"
            members = []
            for _ in range(size):
                made += 1
                due = (handed_on or TODAY) - dt.timedelta(days=rng.randint(-20, 400))
                principal = _money(rng)
                members.append(_claim(made, debtor, currency, principal, due, key, handed_on, rng))
            batch["claims"].extend(members)
            if key is not None and handed_on is not None:
                status = _pick(rng, CASE_STATUSES)
                batch["cases"].append(_case(key, debtor, currency, members, status))
                batch["outbox"].append(_delivery(key, status))
                _money_back(batch, rng, key, status, members, handed_on)
        yield batch


def _claim(
    n: int,
    debtor: str,
    currency: str,
    principal: Decimal,
    due: dt.date,
    key: str | None,
    handed_on: dt.date | None,
    rng: random.Random,
) -> dict[str, Any]:
    return {
        "pipeline": "bench",
        "invoice_number": str(1_000_000 + n),
        "source_system": "files",
        "source_company": "",
        "source_record_id": str(n),
        "debtor_id": debtor,
        "debtor_key": f"key-{debtor}",
        "currency": currency,
        "original_amount": principal,
        "remaining_principal": principal,
        "invoice_date": due - dt.timedelta(days=14),
        "due_date": due,
        "kid": None,
        "outcome": "send" if key else _pick(rng, OUTCOMES),
        "decision": "{}",
        "decided_on": handed_on or TODAY,
        "review_on": None,
        "limitation_on": None,
        "approved_on": None,
        "approved_by": None,
        "case_key": key,
        "handed_over_on": handed_on,
        "status": "handed_over" if key else "open",
        "run_id": "bench",
        "updated_at": AT,
    }


def _case(
    key: str, debtor: str, currency: str, members: list[dict[str, Any]], status: str
) -> dict[str, Any]:
    return {
        "case_key": key,
        "pipeline": "bench",
        "agency": "agency",
        "debtor_key": f"key-{debtor}",
        "currency": currency,
        "total_principal": sum((m["remaining_principal"] for m in members), Decimal(0)),
        "claim_count": len(members),
        "status": status,
        "agency_ref": f"ref-{key}",
        "quality_score": 90,
        "forced": False,
        "created_at": AT,
        "updated_at": AT,
    }


def _delivery(key: str, status: str) -> dict[str, Any]:
    return {
        "pipeline": "bench",
        "agency": "agency",
        "case_key": key,
        "idempotency_key": f"idem-{key}",
        "kind": "case",
        "status": "rejected" if status == "rejected" else "accepted",
        "payload": None,
        "attempts": 1,
        "agency_ref": None,
        "reason": None,
        "run_id": "bench",
        "created_at": AT,
        "updated_at": AT,
    }


def _money_back(
    batch: dict[str, list[dict[str, Any]]],
    rng: random.Random,
    key: str,
    status: str,
    members: list[dict[str, Any]],
    handed_on: dt.date,
) -> None:
    """Settlement lines for cases that collected something; a direct payment now and then."""
    if status in ("rejected", "queued", "sent", "accepted"):
        return
    for member in members:
        principal = member["remaining_principal"]
        months = 1 if status == "paid" else rng.randint(0, 3)
        share = Decimal(1) if status in ("paid", "closed") else Decimal(rng.randint(0, 60)) / 100
        paid = (principal * share).quantize(Decimal("0.01"))
        for month in range(months):
            part = (paid / months).quantize(Decimal("0.01"))
            interest = (part * Decimal("0.03")).quantize(Decimal("0.01"))
            fees = Decimal("70.00") if month == 0 else Decimal("0.00")
            seen = handed_on + dt.timedelta(days=35 + 30 * month)
            if seen > TODAY:
                break
            line_id = f"{key}:{member['invoice_number']}:{month}"
            # 80 % booked, 3 % partly (the voucher's accounts missing), the rest waiting
            roll = rng.random()
            line_status = "booked" if roll < 0.8 else "partly_booked" if roll < 0.83 else "seen"
            principal_in = line_status != "seen"
            batch["settlements"].append(
                {
                    "agency": "agency",
                    "line_id": line_id,
                    "settlement_id": f"{key}:{month}",
                    "pipeline": "bench",
                    "case_key": key,
                    "invoice_number": member["invoice_number"],
                    "principal": part,
                    "interest": interest,
                    "fees": fees,
                    "commission": ((part + interest + fees) / 10).quantize(Decimal("0.01")),
                    "status": line_status,
                    "ledger_ref": f"pay-{line_id}" if principal_in else None,
                    "voucher_ref": f"{line_id}/voucher" if line_status == "booked" else None,
                    "currency": member["currency"],
                    "settlement_date": seen,
                    "agency_ref": f"ref-{key}",
                    "not_booked": None,
                    "run_id": "bench",
                    "seen_at": dt.datetime.combine(seen, dt.time(9), tzinfo=dt.UTC),
                    "booked_at": AT if principal_in else None,
                }
            )
            if principal_in:  # the ledger's payments export gives the booked principal back
                batch["payments"].append(
                    _payment(member, f"pay-{line_id}", part, seen, "ignored", "agency_settlement")
                )
        if rng.random() < 0.05:
            status = rng.choice(("reported", "reported", "to_report", "manual"))
            paid_on = min(TODAY, handed_on + dt.timedelta(days=20))
            half = (principal / 2).quantize(Decimal("0.01"))
            batch["payments"].append(
                _payment(member, f"p-{member['invoice_number']}", half, paid_on, status, None)
            )
        if rng.random() < 0.01:
            noted_on = min(TODAY, handed_on + dt.timedelta(days=10))
            tenth = (principal / 10).quantize(Decimal("0.01"))
            credit = _payment(member, f"cn-{member['invoice_number']}", tenth, noted_on, "reported")
            batch["payments"].append({**credit, "kind": "credit_note"})


def _payment(
    member: dict[str, Any],
    payment_id: str,
    amount: Decimal,
    booked_on: dt.date,
    status: str,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "source": "ledger",
        "payment_id": payment_id,
        "pipeline": "bench",
        "amount": amount,
        "currency": member["currency"],
        "booking_date": booked_on,
        "reference": None,
        "case_key": member["case_key"],
        "invoice_number": member["invoice_number"],
        "status": status,
        "reason": reason,
        "kind": "payment",
        "seen_at": AT,
    }


def fill(path: Path, claim_count: int) -> dict[str, int]:
    """Write the store at ``path``; how many rows went into each table."""
    store = StateStore.open(f"sqlite:///{path}")
    tables = {
        "claims": claims,
        "cases": cases,
        "settlements": settlements_seen,
        "payments": payments_seen,
        "outbox": outbox,
    }
    written = dict.fromkeys(tables, 0)
    try:
        for batch in _rows(claim_count):
            with store.begin() as conn:
                for name, rows in batch.items():
                    executemany(conn, tables[name].insert(), tables[name], rows)
                    written[name] += len(rows)
        with store.begin() as conn:
            conn.execute(
                quarantine.insert(),
                [
                    {
                        "pipeline": "bench",
                        "run_id": "bench",
                        "stream": "invoices",
                        "location": f"invoices.csv:{n}",
                        "record_id": None,
                        "reasons": "[]",
                        "created_at": AT,
                    }
                    for n in range(1000)
                ],
            )
    finally:
        store.close()
    return written


def store_path(claim_count: int) -> Path:
    directory = ROOT / "benchmarks" / "out"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"report-store-{claim_count}-v{GENERATOR_VERSION}.db"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply(fill, (partial, claim_count))
        partial.rename(path)
    return path


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run(claim_count: int) -> dict[str, Any]:
    path = store_path(claim_count)
    store = StateStore.open(f"sqlite:///{path}")
    baseline = _rss_mb()
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    rows: dict[str, int] = {}
    try:
        for name in REPORTS:
            started, started_cpu = time.perf_counter(), time.process_time()
            found = build_reports(store, (name,), Filters(), as_of=TODAY)[name]
            seconds[name] = round(time.perf_counter() - started, 2)
            cpu[name] = round(time.process_time() - started_cpu, 2)
            rows[name] = _row_count(found)
    finally:
        store.close()
    return {
        "claims": claim_count,
        "seconds": seconds,
        "total_seconds": round(sum(seconds.values()), 2),
        "cpu_seconds": cpu,
        "peak_rss_mb": _rss_mb(),
        "baseline_rss_mb": baseline,
        "result_rows": rows,
        "store_mb": round(path.stat().st_size / 2**20, 1),
    }


def _row_count(report: Any) -> int:
    """Rows a report brought back: what it holds in memory, whatever the store's size."""
    values = (getattr(report, f.name) for f in dataclasses.fields(report))
    return sum(len(v) for v in values if isinstance(v, tuple) and not _is_labels(v))


def _is_labels(value: tuple[Any, ...]) -> bool:
    return all(isinstance(item, str) for item in value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.claims)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")


if __name__ == "__main__":
    main()
