"""Synthetic open-items ledgers at scale, for the pipeline benchmarks.

    python benchmarks/generate_ledger.py --invoices 200000 --debtors 40000 --out DIR

Writes ``customers.csv`` and ``invoices.csv`` in the same format, and with the same mix, as the
demo's sample ledger (the rows come from ``claimbridge.sandbox.rows``), streaming row by row so
memory stays flat whatever the size. Names, addresses and phones come from a pool of a few
thousand customer records reused cyclically; what makes a debtor a debtor (customer number,
organization number, fødselsnummer) is unique per debtor, so grouping behaves as in a real
ledger. Invoices land on random debtors, not sorted by customer.
"""

from __future__ import annotations

import random
import time
from bisect import bisect
from collections.abc import Iterator
from datetime import date, datetime
from math import gcd
from pathlib import Path

import click

from claimbridge.errors import UsageError
from claimbridge.sandbox import fakes, names
from claimbridge.sandbox.rows import (
    CUSTOMER_COLUMNS,
    INVOICE_COLUMNS,
    Calendar,
    Category,
    Trait,
    customer_row,
    invoice_row,
    plan_timeline,
    write_csv,
)

__all__ = ["generate"]

# Share of invoices per category: most go to collection today, the rest wait for one reason.
_MIX: tuple[tuple[Category, float], ...] = (
    (Category.DUE, 70),
    (Category.NOT_YET_DUE, 8),
    (Category.NOTICE_PENDING, 6),
    (Category.NO_NOTICE, 3),
    (Category.PAID, 7),
    (Category.BELOW_MINIMUM, 2),
    (Category.DISPUTED, 1),
    (Category.ON_HOLD, 1),
    (Category.PAYMENT_PLAN, 2),
)
_CATEGORIES = tuple(category for category, _ in _MIX)
_CUM_WEIGHTS = tuple(sum(weight for _, weight in _MIX[: i + 1]) for i in range(len(_MIX)))
_TOTAL_WEIGHT = _CUM_WEIGHTS[-1]

_POOL_SIZE = 5_000  # distinct name/address records; fødselsnumre stay unique up to 50x this
_COMPANY_SHARE = 0.2
_PERSON_ISSUES = (
    Trait.INVALID_PHONE,
    Trait.MALFORMED_EMAIL,
    Trait.EMAIL_TYPO,
    Trait.MISSING_ADDRESS,
    Trait.UNKNOWN_ADDRESS,
    Trait.PROTECTED_ADDRESS,
)
_PERSON_ISSUE_SHARE = 0.04
_FIRST_CUSTOMER = 100_001
_FIRST_INVOICE = 10_000_001
_ORGNR_BASE = 80_000_000

_COLUMN = {name: index for index, name in enumerate(CUSTOMER_COLUMNS)}
_ORG, _NID, _BIRTH = _COLUMN["organization_number"], _COLUMN["national_id"], _COLUMN["birth_date"]


def generate(
    directory: Path, *, invoices: int, debtors: int, today: date, seed: int = 1
) -> tuple[Path, Path]:
    """Write ``customers.csv`` (``debtors`` rows) and ``invoices.csv`` (``invoices`` rows)."""
    if debtors < 1 or invoices < 0:
        raise UsageError(f"need at least one debtor and no negative count (got {debtors=})")
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    customers_path = directory / "customers.csv"
    invoices_path = directory / "invoices.csv"
    pool = _customer_pool(rng, min(debtors, _POOL_SIZE))
    write_csv(customers_path, CUSTOMER_COLUMNS, _customers(pool, debtors))
    write_csv(invoices_path, INVOICE_COLUMNS, _invoices(rng, Calendar(today), invoices, debtors))
    return customers_path, invoices_path


