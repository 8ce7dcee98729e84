"""The demo's sample ledger and the benchmark ledger generator.

The sample ledger's summary is checked against the files it wrote, read back with the csv module
and judged with the public rules (dates, amounts, flags) rather than the generator's own plan.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import phonenumbers
import pytest
from click.testing import CliRunner
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.no import fodselsnummer, orgnr

from benchmarks.generate_ledger import generate, main
from claimbridge.errors import UsageError
from claimbridge.sandbox import fakes, names
from claimbridge.sandbox.ledger import (
    MIN_SAMPLE_CUSTOMERS,
    Category,
    LedgerSummary,
    Trait,
    generate_sample_ledger,
)
from tests.conftest import ROOT

TODAY = date(2026, 11, 20)

# The open-items export contract, spelled out independently of the generator's constants.
CUSTOMER_HEADER = [
    "customer_number", "kind", "name", "first_name", "last_name", "organization_number",
    "national_id", "birth_date", "address_line1", "address_line2", "care_of", "postal_code",
    "city", "country", "address_status", "phone", "mobile", "email", "contact_name",
    "contact_phone", "contact_email", "language", "tags",
]  # fmt: skip
INVOICE_HEADER = [
    "invoice_number", "customer_number", "invoice_date", "due_date", "currency", "amount",
    "remaining", "kid", "description", "agreement_ref", "order_ref", "reminder1_date",
    "reminder1_fee", "reminder2_date", "reminder2_fee", "collection_notice_date",
    "interest_rate", "disputed", "on_hold", "payment_plan",
]  # fmt: skip
Rows = dict[str, dict[str, str]]
ADDRESS_FIELDS = ("address_line1", "address_line2", "care_of", "postal_code", "city")


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        header = next(reader)
        rows = [dict(zip(header, row, strict=True)) for row in reader]
    return header, rows


def day(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> LedgerSummary:
    return generate_sample_ledger(tmp_path_factory.mktemp("sample"), today=TODAY)


@pytest.fixture(scope="module")
def customers(ledger: LedgerSummary) -> Rows:
    return {row["customer_number"]: row for row in read(ledger.customers_path)[1]}


@pytest.fixture(scope="module")
def invoices(ledger: LedgerSummary) -> Rows:
    return {row["invoice_number"]: row for row in read(ledger.invoices_path)[1]}


# --- format ---------------------------------------------------------------------------------


def test_headers_are_the_contract(ledger: LedgerSummary) -> None:
    assert read(ledger.customers_path)[0] == CUSTOMER_HEADER
    assert read(ledger.invoices_path)[0] == INVOICE_HEADER


def test_counts_match_the_files(ledger: LedgerSummary, customers: Rows, invoices: Rows) -> None:
    assert ledger.customer_count == len(customers) == 60
    assert ledger.invoice_count == len(invoices) > 60
    assert set(ledger.categories) == set(invoices)
    assert all(row["customer_number"] in customers for row in invoices.values())


def test_values_are_in_the_contract_formats(customers: Rows, invoices: Rows) -> None:
    for row in invoices.values():
        for column in ("invoice_date", "due_date", "reminder1_date", "collection_notice_date"):
            day(row[column])  # ISO or empty, else ValueError
        for column in ("amount", "remaining", "reminder1_fee", "reminder2_fee"):
            if row[column]:
                assert Decimal(row[column]).as_tuple().exponent == -2, row[column]
        for column in ("disputed", "on_hold", "payment_plan"):
            assert row[column] in {"true", "false", ""}
        assert row["currency"] == "NOK"
        assert Decimal(row["remaining"]) <= Decimal(row["amount"])
        assert day(row["due_date"]) >= day(row["invoice_date"])  # type: ignore[operator]
    for row in customers.values():
        assert row["kind"] in {"person", "company"}
        assert row["address_status"] in {"", "unknown", "protected"}
        if row["birth_date"]:
            day(row["birth_date"])


def test_files_end_lines_with_crlf_and_decode_as_utf8(ledger: LedgerSummary) -> None:
    raw = ledger.invoices_path.read_bytes()
    text = raw.decode("utf-8")
    assert "Strøm" in text or "Nettleie" in text or "Mobilabonnement" in text
    assert raw.count(b"\r\n") == ledger.invoice_count + 1


def test_postal_codes_are_real_pairs(customers: Rows) -> None:
    known = set(names.POSTAL_PLACES) | set(names.POSTBOX_PLACES)
    with_address = [row for row in customers.values() if row["postal_code"]]
    assert with_address
    assert all((row["postal_code"], row["city"]) in known for row in with_address)
    assert any(row["address_line1"].startswith("Postboks") for row in with_address)


# --- check digits ---------------------------------------------------------------------------


def test_org_numbers_are_valid_except_the_deliberately_bad_one(
    ledger: LedgerSummary, customers: Rows
) -> None:
    bad = set(ledger.customers_with(Trait.BAD_ORGNR))
    assert len(bad) == 1
    companies = [row for row in customers.values() if row["kind"] == "company"]
    assert len(companies) >= 4
    for row in companies:
        assert orgnr.is_valid(row["organization_number"]) is (row["customer_number"] not in bad)


def test_national_ids_are_valid_and_agree_with_birth_date_and_name(customers: Rows) -> None:
    persons = [row for row in customers.values() if row["national_id"]]
    assert len(persons) > 20
    assert len({row["national_id"] for row in persons}) == len(persons)
    for row in persons:
        number = row["national_id"]
        assert fodselsnummer.is_valid(number), number
        assert fodselsnummer.get_birth_date(number) == day(row["birth_date"])
        male = row["first_name"] in names.MALE_FIRST_NAMES
        assert fodselsnummer.get_gender(number) == ("M" if male else "F")


def test_every_kid_is_mod10_and_built_from_customer_and_invoice(invoices: Rows) -> None:
    for number, row in invoices.items():
        kid = row["kid"]
        assert luhn.is_valid(kid), kid
        assert kid[:-1] == row["customer_number"].zfill(6) + number.zfill(8)


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_and_day_give_byte_identical_files(tmp_path: Path) -> None:
    first = generate_sample_ledger(tmp_path / "a", today=TODAY)
    second = generate_sample_ledger(tmp_path / "b", today=TODAY)
    assert first.customers_path.read_bytes() == second.customers_path.read_bytes()
    assert first.invoices_path.read_bytes() == second.invoices_path.read_bytes()
    assert first.expected_due == second.expected_due
    other = generate_sample_ledger(tmp_path / "c", today=TODAY, seed=8)
    assert other.customers_path.read_bytes() != first.customers_path.read_bytes()


def test_too_few_customers_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="at least"):
        generate_sample_ledger(tmp_path, today=TODAY, customers=MIN_SAMPLE_CUSTOMERS - 1)
    assert not (tmp_path / "customers.csv").exists()


# --- the mix --------------------------------------------------------------------------------


def test_every_category_and_trait_is_present(ledger: LedgerSummary) -> None:
    counts = Counter(ledger.categories.values())
    assert set(counts) == set(Category)
    assert counts[Category.DUE] > sum(counts.values()) / 2  # most go to collection
    assert {Category.DISPUTED: 1, Category.PAYMENT_PLAN: 1, Category.ON_HOLD: 1}.items() <= (
        counts.items()
    )
    assert set(ledger.traits.values()) == set(Trait)


def test_expected_due_and_not_due_partition_the_invoices(ledger: LedgerSummary) -> None:
    due, not_due = set(ledger.expected_due), set(ledger.expected_not_due)
    assert due
    assert not_due
    assert not due & not_due
    assert due | not_due == set(ledger.categories)
    assert due == set(ledger.invoices_in(Category.DUE))


def test_categories_agree_with_the_dates_and_amounts_in_the_file(
    ledger: LedgerSummary, invoices: Rows
) -> None:
    """Judge each invoice by the Norwegian default rules, from the file alone."""
    for number, category in ledger.categories.items():
        row = invoices[number]
        due = day(row["due_date"])
        notice = day(row["collection_notice_date"])
        reminders = [d for d in (day(row["reminder1_date"]), day(row["reminder2_date"])) if d]
        remaining = Decimal(row["remaining"])
        flags = {flag for flag in ("disputed", "on_hold", "payment_plan") if row[flag] == "true"}
        assert due is not None
        if category is Category.NOT_YET_DUE:
            assert due > TODAY
            assert not reminders
            assert notice is None
            continue
        assert due < TODAY
        assert all(r >= due + timedelta(days=14) for r in reminders)  # fee rule
        if category is Category.NO_NOTICE:
            assert notice is None
            assert reminders
        elif category is Category.NOTICE_PENDING:
            assert notice is not None
            assert 5 <= (TODAY - notice).days <= 10
        else:
            assert notice is not None
            assert due < notice < TODAY - timedelta(days=14)
            assert 40 <= (TODAY - due).days <= 120
            assert all(r <= TODAY - timedelta(days=14) and r <= notice for r in reminders)
        if category is Category.PAID:
            assert remaining == 0
        elif category is Category.BELOW_MINIMUM:
            assert 0 < remaining < 100
        elif category in {Category.NO_NOTICE, Category.NOTICE_PENDING}:
            assert remaining > 0
        else:
            assert remaining >= 100
        expected_flags = {category.value} & {"disputed", "on_hold", "payment_plan"}
        assert flags == expected_flags, number


def test_several_debtors_have_two_to_four_invoices(ledger: LedgerSummary, invoices: Rows) -> None:
    per_customer = Counter(row["customer_number"] for row in invoices.values())
    multi = [n for n, count in per_customer.items() if count >= 2]
    assert len(multi) >= 5
    assert max(per_customer.values()) <= 4


def test_two_customer_numbers_share_one_org_number(ledger: LedgerSummary, customers: Rows) -> None:
    shared = ledger.customers_with(Trait.SHARED_ORGNR)
    assert len(shared) == 2
    numbers = {orgnr.compact(customers[c]["organization_number"]) for c in shared}
    assert len(numbers) == 1
    others = [
        orgnr.compact(row["organization_number"])
        for n, row in customers.items()
        if n not in shared and row["organization_number"]
    ]
    assert numbers.isdisjoint(others)
    assert all(set(ledger.invoices_in(Category.DUE)) & _invoices_of(ledger, c) for c in shared)


def test_expected_debtors_counts_the_shared_org_number_once(
    ledger: LedgerSummary, invoices: Rows
) -> None:
    due_customers = {invoices[n]["customer_number"] for n in ledger.expected_due}
    assert ledger.expected_debtors == len(due_customers) - 1


def test_contact_person_company(ledger: LedgerSummary, customers: Rows) -> None:
    (number,) = ledger.customers_with(Trait.CONTACT_PERSON)
    row = customers[number]
    assert row["kind"] == "company"
    assert row["contact_name"]
    assert row["contact_email"]
    assert row["contact_phone"]
    assert _phone_valid(row["contact_phone"])
    assert [r["contact_name"] for r in customers.values() if r["contact_name"]] == [
        row["contact_name"]
    ]


def test_contact_data_flaws_are_what_the_traits_say(ledger: LedgerSummary, customers: dict) -> None:
    def only(trait: Trait) -> dict[str, str]:
        (number,) = ledger.customers_with(trait)
        return customers[number]

    assert not _phone_valid(only(Trait.INVALID_PHONE)["mobile"])
    assert not _email_valid(only(Trait.MALFORMED_EMAIL)["email"])
    typo = only(Trait.EMAIL_TYPO)["email"]
    assert typo.rsplit("@", 1)[1] in names.TYPO_DOMAINS
    assert only(Trait.UNKNOWN_ADDRESS)["address_status"] == "unknown"
    assert only(Trait.PROTECTED_ADDRESS)["address_status"] == "protected"
    missing = only(Trait.MISSING_ADDRESS)
    assert missing["address_status"] == ""
    assert missing["email"]
    unreachable = only(Trait.UNREACHABLE)
    assert not any(unreachable[f] for f in ("phone", "mobile", "email", "address_status"))
    for trait in (Trait.UNKNOWN_ADDRESS, Trait.PROTECTED_ADDRESS, Trait.MISSING_ADDRESS):
        assert not any(only(trait)[f] for f in ADDRESS_FIELDS)
    (number,) = ledger.customers_with(Trait.UNREACHABLE)
    assert set(ledger.invoices_in(Category.UNREACHABLE)) == _invoices_of(ledger, number)


def test_contact_data_without_a_trait_is_clean(ledger: LedgerSummary, customers: Rows) -> None:
    clean = [row for n, row in customers.items() if n not in ledger.traits]
    spellings = set()
    for row in clean:
        assert any(row[f] for f in ADDRESS_FIELDS), row["customer_number"]
        for field in ("phone", "mobile"):
            if row[field]:
                assert _phone_valid(row[field]), row[field]
                spellings.add(_shape(row[field]))
        if row["email"]:
            assert _email_valid(row["email"]), row["email"]
    assert len(spellings) >= 4  # "912 34 567", "+47 91234567", "0047 …", "91234567", …


def test_share_of_bad_contact_data_scales(tmp_path: Path) -> None:
    flawed = set(Trait) - {Trait.SHARED_ORGNR, Trait.CONTACT_PERSON}
    for count in (60, 300):
        summary = generate_sample_ledger(tmp_path / str(count), today=TODAY, customers=count)
        share = sum(t in flawed for t in summary.traits.values()) / count
        assert 0.10 <= share <= 0.15, (count, share)
        assert set(summary.categories.values()) == set(Category)


# --- id helpers -----------------------------------------------------------------------------


@given(st.integers(0, 999_999), st.integers(0, 99_999_999))
def test_fast_kid_equals_stdnum_kid(customer: int, invoice: int) -> None:
    assert fakes.fast_kid(customer, invoice) == fakes.kid_for(str(customer), str(invoice))


def test_fast_kid_falls_back_beyond_its_table() -> None:
    kid = fakes.fast_kid(1_234_567, 123_456_789)
    assert kid == fakes.kid_for("1234567", "123456789")
    assert luhn.is_valid(kid)


@given(st.integers(0, 99_999_998))
def test_orgnr_for_base_is_valid_and_never_misses_twice(base: int) -> None:
    number = fakes.orgnr_for_base(base)
    if number is None:
        assert not any(orgnr.is_valid(f"{base:08d}{d}") for d in range(10))
        assert fakes.orgnr_for_base(base + 1) is not None
    else:
        assert orgnr.is_valid(number)
        assert number.startswith(f"{base:08d}")


@given(st.dates(date(1900, 1, 1), date(2024, 12, 31)), st.integers(0, 49), st.booleans())
def test_fodselsnummer_in_block_is_valid(birth: date, block: int, male: bool) -> None:
    number = fakes.fodselsnummer_in_block(birth, block, male=male)
    if number is not None:
        assert fodselsnummer.is_valid(number)
        assert fodselsnummer.get_birth_date(number) == birth
        assert fodselsnummer.get_gender(number) == ("M" if male else "F")


def test_spellings_of_one_mobile_are_all_the_same_number() -> None:
    parsed = {
        phonenumbers.format_number(
            phonenumbers.parse(fakes.spell_mobile("91234567", style), "NO"),
            phonenumbers.PhoneNumberFormat.E164,
        )
        for style in range(6)
    }
    assert parsed == {"+4791234567"}


# --- benchmark generator --------------------------------------------------------------------


def test_benchmark_generator_writes_n_rows_deterministically(tmp_path: Path) -> None:
    paths = generate(tmp_path / "a", invoices=900, debtors=150, today=TODAY, seed=3)
    again = generate(tmp_path / "b", invoices=900, debtors=150, today=TODAY, seed=3)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    customer_header, customer_rows = read(paths[0])
    invoice_header, invoice_rows = read(paths[1])
    assert (customer_header, invoice_header) == (CUSTOMER_HEADER, INVOICE_HEADER)
    assert (len(customer_rows), len(invoice_rows)) == (150, 900)


def test_benchmark_ledger_is_realistic(tmp_path: Path) -> None:
    customers_path, invoices_path = generate(tmp_path, invoices=3_000, debtors=600, today=TODAY)
    customers = read(customers_path)[1]
    invoices = read(invoices_path)[1]
    numbers = [row["customer_number"] for row in customers]
    assert len(set(numbers)) == len(numbers)
    ids = [row["organization_number"] or row["national_id"] for row in customers]
    ids = [i for i in ids if i]
    assert len(set(ids)) == len(ids) > 400  # unique per debtor: grouping stays realistic
    valid = sum(orgnr.is_valid(i) or fodselsnummer.is_valid(i) for i in ids)
    assert len(ids) - 10 < valid < len(ids)  # a few deliberately bad org numbers
    flawed = sum(not _phone_valid(r["mobile"]) for r in customers if r["mobile"])
    assert 0 < flawed < len(customers) * 0.05
    owners = [row["customer_number"] for row in invoices]
    assert set(owners) == set(numbers)  # every debtor owes something when invoices >= debtors
    assert owners != sorted(owners)
    assert all(luhn.is_valid(row["kid"]) for row in invoices)
    deadline = (TODAY - timedelta(days=14)).isoformat()
    passed = [row for row in invoices if "" < row["collection_notice_date"] < deadline]
    assert 0.6 < len(passed) / len(invoices) < 0.95  # most are due, the rest wait
    assert any(day(row["due_date"]) > TODAY for row in invoices)  # type: ignore[operator]


def test_benchmark_cli(tmp_path: Path) -> None:
    out = tmp_path / "ledger"
    result = CliRunner().invoke(
        main, ["--invoices", "50", "--debtors", "10", "--out", str(out), "--today", "2026-11-20"]
    )
    assert result.exit_code == 0, result.output
    assert len(read(out / "invoices.csv")[1]) == 50
    bad = CliRunner().invoke(main, ["--invoices", "-1", "--debtors", "10", "--out", str(out)])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_benchmark_generator_memory_is_flat(tmp_path: Path) -> None:
    def run(*, invoices: int, debtors: int) -> int:
        # In a child process: in the suite's process other tests' threads would be traced too.
        script = (
            "import datetime, sys, tracemalloc; from pathlib import Path; "
            "from benchmarks.generate_ledger import generate; tracemalloc.start(); "
            f"generate(Path(sys.argv[1]), invoices={invoices}, debtors={debtors}, "
            "today=datetime.date(2026, 11, 23)); print(tracemalloc.get_traced_memory()[1])"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / str(invoices))],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        return int(done.stdout.strip())

    # ten times the invoices over the same debtors: rows stream, so memory must not follow
    small_peak = run(invoices=10_000, debtors=5_000)
    big_peak = run(invoices=100_000, debtors=5_000)
    assert big_peak < small_peak * 1.2  # its speed is measured by benchmarks/, not here


# --- helpers --------------------------------------------------------------------------------


def _invoices_of(ledger: LedgerSummary, customer: str) -> set[str]:
    rows = read(ledger.invoices_path)[1]
    return {row["invoice_number"] for row in rows if row["customer_number"] == customer}


def _phone_valid(text: str) -> bool:
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(text, "NO")))
    except phonenumbers.NumberParseException:
        return False


def _email_valid(text: str) -> bool:
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _shape(text: str) -> str:
    return "".join("9" if ch.isdigit() else ch for ch in text)
