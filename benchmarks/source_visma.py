"""Benchmark the Visma eAccounting source against Visma's documented rate limit, through the fake.

    python -m benchmarks.source_visma [--invoices 50000] [--rate 10] [--json]

Syncs every stream of a fake company (one customer per five invoices) through the connector's
own ``read()`` at the rate Visma documents (600 requests a minute per endpoint, i.e. 10/s),
with the fake enforcing that limit with 429s. Streams are read one after another, so the floor
is the requests made, less the first of each endpoint (its token bucket starts full), divided
by the rate. Wall time must stay within 10 % of it (``ratio`` ≤ 1.10). Then a sync with
nothing changed: its request count must be a small fixed number (one per stream).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal
from typing import Any

import responses
from pydantic import SecretStr

from claimbridge.connectors.accounting.visma import (
    DOCUMENTED_RATE_PER_S,
    VismaSettings,
    VismaSource,
)
from claimbridge.connectors.base import ConnectorContext
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.transport.http import HttpOptions
from tests.fakes.visma import VismaFake

MAX_RATIO = 1.10
ENDPOINTS = 2  # /v2/customers and /v2/customerinvoices


def _ledger(invoices: int, *, enforce: bool) -> VismaFake:
    fake = VismaFake(enforce_rate_limit=enforce)
    customers = [fake.add_customer(f"Kund {i} AB") for i in range(max(1, invoices // 5))]
    for i in range(invoices):
        paid = Decimal((i % 3) * 10)
        fake.add_invoice(customers[i % len(customers)], Decimal(1000 + i % 997), paid=paid)
    fake.tick()
    return fake


def _sync(source: VismaSource, cursors: dict[str, str | None]) -> int:
    records = 0
    for stream in source.streams():
        for page in source.read(stream, cursors.get(stream.name)):
            records += len(page.records)
            if page.cursor is not None:
                cursors[stream.name] = page.cursor
    return records


def run(
    invoices: int = 50_000,
    *,
    rate_per_s: float = DOCUMENTED_RATE_PER_S,
    page_size: int = 500,
) -> dict[str, Any]:
    """Full sync then no-change sync; wall time, floor, their ratio and the no-change cost."""
    enforce = rate_per_s <= DOCUMENTED_RATE_PER_S
    fake = _ledger(invoices, enforce=enforce)
    settings = VismaSettings(
        client_id=fake.client_id,
        client_secret=SecretStr(fake.client_secret),
        refresh_token=SecretStr(fake.refresh_token),
        page_size=page_size,
        http=HttpOptions(rate_limit_per_s=rate_per_s),
    )
    context = ConnectorContext(name="bench", credentials=MemoryCredentialStore())
    cursors: dict[str, str | None] = {}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        source = VismaSource(settings, context)
        source.tokens.access_token()
        started = time.perf_counter()
        records = _sync(source, cursors)
        wall = time.perf_counter() - started
        requests_made = fake.api_requests
        fake.tick()
        before = fake.api_requests
        unchanged = _sync(source, cursors)
        nochange = fake.api_requests - before
        source.close()
    floor = max(requests_made - ENDPOINTS, 0) / rate_per_s
    return {
        "invoices": invoices,
        "records": records,
        "requests": requests_made,
        "rate_per_s": rate_per_s,
        "page_size": page_size,
        "wall_s": round(wall, 3),
        "floor_s": round(floor, 3),
        "ratio": round(wall / floor, 4) if floor else 0.0,
        "nochange_requests": nochange,
        "nochange_records": unchanged,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=DOCUMENTED_RATE_PER_S)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.invoices, rate_per_s=args.rate, page_size=args.page_size)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")
    return 0 if result["ratio"] <= MAX_RATIO and result["nochange_requests"] <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
