"""Pipeline benchmark: normalize + wash + policy + outbox + file-drop write, one core.

    python benchmarks/pipeline.py --invoices 200000 --debtors 40000 --json

Generates a synthetic ledger (cached under benchmarks/out/), runs one full sync from the
open-items files source to the file-drop agency with a fresh SQLite state store, and prints
``{"invoices", "invoices_per_s", "peak_rss_mb", ...}``. CPU seconds are printed beside the
wall-clock ones: on a shared virtual machine they are the steadier figure. Peak RSS is the
process's high-water mark, measured after the run (the generator streams, so it does not
raise it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.generate_ledger import generate  # noqa: E402
from claimbridge.connectors.accounting.files import OpenItemsFileSource  # noqa: E402
from claimbridge.connectors.agencies.file_drop import FileDropAgency  # noqa: E402
from claimbridge.connectors.base import ConnectorContext  # noqa: E402
from claimbridge.pipeline import PipelineSpec, sync  # noqa: E402
from claimbridge.policy import PolicySettings  # noqa: E402
from claimbridge.schemas import Creditor  # noqa: E402
from claimbridge.state import StateStore  # noqa: E402

TODAY = dt.date(2026, 11, 23)


def ledger(invoices: int, debtors: int) -> Path:
    directory = ROOT / "benchmarks" / "out" / f"ledger-{invoices}-{debtors}"
    if not (directory / "invoices.csv").exists():
        directory.mkdir(parents=True, exist_ok=True)
        generate(directory, invoices=invoices, debtors=debtors, today=TODAY)
    return directory


def run(invoices: int, debtors: int, *, wash: bool = True) -> dict[str, float | int]:
    data = ledger(invoices, debtors)
    work = Path(tempfile.mkdtemp(prefix="cb-bench-"))
    try:
        source = OpenItemsFileSource(
            OpenItemsFileSource.Settings.model_validate(
                {"invoices": data / "invoices.csv", "customers": data / "customers.csv"}
            ),
            ConnectorContext(name="ledger", workdir=work, today=TODAY),
        )
        agency = FileDropAgency(
            FileDropAgency.Settings.model_validate({"directory": work / "drop"}),
            ConnectorContext(name="drop", workdir=work, today=TODAY),
        )
        spec = PipelineSpec(
            name="bench",
            source=source,
            agency=agency,
            creditor=Creditor(name="Bench AS", organization_number="923609016"),
            policy=PolicySettings(),
            wash=wash,
        )
        store = StateStore.open(f"sqlite:///{work / 'state.db'}")
        started, cpu_started = time.perf_counter(), time.process_time()
        stats = sync(spec, store, today=TODAY)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "invoices": invoices,
        "debtors": debtors,
        "wash": wash,
        "seconds": round(elapsed, 2),
        "invoices_per_s": round(invoices / elapsed),
        "cpu_seconds": round(cpu, 2),
        "invoices_per_cpu_s": round(invoices / cpu),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "cases_sent": stats.cases_sent,
        "claims_sent": stats.claims_sent,
        "quarantined": stats.quarantined,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=200_000)
    parser.add_argument("--debtors", type=int, default=None, help="default: invoices / 5")
    parser.add_argument("--no-wash", action="store_true", help="skip washing (for comparison)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.invoices, args.debtors or max(1, args.invoices // 5), wash=not args.no_wash)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>16}: {value}")


if __name__ == "__main__":
    main()
