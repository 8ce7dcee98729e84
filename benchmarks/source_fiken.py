"""Benchmark the Fiken source against Fiken's documented rate limit, through the fake.

    python -m benchmarks.source_fiken [--invoices 50000] [--rate 4] [--json]

Syncs every stream of a fake company (one customer per five invoices) through the connector's
own ``read()``, one request at a time, at the rate Fiken documents (4 requests per second).
The floor is what the limit allows: the requests made, less the first (the token bucket
starts full), divided by the rate. Wall time must stay within 10 % of it (``ratio`` ≤ 1.10).
Then a sync with nothing changed: its request count must be a small fixed number (one per
stream), whatever the size of the ledger.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from typing import Any

import responses
from pydantic import SecretStr

from claimbridge.connectors.accounting.fiken import (
    DOCUMENTED_RATE_PER_S,
    FikenSettings,
    FikenSource,
)
from claimbridge.connectors.base import ConnectorContext
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.transport.http import HttpOptions
from tests.fakes.fiken import FikenFake

TODAY = dt.date(2026, 3, 31)
MAX_RATIO = 1.10


def _ledger(invoices: int) -> FikenFake:
    fake = FikenFake(today=TODAY)
    old = TODAY - dt.timedelta(days=20)
    customers = [
        fake.add_customer(f"Customer {i}", lastModifiedDate=old.isoformat())
        for i in range(max(1, invoices // 5))
    ]
    for i in range(invoices):
        fake.add_invoice(
            customers[i % len(customers)], 10000 + i, paid=(i % 3) * 1000, modified=old
        )
    return fake


def _sync(source: FikenSource, cursors: dict[str, str | None]) -> int:
    records = 0
    for stream in source.streams():
        for page in source.read(stream, cursors.get(stream.name)):
            records += len(page.records)
            if page.cursor is not None:
                cursors[stream.name] = page.cursor
    return records


def run(invoices: int = 50_000, *, rate_per_s: float = DOCUMENTED_RATE_PER_S) -> dict[str, Any]:
    """Full sync then no-change sync; wall time, floor, their ratio and the no-change cost."""
    fake = _ledger(invoices)
    settings = FikenSettings(
        company_slug=fake.slug,
        client_id=fake.client_id,
        client_secret=SecretStr(fake.client_secret),
        refresh_token=SecretStr(fake.refresh_token),
        http=HttpOptions(rate_limit_per_s=rate_per_s),
    )
    context = ConnectorContext(name="bench", today=TODAY, credentials=MemoryCredentialStore())
    cursors: dict[str, str | None] = {}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        source = FikenSource(settings, context)
        started = time.perf_counter()
        records = _sync(source, cursors)
        wall = time.perf_counter() - started
        requests_made = fake.api_requests
        before = fake.api_requests
        unchanged = _sync(source, cursors)
        nochange = fake.api_requests - before
        source.close()
    floor = max(requests_made - 1, 0) / rate_per_s
    return {
        "invoices": invoices,
        "records": records,
        "requests": requests_made,
        "rate_per_s": rate_per_s,
        "wall_s": round(wall, 3),
        "floor_s": round(floor, 3),
        "ratio": round(wall / floor, 4) if floor else 0.0,
        "nochange_requests": nochange,
        "nochange_records": unchanged,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=DOCUMENTED_RATE_PER_S)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.invoices, rate_per_s=args.rate)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")
    return 0 if result["ratio"] <= MAX_RATIO and result["nochange_requests"] <= 4 else 1


if __name__ == "__main__":
    sys.exit(main())
