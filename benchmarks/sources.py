"""Source connector benchmark: a full sync from a vendor fake at the vendor's rate limit.

    python benchmarks/sources.py --connector tripletex --invoices 50000 --json

prints ``{"wall_s", "floor_s", "ratio", "nochange_requests"}``: the wall time of reading the
whole fake ledger through the connector, the floor its documented rate limit sets (pages ÷
allowed requests per second), their ratio (target ≤ 1.10), and how many requests a following
no-change incremental sync makes. Each connector's harness lives in
``benchmarks/source_<name>.py`` and exposes ``run(invoices: int) -> dict``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def available() -> list[str]:
    return sorted(p.stem.removeprefix("source_") for p in Path(__file__).parent.glob("source_*.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connector", required=True, choices=available())
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    module = importlib.import_module(f"benchmarks.source_{args.connector}")
    result = module.run(args.invoices)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")


if __name__ == "__main__":
    main()