def _customer_pool(rng: random.Random, size: int) -> list[tuple[list[str], bool]]:
    """Template records, each with whether its ids must be kept as they are (a flawed org
    number stays flawed). About 4 % of persons and some companies have a contact-data flaw."""
    pool = []
    for serial in range(size):
        company = rng.random() < _COMPANY_SHARE
        trait: Trait | None = None
        if company:
            roll = rng.random()
            trait = Trait.BAD_ORGNR if roll < 0.02 else Trait.CONTACT_PERSON if roll < 0.1 else None
        elif rng.random() < _PERSON_ISSUE_SHARE:
            trait = _PERSON_ISSUES[serial % len(_PERSON_ISSUES)]
        orgnr = fakes.orgnr_for_base(_ORGNR_BASE - 2 - 2 * serial) if company else ""
        orgnr = orgnr or fakes.orgnr_for_base(_ORGNR_BASE - 1 - 2 * serial) or ""
        row = customer_row(
            rng, "", company=company, trait=trait, organization_number=orgnr, serial=serial
        )
        pool.append((row, trait is Trait.BAD_ORGNR))
    return pool


def _customers(pool: list[tuple[list[str], bool]], debtors: int) -> Iterator[list[str]]:
    """Debtor *i* is pool record ``i % len(pool)`` with its own customer number and ids."""
    size = len(pool)
    for index in range(debtors):
        template, keep_ids = pool[index % size]
        row = template.copy()
        row[0] = str(_FIRST_CUSTOMER + index)
        if row[_ORG] and not keep_ids:
            base = _ORGNR_BASE + 2 * index
            row[_ORG] = fakes.orgnr_for_base(base) or fakes.orgnr_for_base(base + 1) or ""
        elif row[_NID]:
            row[_NID] = _unique_national_id(row, block=index // size)
        yield row


def _unique_national_id(row: list[str], *, block: int) -> str:
    """Same birth date and gender as the pool record, individual number from ``block``.

    Unique while ``block`` < 50; beyond that the debtor count exceeds what the pool allows and
    numbers repeat. Blank (no id, grouped by customer number) in the rare case the block has no
    number with valid check digits.
    """
    birth = date.fromisoformat(row[_BIRTH])
    male = int(row[_NID][8]) % 2 == 1
    return fakes.fodselsnummer_in_block(birth, block, male=male) or ""


def _invoices(
    rng: random.Random, calendar: Calendar, count: int, debtors: int
) -> Iterator[list[str]]:
    """The first ``debtors`` invoices visit every debtor once in a scrambled order (an affine
    permutation, no memory); the rest land on debtors at random."""
    stride = next(p for p in range(7_919, 7_919 + debtors + 2) if gcd(p, debtors) == 1)
    services = names.SERVICES
    for index in range(count):
        if index < debtors:
            debtor = (stride * index + 12_345) % debtors
        else:
            debtor = int(rng.random() * debtors)
        category = _CATEGORIES[bisect(_CUM_WEIGHTS, rng.random() * _TOTAL_WEIGHT)]
        invoice_number = _FIRST_INVOICE + index
        customer_number = _FIRST_CUSTOMER + debtor
        yield invoice_row(
            rng,
            calendar,
            invoice_number=str(invoice_number),
            customer_number=str(customer_number),
            kid=fakes.fast_kid(customer_number, invoice_number),
            category=category,
            timeline=plan_timeline(rng, category),
            service=services[debtor % len(services)],
            agreement_ref=f"AVT-{2015 + debtor % 10}-{debtor:07d}",
        )


@click.command()
@click.option("--invoices", type=click.IntRange(min=0), required=True, help="Invoice rows.")
@click.option("--debtors", type=click.IntRange(min=1), required=True, help="Customer rows.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for customers.csv and invoices.csv.",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The date the ledger is as of (default: today).",
)
@click.option("--seed", type=int, default=1, show_default=True)
def main(invoices: int, debtors: int, out: Path, today: datetime | None, seed: int) -> None:
    """Write a synthetic open-items ledger for the benchmarks."""
    as_of = today.date() if today is not None else date.today()
    started = time.perf_counter()
    generate(out, invoices=invoices, debtors=debtors, today=as_of, seed=seed)
    elapsed = time.perf_counter() - started
    click.echo(
        f"wrote {debtors} customers and {invoices} invoices to {out} in {elapsed:.2f} s "
        f"({invoices / elapsed:,.0f} invoice rows/s)",
        err=True,
    )


if __name__ == "__main__":
    main()
