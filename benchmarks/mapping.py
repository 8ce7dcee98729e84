"""Rates of the mapping layer: mapping apply, open-items read+normalize, file-drop write.

Run: ``.venv/bin/python benchmarks/mapping.py [rows]``. Targets (one core): apply well under
20 µs per invoice, read+map+validate well under 40 µs per row, file-drop under 15 µs per row.
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from claimbridge.connectors.accounting.files import OpenItemsFileSource, OpenItemsSettings
from claimbridge.connectors.agencies.file_drop import FileDropAgency, FileDropSettings
from claimbridge.connectors.base import ConnectorContext, Delivery
from claimbridge.mappings import load_mapping
from claimbridge.schemas import (
    Address,
    Case,
    Creditor,
    Decision,
    Outcome,
    Party,
    Phone,
    QualityReport,
    SourceRef,
    case_key,
)

HEADER = (
    "invoice_number,customer_number,invoice_date,due_date,currency,amount,remaining,kid,"
    "description,agreement_ref,order_ref,reminder1_date,reminder1_fee,reminder2_date,"
    "reminder2_fee,collection_notice_date,interest_rate,disputed,on_hold,payment_plan"
)
LINE = (
    '{n},K{n},2026-01-05,2026-01-19,NOK,"1 250,50",1250.50,'
    "0001000112,Treningsavgift januar,"
    "AVT-55,,2026-02-03,35.00,,,2026-02-20,,nei,,"
)


def report(label: str, seconds: float, count: int) -> None:
    print(f"{label:<34} {seconds / count * 1e6:8.2f} µs/row  {count / seconds:>10,.0f} rows/s")


def bench_apply(count: int) -> None:
    mapping = load_mapping("open_items_invoice")
    values = next(csv.reader([LINE.format(n=1)]))
    record = dict(zip(HEADER.split(","), values, strict=True))
    variables = {"company": "acme", "default_currency": "NOK"}
    start = time.perf_counter()
    for _ in range(count):
        mapping.apply(record, variables)
    report("mapping apply (26 fields)", time.perf_counter() - start, count)


def bench_source(workdir: Path, count: int) -> list[object]:
    path = workdir / "invoices.csv"
    lines = (LINE.format(n=n) for n in range(count))
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    source = OpenItemsFileSource(
        OpenItemsSettings(invoices=path), ConnectorContext("bench", workdir)
    )
    stream = source.streams()[0]
    start = time.perf_counter()
    claims = [
        m
        for page in source.read(stream, None)
        for r in page.records
        for m in source.normalize(stream, r)
    ]
    report("open-items read + normalize", time.perf_counter() - start, count)
    return claims


def bench_file_drop(workdir: Path, claims: list[object], count: int) -> None:
    debtor = Party(
        source=SourceRef(system="files", record_id="K1"),
        kind="person",
        name="Kari Nordmann",
        customer_number="K1",
        addresses=(Address(lines=("Storgata 1",), postal_code="0155", city="Oslo", country="NO"),),
        phones=(Phone(number="+4791234567", type="mobile", valid=True),),
    )
    creditor = Creditor(name="Acme AS", organization_number="999888777")
    decision = Decision(outcome=Outcome.SEND, decided_on=dt.date(2026, 4, 1))
    cases = [
        Case(
            case_key=case_key("acme", "K1", [claim.invoice_number]),  # type: ignore[attr-defined]
            creditor=creditor,
            debtor=debtor,
            claims=(claim,),  # type: ignore[arg-type]
            currency="NOK",
            decision=decision,
            quality=QualityReport(score=90),
        )
        for claim in claims[:1000]
    ]
    deliveries = [Delivery(f"key-{n}", cases[n % len(cases)]) for n in range(count)]
    agency = FileDropAgency(
        FileDropSettings(directory=workdir / "drop", batch_size=50_000),
        ConnectorContext("bench", workdir, today=dt.date(2026, 4, 1)),
    )
    start = time.perf_counter()
    agency.push(deliveries)
    report("file-drop write (49 columns)", time.perf_counter() - start, count)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    bench_apply(count)
    with tempfile.TemporaryDirectory() as tmp:
        claims = bench_source(Path(tmp), count)
        bench_file_drop(Path(tmp), claims, count * 4)


if __name__ == "__main__":
    main()
