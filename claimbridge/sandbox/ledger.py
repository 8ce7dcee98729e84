"""The demo's sample ledger: open items of a Norwegian electricity and telecom supplier.

``generate_sample_ledger`` writes ``customers.csv`` and ``invoices.csv`` in the open-items export
format, with a mix chosen to exercise every rule of the collection policy and every check of the
washer: most invoices are ready for collection today, the rest are each held back for one clear
reason. The returned ``LedgerSummary`` says which is which, computed from the same plan that
wrote the files, so the demo and the end-to-end tests can assert against it without
re-implementing the policy.

Same ``seed`` and ``today`` give byte-identical files.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from claimbridge.errors import UsageError
from claimbridge.sandbox import fakes, names
from claimbridge.sandbox.rows import (
    COMPANY_TRAITS,
    CUSTOMER_COLUMNS,
    INVOICE_COLUMNS,
    Calendar,
    Category,
    Timeline,
    Trait,
    customer_row,
    invoice_row,
    plan_timeline,
    write_csv,
)

__all__ = [
    "MIN_SAMPLE_CUSTOMERS",
    "Category",
    "LedgerSummary",
    "Trait",
    "generate_sample_ledger",
]

MIN_SAMPLE_CUSTOMERS = 40

# Customers whose records exercise the washer and the grouping; each gets collectable invoices.
_REQUIRED_TRAITS: tuple[Trait, ...] = (
    Trait.SHARED_ORGNR,
    Trait.SHARED_ORGNR,
    Trait.CONTACT_PERSON,
    Trait.BAD_ORGNR,
    Trait.PROTECTED_ADDRESS,
    Trait.UNKNOWN_ADDRESS,
    Trait.MISSING_ADDRESS,
    Trait.INVALID_PHONE,
    Trait.MALFORMED_EMAIL,
    Trait.EMAIL_TYPO,
    Trait.UNREACHABLE,
)
# Repeated for larger ledgers so that 10–15 % of customers have bad or missing contact data.
_EXTRA_ISSUES: tuple[Trait, ...] = (
    Trait.INVALID_PHONE,
    Trait.MALFORMED_EMAIL,
    Trait.EMAIL_TYPO,
    Trait.MISSING_ADDRESS,
    Trait.UNKNOWN_ADDRESS,
)
_CONTACT_ISSUE_SHARE = 0.12

# Invoices held back for one reason each, per 60 customers (at least one of each).
_HELD_BACK_PER_60: tuple[tuple[Category, int], ...] = (
    (Category.NOT_YET_DUE, 4),
    (Category.NOTICE_PENDING, 3),
    (Category.NO_NOTICE, 2),
    (Category.PAID, 3),
    (Category.BELOW_MINIMUM, 2),
    (Category.DISPUTED, 1),
    (Category.ON_HOLD, 1),
    (Category.PAYMENT_PLAN, 1),
)
_MULTI_INVOICE_SHARE = 0.25

_FIRST_CUSTOMER = 10_001
_FIRST_INVOICE = 100_001
_ORGNR_BASE = 91_234_000


@dataclass(frozen=True)
class LedgerSummary:
    """What was written, and what the policy should do with it today."""

    directory: Path
    customers_path: Path
    invoices_path: Path
    customer_count: int
    invoice_count: int
    expected_due: tuple[str, ...]
    """Invoice numbers to be sent today: overdue, notice deadline passed, >= 100 NOK, not
    disputed / on hold / on a payment plan, and the debtor reachable by some channel. (The
    unreachable debtor's invoice passes a policy without a quality minimum; the agency is
    what turns it away.)"""
    expected_not_due: tuple[str, ...]
    expected_debtors: int
    """Distinct debtors among ``expected_due`` (one case each when grouping by debtor)."""
    categories: Mapping[str, Category] = field(default_factory=dict)
    """Invoice number → why it is or is not due."""
    traits: Mapping[str, Trait] = field(default_factory=dict)
    """Customer number → the deliberate quirk of that record (only customers that have one)."""

    def invoices_in(self, category: Category) -> tuple[str, ...]:
        return tuple(number for number, cat in self.categories.items() if cat is category)

    def customers_with(self, trait: Trait) -> tuple[str, ...]:
        return tuple(number for number, t in self.traits.items() if t is trait)


@dataclass(slots=True)
class _CustomerPlan:
    number: str
    company: bool
    trait: Trait | None
    categories: list[Category]
    organization_number: str = ""
    service: str = ""
    agreement_ref: str = ""


@dataclass(frozen=True, slots=True)
class _InvoicePlan:
    customer: _CustomerPlan
    category: Category
    timeline: Timeline


def generate_sample_ledger(
    directory: Path, *, today: date, customers: int = 60, seed: int = 7
) -> LedgerSummary:
    """Write ``customers.csv`` and ``invoices.csv`` into ``directory`` (created if missing)."""
    if customers < MIN_SAMPLE_CUSTOMERS:
        raise UsageError(
            f"the sample ledger needs at least {MIN_SAMPLE_CUSTOMERS} customers to include "
            f"every case it demonstrates (asked for {customers})"
        )
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not secrets
    calendar = Calendar(today)
    plans = _plan_customers(rng, customers)
    invoices = _plan_invoices(rng, plans)

    directory.mkdir(parents=True, exist_ok=True)
    customers_path = directory / "customers.csv"
    invoices_path = directory / "invoices.csv"
    write_csv(
        customers_path,
        CUSTOMER_COLUMNS,
        (
            customer_row(
                rng,
                plan.number,
                company=plan.company,
                trait=plan.trait,
                organization_number=plan.organization_number,
                serial=index,
            )
            for index, plan in enumerate(plans)
        ),
    )
    categories: dict[str, Category] = {}
    rows = []
    for position, item in enumerate(invoices):
        number = str(_FIRST_INVOICE + position)
        categories[number] = item.category
        rows.append(
            invoice_row(
                rng,
                calendar,
                invoice_number=number,
                customer_number=item.customer.number,
                kid=fakes.kid_for(item.customer.number, number),
                category=item.category,
                timeline=item.timeline,
                service=item.customer.service,
                agreement_ref=item.customer.agreement_ref,
            )
        )
    write_csv(invoices_path, INVOICE_COLUMNS, rows)

    due = tuple(number for number, cat in categories.items() if cat is Category.DUE)
    debtors = {_debtor_key(item.customer) for item in invoices if item.category is Category.DUE}
    return LedgerSummary(
        directory=directory,
        customers_path=customers_path,
        invoices_path=invoices_path,
        customer_count=len(plans),
        invoice_count=len(rows),
        expected_due=due,
        expected_not_due=tuple(n for n, cat in categories.items() if cat is not Category.DUE),
        expected_debtors=len(debtors),
        categories=categories,
        traits={plan.number: plan.trait for plan in plans if plan.trait is not None},
    )


def _plan_customers(rng: random.Random, count: int) -> list[_CustomerPlan]:
    """Who the customers are, which carry a quirk, and what each of their invoices should be."""
    issues = max(0, round(count * _CONTACT_ISSUE_SHARE) - _issue_count(_REQUIRED_TRAITS))
    traits = [*_REQUIRED_TRAITS, *(_EXTRA_ISSUES[i % len(_EXTRA_ISSUES)] for i in range(issues))]
    order = list(range(count))
    rng.shuffle(order)  # quirky customers land anywhere in the customer list
    trait_of: dict[int, Trait] = dict(zip(order, traits, strict=False))
    ordinary = order[len(traits) :]
    multi = set(ordinary[: round(len(ordinary) * _MULTI_INVOICE_SHARE)])
    singles = ordinary[len(multi) :]
    held_back = [
        category
        for category, per_60 in _HELD_BACK_PER_60
        for _ in range(max(1, round(per_60 * count / 60)))
    ]
    if len(held_back) > len(singles):  # pragma: no cover - guarded by MIN_SAMPLE_CUSTOMERS
        raise AssertionError("not enough single-invoice customers for the held-back mix")
    held_back_of = dict(zip(singles, held_back, strict=False))

    plans: list[_CustomerPlan] = []
    shared_orgnr = ""
    for index in range(count):
        trait = trait_of.get(index)
        company = trait in COMPANY_TRAITS or (trait is None and rng.random() < 0.2)
        if trait is Trait.UNREACHABLE:
            categories = [Category.UNREACHABLE]
        elif trait is not None:
            categories = [Category.DUE] * (2 if trait is Trait.SHARED_ORGNR else 1)
        elif index in multi:
            categories = [Category.DUE] * rng.randint(2, 4)
            if rng.random() < 0.25:
                categories[-1] = Category.NOT_YET_DUE  # this month's bill, not due yet
        else:
            categories = [held_back_of.get(index, Category.DUE)]
        number = str(_FIRST_CUSTOMER + index)
        orgnr = _orgnr(index) if company else ""
        if trait is Trait.SHARED_ORGNR:
            shared_orgnr = shared_orgnr or orgnr
            orgnr = shared_orgnr
        service = rng.choice(names.SERVICES)
        agreement = (
            f"Målepunkt 707057500{rng.randrange(10**9):09d}"
            if service in {"Strøm", "Nettleie", "Fastpris strøm"}
            else f"AVT-{rng.randrange(2015, 2025)}-{rng.randrange(10**6):06d}"
        )
        plans.append(_CustomerPlan(number, company, trait, categories, orgnr, service, agreement))
    return plans


def _issue_count(traits: tuple[Trait, ...]) -> int:
    return sum(t not in {Trait.SHARED_ORGNR, Trait.CONTACT_PERSON} for t in traits)


def _orgnr(index: int) -> str:
    """A unique valid organization number per customer index (see ``orgnr_for_base``)."""
    base = _ORGNR_BASE + 2 * index
    return fakes.orgnr_for_base(base) or fakes.orgnr_for_base(base + 1) or ""


def _plan_invoices(rng: random.Random, plans: list[_CustomerPlan]) -> list[_InvoicePlan]:
    """Every invoice with its dates, ordered as a ledger numbers them: by invoice date."""
    planned = [
        _InvoicePlan(plan, category, plan_timeline(rng, category))
        for plan in plans
        for category in plan.categories
    ]
    return sorted(planned, key=lambda item: (item.timeline.invoice, item.customer.number))


def _debtor_key(plan: _CustomerPlan) -> str:
    """The debtor as the pipeline groups it: by organization number, else by customer."""
    if plan.organization_number and plan.trait is not Trait.BAD_ORGNR:
        return f"org:{plan.organization_number}"
    return f"customer:{plan.number}"
