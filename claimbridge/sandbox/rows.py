"""Rows of the open-items export format: one customer, one invoice, dated relative to today.

The two files (``customers.csv``, ``invoices.csv``) are the contract with the open-items file
source. Both the demo's sample ledger and the benchmark generator build their rows here, so the
two cannot drift apart and the benchmark measures data shaped like the demo's.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

from claimbridge.sandbox import fakes, names

__all__ = [
    "CUSTOMER_COLUMNS",
    "INVOICE_COLUMNS",
    "REMINDER_FEE",
    "Calendar",
    "Category",
    "Timeline",
    "Trait",
    "customer_row",
    "invoice_row",
    "plan_timeline",
    "write_csv",
]

CUSTOMER_COLUMNS: tuple[str, ...] = (
    "customer_number", "kind", "name", "first_name", "last_name", "organization_number",
    "national_id", "birth_date", "address_line1", "address_line2", "care_of", "postal_code",
    "city", "country", "address_status", "phone", "mobile", "email", "contact_name",
    "contact_phone", "contact_email", "language", "tags",
)  # fmt: skip

INVOICE_COLUMNS: tuple[str, ...] = (
    "invoice_number", "customer_number", "invoice_date", "due_date", "currency", "amount",
    "remaining", "kid", "description", "agreement_ref", "order_ref", "reminder1_date",
    "reminder1_fee", "reminder2_date", "reminder2_fee", "collection_notice_date",
    "interest_rate", "disputed", "on_hold", "payment_plan",
)  # fmt: skip

# Data only: the legal fee level is configuration elsewhere; this is what the ledger charged.
REMINDER_FEE = "35.00"

_FIXED_AREAS = ("22", "23", "55", "73", "51", "38", "77")
_TERMS = (14, 14, 14, 20, 30)  # days from invoice date to due date


class Category(StrEnum):
    """What the collection policy should make of an invoice today."""

    DUE = "due"  # overdue, reminded, notice deadline passed, >= 100 NOK: send today
    NOT_YET_DUE = "not_yet_due"
    NO_NOTICE = "no_notice"  # reminded, but no collection notice sent yet
    NOTICE_PENDING = "notice_pending"  # notice sent 5–10 days ago, 14-day deadline running
    PAID = "paid"
    BELOW_MINIMUM = "below_minimum"
    DISPUTED = "disputed"
    ON_HOLD = "on_hold"
    PAYMENT_PLAN = "payment_plan"
    UNREACHABLE = "unreachable"  # due, but the debtor has no address, phone or e-mail at all


class Trait(StrEnum):
    """A customer record that exercises the washer or the grouping."""

    SHARED_ORGNR = "shared_orgnr"  # two customer numbers, one organization number
    CONTACT_PERSON = "contact_person"
    BAD_ORGNR = "bad_orgnr"  # wrong MOD11 check digit
    PROTECTED_ADDRESS = "protected_address"
    UNKNOWN_ADDRESS = "unknown_address"
    MISSING_ADDRESS = "missing_address"
    INVALID_PHONE = "invalid_phone"
    MALFORMED_EMAIL = "malformed_email"
    EMAIL_TYPO = "email_typo"
    UNREACHABLE = "unreachable"


COMPANY_TRAITS = frozenset({Trait.SHARED_ORGNR, Trait.CONTACT_PERSON, Trait.BAD_ORGNR})
_NO_ADDRESS = frozenset(
    {Trait.PROTECTED_ADDRESS, Trait.UNKNOWN_ADDRESS, Trait.MISSING_ADDRESS, Trait.UNREACHABLE}
)


@dataclass(frozen=True, slots=True)
class Timeline:
    """An invoice's dates as day offsets from today (negative = past)."""

    invoice: int
    due: int
    reminder1: int | None = None
    reminder2: int | None = None
    notice: int | None = None


class Calendar:
    """ISO dates and billing-month labels for day offsets around ``today``, computed once.

    Formatting a date per row would dominate the benchmark generator's time; a table lookup
    does not.
    """

    PAST = 200
    FUTURE = 45

    def __init__(self, today: date) -> None:
        self.today = today
        days = [today + timedelta(days=offset) for offset in range(-self.PAST, self.FUTURE + 1)]
        self._iso = [day.isoformat() for day in days]
        self._billed = [_billing_month(day) for day in days]

    def iso(self, offset: int | None) -> str:
        return "" if offset is None else self._iso[offset + self.PAST]

    def billing_month(self, offset: int) -> str:
        return self._billed[offset + self.PAST]


def _billing_month(invoiced: date) -> str:
    """Utilities invoice in arrears: a bill dated in November is for October."""
    previous = invoiced.replace(day=1) - timedelta(days=1)
    return f"{names.MONTHS_NB[previous.month - 1]} {previous.year}"


