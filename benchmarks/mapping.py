"""Per-stage cost of the mapping layer: reading, mapping, validating, file-drop rows and writing.

    python benchmarks/mapping.py [--invoices 50000] [--debtors N] [--repeat 3] [--json]

Runs on the synthetic ledger of ``benchmarks/generate_ledger.py`` (cached under
``benchmarks/out/``, shared with ``benchmarks/pipeline.py``). Each stage runs ``--repeat``
times and the best run counts, so a busy machine disturbs the numbers less. Stages:

- ``csv_read``: ``TabularFile.rows`` over ``invoices.csv``
- ``source_read``: ``OpenItemsFileSource.read`` (pages of raw records)
- ``invoice_apply`` / ``customer_apply``: ``Mapping.apply`` alone
- ``claim_validate``: ``Claim.model_validate`` of the mapped dicts
- ``invoice_normalize`` / ``customer_normalize``: ``source.normalize`` (map + validate)
- ``file_drop_rows``: ``FileProfile.rows`` over the cases (per claim row)
- ``file_drop_push``: ``FileDropAgency.push``: rows, CSV, fsync and rename (per claim row)
- ``customer_wash``: ``Washer.wash`` of each customer, every cache emptied first (per debtor)
- ``policy_decide``: ``policy.decide_claim`` of each claim (per claim)

``named_stages`` adds them up per invoice — read, normalize, wash (its share per invoice),
decide, file-drop write — the pipeline's own work without the state store, and
``named_stages_invoices_per_s`` is what one core would do if that were all there is.

Targets (one core): ``invoice_normalize`` under 15 µs, ``file_drop_push`` under 8 µs per row.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.generate_ledger import generate  # noqa: E402
from claimbridge.connectors.accounting._tabular import TabularFile  # noqa: E402
from claimbridge.connectors.accounting.files import OpenItemsFileSource  # noqa: E402
from claimbridge.connectors.agencies.file_drop import FileDropAgency, load_profile  # noqa: E402
from claimbridge.connectors.base import ConnectorContext, Delivery, RawRecord  # noqa: E402
from claimbridge.errors import RecordError  # noqa: E402
from claimbridge.mappings import load_mapping  # noqa: E402
from claimbridge.policy import PolicySettings, decide_claim  # noqa: E402
from claimbridge.quality import Washer, bank, email, ids, phone  # noqa: E402
from claimbridge.schemas import (  # noqa: E402
    Case,
    Claim,
    Creditor,
    Decision,
    Outcome,
    Party,
    QualityReport,
    case_key,
)

TODAY = dt.date(2026, 11, 23)


def ledger(invoices: int, debtors: int) -> Path:
    directory = ROOT / "benchmarks" / "out" / f"ledger-{invoices}-{debtors}"
    if not (directory / "invoices.csv").exists():
        directory.mkdir(parents=True, exist_ok=True)
        generate(directory, invoices=invoices, debtors=debtors, today=TODAY)
    return directory


def best(run: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs, in seconds (garbage collection off while timing)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


def records(source: OpenItemsFileSource, stream_name: str) -> list[RawRecord]:
    stream = next(s for s in source.streams() if s.name == stream_name)
    return [r for page in source.read(stream, None) for r in page.records]


def fresh_washer() -> Washer:
    """A washer that remembers nothing: each party costs what a first sight costs."""
    for cached in (
        ids.normalize_id,
        phone.normalize_phone,
        phone.split_phones,
        email.normalize_email,
        email.split_emails,
        bank.normalize_no_account,
        bank.normalize_iban,
    ):
        cached.cache_clear()
    return Washer(cache_size=1)


def normalize_all(
    source: OpenItemsFileSource, stream_name: str, raw: Sequence[RawRecord]
) -> list[Any]:
    stream = next(s for s in source.streams() if s.name == stream_name)
    out: list[Any] = []
    for record in raw:
        with contextlib.suppress(RecordError):
            out.extend(source.normalize(stream, record))
    return out


def build_cases(parties: list[Party], claims: list[Claim]) -> list[Delivery]:
    """One case per debtor and currency, as the pipeline groups them (no policy, no washing)."""
    by_id = {p.source.record_id: p for p in parties}
    groups: dict[tuple[str, str], list[Claim]] = defaultdict(list)
    for claim in claims:
        if claim.debtor_id in by_id:
            groups[(claim.debtor_id, claim.currency)].append(claim)
    creditor = Creditor(name="Bench AS", organization_number="923609016")
    decision = Decision(outcome=Outcome.SEND, decided_on=TODAY)
    quality = QualityReport(score=80)
    deliveries = []
    for (debtor_id, currency), grouped in groups.items():
        debtor = by_id[debtor_id]
        key = case_key("bench", debtor.debtor_key(), [c.invoice_number for c in grouped])
        case = Case(
            case_key=key,
            creditor=creditor,
            debtor=debtor,
            claims=tuple(grouped),
            currency=currency,
            decision=decision,
            quality=quality,
        )
        deliveries.append(Delivery(f"bench-{key}", case))
    return deliveries


def measure(invoices: int, debtors: int, repeat: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="cb-mapping-"))
    try:
        return _measure(ledger(invoices, debtors), work, repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(data: Path, work: Path, repeat: int) -> dict[str, Any]:
    source = OpenItemsFileSource(
        OpenItemsFileSource.Settings.model_validate(
            {"invoices": data / "invoices.csv", "customers": data / "customers.csv"}
        ),
        ConnectorContext(name="ledger", workdir=work, today=TODAY),
    )
    variables = {"company": "", "default_currency": "NOK"}
    invoice_rows = records(source, "invoices")
    customer_rows = records(source, "customers")
    invoice_mapping = load_mapping("open_items_invoice")
    customer_mapping = load_mapping("open_items_customer")
    mapped = [invoice_mapping.apply(r.data, variables) for r in invoice_rows]
    claims: list[Claim] = normalize_all(source, "invoices", invoice_rows)
    parties: list[Party] = normalize_all(source, "customers", customer_rows)
    deliveries = build_cases(parties, claims)
    profile = load_profile("generic_csv")
    rows = sum(len(d.case.claims) for d in deliveries)
    pushes = iter(range(repeat))

    def push() -> None:
        agency = FileDropAgency(
            FileDropAgency.Settings.model_validate(
                {"directory": work / f"drop-{next(pushes)}", "batch_size": len(deliveries)}
            ),
            ConnectorContext(name="drop", workdir=work, today=TODAY),
        )
        agency.push(deliveries)

    def each(items: Sequence[Any], fn: Callable[[Any], object]) -> Callable[[], None]:
        def run() -> None:
            for item in items:
                fn(item)

        return run

    settings = PolicySettings()

    def decide(claim: Claim) -> object:
        return decide_claim(claim, today=TODAY, settings=settings, quality_score=80)

    def wash_all(items: Sequence[Party]) -> None:
        washer = fresh_washer()
        for party in items:
            washer.wash(party)

    csv_file = TabularFile(data / "invoices.csv", format="csv")
    stages: dict[str, tuple[float, int]] = {
        "csv_read": (best(lambda: sum(1 for _ in csv_file.rows()), repeat), len(invoice_rows)),
        "source_read": (best(lambda: records(source, "invoices"), repeat), len(invoice_rows)),
        "invoice_apply": (
            best(each(invoice_rows, lambda r: invoice_mapping.apply(r.data, variables)), repeat),
            len(invoice_rows),
        ),
        "claim_validate": (best(each(mapped, Claim.model_validate), repeat), len(mapped)),
        "invoice_normalize": (
            best(lambda: normalize_all(source, "invoices", invoice_rows), repeat),
            len(invoice_rows),
        ),
        "customer_apply": (
            best(each(customer_rows, lambda r: customer_mapping.apply(r.data, variables)), repeat),
            len(customer_rows),
        ),
        "customer_normalize": (
            best(lambda: normalize_all(source, "customers", customer_rows), repeat),
            len(customer_rows),
        ),
        "file_drop_rows": (
            best(each(deliveries, lambda d: sum(1 for _ in profile.rows(d))), repeat),
            rows,
        ),
        "file_drop_push": (best(push, repeat), rows),
        "customer_wash": (best(lambda: wash_all(parties), repeat), len(parties)),
        "policy_decide": (best(each(claims, decide), repeat), len(claims)),
    }
    micros = {k: s / n * 1e6 for k, (s, n) in stages.items()}
    per_debtor = len(parties) / len(invoice_rows)
    named = (
        micros["source_read"]
        + micros["invoice_normalize"]
        + (micros["customer_normalize"] + micros["customer_wash"]) * per_debtor
        + micros["policy_decide"]
        + micros["file_drop_push"]
    )
    return {
        "ledger": data.name,
        "repeat": repeat,
        "stages_us_per_row": {k: round(v, 2) for k, v in micros.items()},
        "rows": {k: n for k, (_, n) in stages.items()},
        "named_stages_us_per_invoice": round(named, 1),
        "named_stages_invoices_per_s": round(1e6 / named),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--debtors", type=int, default=None, help="default: invoices / 5")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.invoices, args.debtors or max(1, args.invoices // 5), args.repeat)
    if args.json:
        print(json.dumps(result))
        return
    for stage, micros in result["stages_us_per_row"].items():
        count = result["rows"][stage]
        print(f"{stage:<20} {micros:8.2f} µs/row  {1e6 / micros:>10,.0f} rows/s  ({count} rows)")
    print(
        f"{'named_stages':<20} {result['named_stages_us_per_invoice']:8.2f} µs/invoice "
        f"{result['named_stages_invoices_per_s']:>10,} invoices/s"
    )


if __name__ == "__main__":
    main()
