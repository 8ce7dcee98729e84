"""Benchmark: a Tripletex sync paced at the rate limit, and what a sync with no changes costs.

A full sync of ``invoices`` invoices (and one customer per five invoices) runs through the
connector's own ``read()`` against the in-memory fake of the API (``tests/fakes/tripletex.py``)
at ``rate`` requests per second. The floor is the time the rate limit alone imposes (requests
after the first, divided by the rate); ``ratio`` = wall / floor must stay ≤ 1.10, i.e. the
connector's own work hides inside the waits. Then an incremental sync with nothing changed
counts its requests, which must not grow with the ledger.

    python -m benchmarks.source_tripletex 50000          # at the default 5 requests/s
    python -m benchmarks.source_tripletex 5000 --rate 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from typing import Any

import responses

from claimbridge.connectors.accounting.tripletex import (
    DEFAULT_RATE_PER_S,
    TripletexSettings,
    TripletexSource,
)
from claimbridge.connectors.base import ConnectorContext
from tests.fakes.tripletex import BASE_URL, CONSUMER_TOKEN, EMPLOYEE_TOKEN, FakeTripletex

TODAY = dt.date(2026, 3, 31)
PAGE_SIZE = 1000


def _ledger(invoices: int) -> FakeTripletex:
    fake = FakeTripletex(today=TODAY, rate_limit=10**9)
    customers = max(1, invoices // 5)
    for cid in range(1, customers + 1):
        fake.add_customer(cid)
    for n in range(1, invoices + 1):
        fake.add_invoice(n, customer=1 + n % customers)
    return fake


def run(invoices: int = 50_000, rate: float = DEFAULT_RATE_PER_S) -> dict[str, Any]:
    fake = _ledger(invoices)
    settings = TripletexSettings(
        consumer_token=CONSUMER_TOKEN,
        employee_token=EMPLOYEE_TOKEN,
        base_url=BASE_URL,
        page_size=PAGE_SIZE,
        requests_per_second=rate,
    )
    now = dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC)
    source = TripletexSource(settings, ConnectorContext(name="bench", today=TODAY), now=lambda: now)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        started = time.perf_counter()
        cursors: dict[str, str | None] = {}
        records = 0
        for stream in source.streams():
            for page in source.read(stream, None):
                records += len(page.records)
                cursors[stream.name] = page.cursor or cursors.get(stream.name)
        wall = time.perf_counter() - started
        full_requests = len(fake.calls)
        fake.calls.clear()
        for stream in source.streams():
            for _ in source.read(stream, cursors[stream.name]):
                pass
        nochange = len(fake.calls)
    floor = (full_requests - 1) / rate
    return {
        "invoices": invoices,
        "records": records,
        "requests": full_requests,
        "rate_per_s": rate,
        "wall_s": round(wall, 3),
        "floor_s": round(floor, 3),
        "ratio": round(wall / floor, 3) if floor else 0.0,
        "nochange_requests": nochange,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("invoices", type=int, nargs="?", default=50_000)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE_PER_S)
    args = parser.parse_args()
    print(json.dumps(run(args.invoices, args.rate), indent=2))


if __name__ == "__main__":
    main()
