"""Sync a large PowerOffice Go ledger from the fake at a given pace; then a no-change sync.

``run(invoices)`` reads every stream through the connector's own ``read()`` with the client-side
rate limit on; the floor is requests ÷ rate (the time the pace alone costs), the ratio is how
close the connector comes to it. The second, incremental sync counts its requests.
"""

from __future__ import annotations

import time
from typing import Any

import responses

from tests.fakes.poweroffice import FakePowerOffice
from tests.unit.test_poweroffice import make_source

DEFAULT_RATE = 10.0  # requests per second; Go's spec documents 429s, not a number


def run(
    invoices: int = 50_000, *, rate: float = DEFAULT_RATE, page_size: int = 5000
) -> dict[str, Any]:
    go = FakePowerOffice()
    customers = max(1, invoices // 5)
    people = [go.add_customer(10000 + n) for n in range(customers)]
    for n in range(invoices):
        go.add_invoice(people[n % customers], 100000 + n)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        go.install(rsps)
        source = make_source(page_size=page_size, sleeps=[])
        source = _paced(source, rate, page_size)
        source.tokens.token()
        started = time.monotonic()
        before = go.api_requests
        cursors = {}
        for stream in source.streams():
            for page in source.read(stream, None):
                cursors[stream.name] = page.cursor
        wall = time.monotonic() - started
        full_requests = go.api_requests - before
        before = go.api_requests
        for stream in source.streams():
            for _page in source.read(stream, cursors[stream.name]):
                pass
        nochange = go.api_requests - before
    floor = max(0, full_requests - 1) / rate
    return {
        "wall_s": round(wall, 3),
        "floor_s": round(floor, 3),
        "ratio": round(wall / floor, 3) if floor else 1.0,
        "nochange_requests": nochange,
        "requests": full_requests,
    }


def _paced(source: Any, rate: float, page_size: int) -> Any:
    from claimbridge.connectors.accounting.poweroffice import PowerOfficeSettings, PowerOfficeSource

    settings = source.options.model_copy(
        update={"http": source.options.http.model_copy(update={"rate_limit_per_s": rate})}
    )
    assert isinstance(settings, PowerOfficeSettings)
    return PowerOfficeSource(settings, source.context)


if __name__ == "__main__":
    import sys

    print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
