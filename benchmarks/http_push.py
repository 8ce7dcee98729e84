"""HTTP push benchmark: cases per second to the sandbox agency over loopback.

    python benchmarks/http_push.py --cases 10000 --json

Starts the sandbox agency in this process (its own SQLite store in a temporary directory),
pushes N distinct cases through ``SandboxAgency.push`` in the connector's batches (the same
call the delivery stage makes), and prints ``{"cases", "seconds", "cases_per_s", "batch_size"}``.
Both ends share the one machine, so this measures the whole path: JSON, HTTP, validation and
the agency's own writes.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from claimbridge.connectors.agencies.sandbox import SandboxAgency  # noqa: E402
from claimbridge.connectors.base import ConnectorContext, Delivery  # noqa: E402
from claimbridge.grouping import idempotency_key  # noqa: E402
from claimbridge.sandbox.server import SandboxServer  # noqa: E402
from tests.factories import make_case, make_claim, make_party  # noqa: E402


def cases(n: int) -> list[Delivery]:
    deliveries = []
    for i in range(n):
        party = make_party(customer_number=str(100_000 + i))
        case = make_case(
            debtor=party, claims=(make_claim(str(500_000 + i), debtor_id=party.customer_number),)
        )
        deliveries.append(Delivery(idempotency_key("sandbox", case.case_key), case))
    return deliveries


def run(n: int, batch_size: int = 200) -> dict[str, float | int]:
    token = secrets.token_urlsafe(24)
    work = Path(tempfile.mkdtemp(prefix="cb-http-bench-"))
    deliveries = cases(n)
    try:
        with SandboxServer(token, db_path=work / "agency.db") as server:
            agency = SandboxAgency(
                SandboxAgency.Settings.model_validate(
                    {"url": server.url, "token": token, "batch_size": batch_size}
                ),
                ConnectorContext(name="sandbox"),
            )
            started = time.perf_counter()
            accepted = 0
            for start in range(0, n, batch_size):
                outcomes = agency.push(deliveries[start : start + batch_size])
                accepted += sum(o.status.value == "accepted" for o in outcomes)
            elapsed = time.perf_counter() - started
            agency.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "cases": n,
        "accepted": accepted,
        "batch_size": batch_size,
        "seconds": round(elapsed, 2),
        "cases_per_s": round(n / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.cases, args.batch_size)
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
