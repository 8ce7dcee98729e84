"""Matching benchmark: N bank payments against N open claims in a fresh SQLite state store.

    python benchmarks/matching.py --sizes 100000,1000000 --json

Each size's setup and matching run in child processes of their own, so the peak RSS reported
is the matching's own high-water mark, not the setup's or the largest size's. Claims are
bulk-inserted straight into ``claims`` (five per debtor, each with a MOD10 KID); payments are
generated lazily while matching reads them: 95 % carry the right KID, 3 % quote the invoice
number in free text and pay exactly its remaining amount, 2 % can match nothing. ``seconds`` is
the matching alone (payment generation included); ``setup_seconds`` the claim insert.
The output is a list of ``{"n", "seconds", "payments_per_s", "peak_rss_mb", ...}`` and the
time ratio of the largest size to the smallest (linear would be the ratio of their sizes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stdnum import luhn  # noqa: E402

from claimbridge.matching import match_payments  # noqa: E402
from claimbridge.schemas import SourceRef  # noqa: E402
from claimbridge.schemas.payment import Payment, PaymentKind  # noqa: E402
from claimbridge.state import StateStore  # noqa: E402
from claimbridge.state.tables import claims  # noqa: E402

PIPELINE = "bench"
CLAIMS_PER_DEBTOR = 5
INSERT_BATCH = 20_000
BOOKED = dt.date(2026, 3, 2)
NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def kid(i: int) -> str:
    base = f"{i:09d}"
    return base + luhn.calc_check_digit(base)


def invoice_number(i: int) -> str:
    return f"{10_000_000 + i}"


def remaining(i: int) -> Decimal:
    """Distinct among one debtor's claims, so the amount route has one answer."""
    return Decimal(100 + (i * 37) % 9000) + Decimal(i % 100) / 100


def insert_claims(store: StateStore, n: int) -> None:
    for start in range(0, n, INSERT_BATCH):
        rows = [
            {
                "pipeline": PIPELINE,
                "invoice_number": invoice_number(i),
                "source_system": "bench",
                "source_company": "1",
                "source_record_id": invoice_number(i),
                "debtor_id": f"c{i // CLAIMS_PER_DEBTOR}",
                "debtor_key": f"k{i // CLAIMS_PER_DEBTOR}",
                "currency": "NOK",
                "original_amount": remaining(i),
                "remaining_principal": remaining(i),
                "invoice_date": dt.date(2026, 1, 1),
                "due_date": dt.date(2026, 1, 15),
                "kid": kid(i),
                "outcome": "send",
                "decision": "{}",
                "decided_on": dt.date(2026, 2, 1),
                "status": "handed_over",
                "case_key": f"case{i // CLAIMS_PER_DEBTOR}",
                "run_id": "bench",
                "updated_at": NOW,
            }
            for i in range(start, min(n, start + INSERT_BATCH))
        ]
        with store.begin() as conn:
            conn.execute(claims.insert(), rows)


def payments(n: int) -> Iterator[Payment]:
    """Trusted synthetic payments, built without validation so generating costs little."""
    for i in range(n):
        bucket = i % 100
        reference: str | None
        if bucket < 95:
            reference, amount = kid(i), remaining(i)
        elif bucket < 98:
            reference, amount = f"Faktura {invoice_number(i)}", remaining(i)
        else:
            reference, amount = "Betaling", Decimal("1.23")
        payment_id = f"bench-{i}"
        yield Payment.model_construct(
            payment_id=payment_id,
            source=SourceRef.model_construct(system="bench", company="", record_id=payment_id),
            kind=PaymentKind.BANK,
            amount=amount,
            currency="NOK",
            booking_date=BOOKED,
            reference=reference,
            payer_account=None,
            payer_name=None,
            invoice_number=None,
            message=None,
        )


def setup(n: int, database: Path) -> dict[str, Any]:
    store = StateStore.open(f"sqlite:///{database}")
    started = time.perf_counter()
    insert_claims(store, n)
    store.close()
    return {"setup_seconds": round(time.perf_counter() - started, 2)}


def match(n: int, database: Path) -> dict[str, Any]:
    store = StateStore.open(f"sqlite:///{database}")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report = match_payments(store, PIPELINE, payments(n))
    elapsed = time.perf_counter() - started
    store.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kid_share = sum(1 for i in range(n) if i % 100 < 95)
    text_share = sum(1 for i in range(n) if 95 <= i % 100 < 98)
    if report.matched != {"kid": kid_share, "invoice": text_share}:
        raise SystemExit(f"unexpected matches: {report.as_dict()}")
    return {
        "n": n,
        "seconds": round(elapsed, 2),
        "payments_per_s": round(n / elapsed),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "rss_at_start_mb": round(rss_before / 1024, 1),
        "matched": report.matched_total,
        "unmatched": report.unmatched_total,
    }


def _child(phase: str, n: int, database: Path) -> dict[str, Any]:
    """One phase in a fresh interpreter, so its peak RSS is its own."""
    command = [sys.executable, __file__, "--phase", phase, "--n", str(n), "--db", str(database)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{phase} of {n} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run(n: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="cb-bench-match-"))
    try:
        built = _child("setup", n, work / "state.db")
        return {**_child("match", n, work / "state.db"), **built}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--phase", choices=["setup", "match"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps((setup if args.phase == "setup" else match)(args.n, args.db)))
        return
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        results.append(run(n))
        if not args.json:
            print(results[-1], file=sys.stderr)
    ratio = round(results[-1]["seconds"] / results[0]["seconds"], 2) if len(results) > 1 else None
    if args.json:
        print(json.dumps({"results": results, "ratio": ratio}, indent=2))
    else:
        for row in results:
            print(
                f"{row['n']:>10,} payments  {row['seconds']:>8.2f} s  "
                f"{row['payments_per_s']:>8,}/s  peak RSS {row['peak_rss_mb']} MB"
            )
        if ratio is not None:
            print(f"time ratio largest/smallest: {ratio}")


if __name__ == "__main__":
    main()