def _between(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint(low, high)`` at a fifth of the cost (the benchmark calls it millions of
    times)."""
    return low + int(rng.random() * (high - low + 1))


def plan_timeline(rng: random.Random, category: Category) -> Timeline:
    """Dates that put an invoice squarely in ``category`` under the Norwegian default policy.

    Collectable invoices fall due 40–120 days ago, got a reminder 14–17 days after the due date
    (and sometimes a second one 14 days later), and a collection notice at least 16 days ago:
    clear of the 14-day edges, which the policy's own tests cover.
    """
    terms = _TERMS[int(rng.random() * len(_TERMS))]
    if category is Category.NOT_YET_DUE:
        invoice = -_between(rng, 1, 12)
        return Timeline(invoice, invoice + terms)
    if category is Category.NO_NOTICE:
        due = -_between(rng, 20, 34)
        return Timeline(due - terms, due, reminder1=due + 14 + _between(rng, 0, 3))
    if category is Category.NOTICE_PENDING:
        due = -_between(rng, 30, 45)
        reminder = due + 14 + _between(rng, 0, 2)
        return Timeline(due - terms, due, reminder1=reminder, notice=-_between(rng, 5, 10))
    due = -_between(rng, 40, 120)
    reminder1 = due + 14 + _between(rng, 0, 3)
    second = due <= -75 and rng.random() < 0.35
    reminder2 = reminder1 + 14 + _between(rng, 0, 2) if second else None
    last = reminder2 if reminder2 is not None else reminder1
    notice = min(last + 14, -16 - _between(rng, 0, 6))
    return Timeline(due - terms, due, reminder1, reminder2, notice)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def invoice_row(
    rng: random.Random,
    calendar: Calendar,
    *,
    invoice_number: str,
    customer_number: str,
    kid: str,
    category: Category,
    timeline: Timeline,
    service: str,
    agreement_ref: str,
) -> list[str]:
    """One ``invoices.csv`` row, in ``INVOICE_COLUMNS`` order."""
    if category is Category.BELOW_MINIMUM:
        amount = _between(rng, 19, 95) * 100 + (0, 0, 50, 90)[int(rng.random() * 4)]
    else:
        amount = _between(rng, 19_900, 499_999)
    remaining = amount
    if category is Category.PAID:
        remaining = 0
    elif category is Category.DUE and amount > 20_000 and rng.random() < 0.15:
        remaining = _between(rng, 10_000, amount - 100)  # partly paid, still above the minimum
    fee1 = REMINDER_FEE if timeline.reminder1 is not None else ""
    fee2 = REMINDER_FEE if timeline.reminder2 is not None else ""
    order_ref = f"ORD{_between(rng, 100_000, 999_999)}" if rng.random() < 0.15 else ""
    interest = "12.50" if rng.random() < 0.1 else ""
    return [
        invoice_number,
        customer_number,
        calendar.iso(timeline.invoice),
        calendar.iso(timeline.due),
        "NOK",
        _money(amount),
        _money(remaining),
        kid,
        f"{service} {calendar.billing_month(timeline.invoice)}",
        agreement_ref,
        order_ref,
        calendar.iso(timeline.reminder1),
        fee1,
        calendar.iso(timeline.reminder2),
        fee2,
        calendar.iso(timeline.notice),
        interest,
        "true" if category is Category.DISPUTED else "false",
        "true" if category is Category.ON_HOLD else "",
        "true" if category is Category.PAYMENT_PLAN else "",
    ]


def customer_row(
    rng: random.Random,
    customer_number: str,
    *,
    company: bool,
    trait: Trait | None = None,
    organization_number: str = "",
    serial: int = 0,
) -> list[str]:
    """One ``customers.csv`` row, in ``CUSTOMER_COLUMNS`` order, damaged as ``trait`` says.

    ``serial`` picks the fødselsnummer's block of individual numbers: distinct serials below 50
    never share a national id, whatever the birth dates.
    """
    row = dict.fromkeys(CUSTOMER_COLUMNS, "")
    row["customer_number"] = customer_number
    row["country"] = "NO"
    row["language"] = rng.choice(("nb",) * 17 + ("nn", "nn", "en"))
    if company:
        domain = _fill_company(rng, row, organization_number)
    else:
        domain = _fill_person(rng, row, serial)
    if trait not in _NO_ADDRESS:
        _fill_address(rng, row, postbox=company and rng.random() < 0.25)
    _apply_trait(rng, row, trait, domain)
    return [row[column] for column in CUSTOMER_COLUMNS]


def _fill_person(rng: random.Random, row: dict[str, str], serial: int) -> str:
    male = rng.random() < 0.5
    first = rng.choice(names.MALE_FIRST_NAMES if male else names.FEMALE_FIRST_NAMES)
    last = rng.choice(names.SURNAMES)
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(64 * 365))
    row.update(kind="person", name=f"{first} {last}", first_name=first, last_name=last)
    if rng.random() < 0.75:
        nid = fakes.fodselsnummer_in_block(birth, serial, male=male)
        if nid is not None:
            row["national_id"] = nid
            row["birth_date"] = birth.isoformat()
    elif rng.random() < 0.4:
        row["birth_date"] = birth.isoformat()
    if rng.random() < 0.9:
        row["mobile"] = fakes.spell_mobile(fakes.mobile_number(rng), rng.randrange(6))
    domain = rng.choice(names.EMAIL_DOMAINS)
    if rng.random() < 0.75:
        row["email"] = f"{_email_local(rng, first, last)}@{domain}"
    row["tags"] = "privat;" + rng.choice(("strøm", "mobil", "bredbånd"))
    return domain


def _fill_company(rng: random.Random, row: dict[str, str], organization_number: str) -> str:
    trade = rng.choice(names.COMPANY_TRADES)
    form = rng.choice(names.COMPANY_FORMS)
    lead = rng.choice(names.SURNAMES if form == "ENK" else names.COMPANY_STEMS)
    spaced = rng.random() < 0.3 and len(organization_number) == 9
    orgno = organization_number
    row.update(
        kind="company",
        name=f"{lead} {trade} {form}",
        organization_number=f"{orgno[:3]} {orgno[3:6]} {orgno[6:]}" if spaced else orgno,
        phone=f"{rng.choice(_FIXED_AREAS)} {rng.randrange(10, 100)} {rng.randrange(10, 100)} "
        f"{rng.randrange(10, 100)}",
        tags="bedrift;" + rng.choice(("strøm", "mobil")),
    )
    domain = fakes.ascii_fold(f"{lead}{trade}") + ".no"
    row["email"] = f"{rng.choice(('post', 'faktura', 'regnskap'))}@{domain}"
    if rng.random() < 0.3:
        row["mobile"] = fakes.spell_mobile(fakes.mobile_number(rng), rng.randrange(6))
    return domain


def _email_local(rng: random.Random, first: str, last: str) -> str:
    f, la = fakes.ascii_fold(first), fakes.ascii_fold(last)
    style = rng.randrange(4)
    if style == 0:
        return f"{f}.{la}"
    if style == 1:
        return f"{f}{la}"
    if style == 2:
        return f"{f}.{la}{rng.randrange(10, 100)}"
    return f"{f[0]}.{la}"


def _fill_address(rng: random.Random, row: dict[str, str], *, postbox: bool) -> None:
    if postbox:
        postal_code, city = rng.choice(names.POSTBOX_PLACES)
        row["address_line1"] = f"Postboks {rng.randrange(1, 9_000)} Sentrum"
    else:
        postal_code, city = rng.choice(names.POSTAL_PLACES)
        letter = rng.choice(("",) * 6 + (" A", " B", "B"))
        row["address_line1"] = f"{rng.choice(names.STREETS)} {rng.randrange(1, 120)}{letter}"
        if rng.random() < 0.15:
            row["address_line2"] = f"Leil. H0{rng.randrange(1, 6)}0{rng.randrange(1, 5)}"
        if row["kind"] == "person" and rng.random() < 0.07:
            first = rng.choice(names.FEMALE_FIRST_NAMES + names.MALE_FIRST_NAMES)
            row["care_of"] = f"c/o {first} {rng.choice(names.SURNAMES)}"
    row["postal_code"], row["city"] = postal_code, city


def _apply_trait(rng: random.Random, row: dict[str, str], trait: Trait | None, domain: str) -> None:
    local = fakes.ascii_fold(row["first_name"] or "post")
    if trait is Trait.PROTECTED_ADDRESS:
        row["address_status"] = "protected"
    elif trait is Trait.UNKNOWN_ADDRESS:
        row["address_status"] = "unknown"
        row["mobile"] = row["mobile"] or fakes.spell_mobile(fakes.mobile_number(rng), 0)
    elif trait is Trait.MISSING_ADDRESS:
        row["email"] = row["email"] or f"{local}.{fakes.ascii_fold(row['last_name'])}@{domain}"
    elif trait is Trait.UNREACHABLE:
        row.update(phone="", mobile="", email="")
    elif trait is Trait.INVALID_PHONE:
        row["mobile"] = rng.choice(fakes.INVALID_PHONES)
    elif trait is Trait.MALFORMED_EMAIL:
        row["email"] = fakes.malformed_email(local, domain, rng.randrange(4))
    elif trait is Trait.EMAIL_TYPO:
        row["email"] = f"{local}.{fakes.ascii_fold(row['last_name'])}@" + rng.choice(
            names.TYPO_DOMAINS
        )
    elif trait is Trait.BAD_ORGNR:
        orgno = row["organization_number"].replace(" ", "")
        row["organization_number"] = orgno[:-1] + str((int(orgno[-1]) + 1) % 10)
    elif trait is Trait.CONTACT_PERSON:
        first = rng.choice(names.FEMALE_FIRST_NAMES + names.MALE_FIRST_NAMES)
        last = rng.choice(names.SURNAMES)
        row["contact_name"] = f"{first} {last}"
        row["contact_phone"] = fakes.spell_mobile(fakes.mobile_number(rng), rng.randrange(6))
        row["contact_email"] = f"{fakes.ascii_fold(first)}.{fakes.ascii_fold(last)}@{domain}"


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    """Write a header and ``rows`` (streamed, RFC 4180 quoting, CRLF); returns the row count."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
