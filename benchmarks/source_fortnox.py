"""Benchmark the Fortnox source against Fortnox's documented rate limit, through the fake.

    python -m benchmarks.source_fortnox [--invoices 50000] [--rate 5] [--json]

Syncs every stream of a fake company (one customer per five invoices) through the connector's
own ``read()``, one request at a time. Fortnox lists are summaries, so a first sync costs the
list pages plus one request per record read in full. The floor is what the documented limit
(25 requests per 5 seconds = 5/s) allows for those requests, less the first (the token bucket
starts full); the connector paces itself 4 % under the limit, so ``ratio`` is at least 1.04 and
must stay ≤ 1.10. Then a sync with nothing changed: its request count must be a small fixed
number (one list request per stream), whatever the size of the ledger.
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

from claimbridge.connectors.accounting.fortnox import (
    DOCUMENTED_RATE_PER_S,
    PACED_RATE_PER_S,
    FortnoxSettings,
    FortnoxSource,
)
from claimbridge.connectors.base import ConnectorContext
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.transport.http import HttpOptions
from tests.fakes.fortnox import FortnoxFake

NOW = dt.datetime(2026, 3, 31, 9, 0)
MAX_RATIO = 1.10


def _ledger(invoices: int) -> FortnoxFake:
    fake = FortnoxFake(now=NOW - dt.timedelta(days=1))
    customer: dict[str, Any] = {}
    for index in range(invoices):
        if index % 5 == 0:
            customer = fake.add_customer(f"Kund {index} AB", Type="COMPANY", Phone1="08-123 45")
        fake.add_invoice(customer, f"{1000 + index % 900}.50")
    return fake


def _sync(
    source: FortnoxSource, cursors: dict[str, str | None]
) -> tuple[int, dict[str, str | None]]:
    records, after = 0, dict(cursors)
    for stream in source.streams():
        for page in source.read(stream, cursors.get(stream.name)):
            records += len(page.records)
            for record in page.records:
                source.normalize(stream, record)
            if page.cursor is not None:
                after[stream.name] = page.cursor
    return records, after


def run(invoices: int, *, rate: float = DOCUMENTED_RATE_PER_S) -> dict[str, Any]:
    """Sync ``invoices`` open invoices at ``rate`` requests/s (Fortnox's own by default)."""
    fake = _ledger(invoices)
    paced = rate * PACED_RATE_PER_S / DOCUMENTED_RATE_PER_S
    settings = FortnoxSettings(
        client_id=fake.client_id,
        client_secret=SecretStr(fake.client_secret),
        refresh_token=SecretStr("rt-0"),
        http=HttpOptions(rate_limit_per_s=paced),
    )
    clock = {"now": NOW}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        context = ConnectorContext(name="bench", credentials=MemoryCredentialStore())
        source = FortnoxSource(settings, context, now=lambda: clock["now"])
        started = time.perf_counter()
        records, cursors = _sync(source, {})
        wall = time.perf_counter() - started
        requests_made = fake.api_requests
        clock["now"] = NOW + dt.timedelta(hours=3)
        before = fake.api_requests
        again, _ = _sync(source, cursors)
        nochange = fake.api_requests - before
        source.close()
    floor = max(requests_made - 1, 0) / rate
    return {
        "invoices": invoices,
        "records": records,
        "requests": requests_made,
        "rate": rate,
        "wall_s": round(wall, 3),
        "floor_s": round(floor, 3),
        "ratio": round(wall / floor, 4) if floor else 0.0,
        "nochange_requests": nochange,
        "nochange_records": again,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=DOCUMENTED_RATE_PER_S)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.invoices, rate=args.rate)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    ok = result["ratio"] <= MAX_RATIO and result["nochange_requests"] <= 4
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
