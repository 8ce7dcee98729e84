"""The washing table: 200 contact records shaped the way Nordic ledgers hold them.

Each line of ``tests/fixtures/quality/contact_records.jsonl`` is one debtor as a ledger has it
(phones with spaces, ``0047``, ``(0)``, two numbers in one field; e-mails with ``mailto:``,
capitals, typos of common domains; organization numbers with ``NO``/``MVA``; fødselsnummer,
D-numbers and Swedish personnummer with ``+``; addresses with c/o lines, postboxes, postal
lines) and what washing must make of it: the normalized values, validity, every finding code
(as a multiset) and the score band. The debtors are invented; the id numbers are synthetic
numbers with correct check digits.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from claimbridge.quality import Washer, WashResult
from claimbridge.schemas import SourceRef
from claimbridge.schemas.party import Address, ContactPerson, Email, Party, Phone
from claimbridge.schemas.quality import Severity

TABLE = Path(__file__).resolve().parent.parent / "fixtures" / "quality" / "contact_records.jsonl"
RECORDS: list[dict[str, Any]] = [
    json.loads(line) for line in TABLE.read_text(encoding="utf-8").splitlines() if line
]
BANDS = {"high": range(80, 101), "medium": range(50, 80), "low": range(0, 50)}
WASHER = Washer(default_country="NO")


def build_party(record: dict[str, Any]) -> Party:
    fields = dict(record["party"])
    fields["addresses"] = tuple(Address(**a) for a in fields.get("addresses", ()))
    fields["phones"] = tuple(Phone(number=p) for p in fields.get("phones", ()))
    fields["emails"] = tuple(Email(address=e) for e in fields.get("emails", ()))
    if "contact_person" in fields:
        contact = fields["contact_person"]
        fields["contact_person"] = ContactPerson(
            name=contact["name"],
            phones=tuple(Phone(number=p) for p in contact.get("phones", ())),
            emails=tuple(Email(address=e) for e in contact.get("emails", ())),
        )
    return Party(source=SourceRef(system="table", record_id=record["id"]), **fields)


def _id_valid(result: WashResult, field: str) -> bool:
    return not any(f.code == "id.invalid" and f.field == field for f in result.report.findings)


def _personal_values(record: dict[str, Any]) -> set[str]:
    party = record["party"]
    values = {*party.get("phones", ()), *party.get("emails", ())}
    values |= {party.get(k) or "" for k in ("national_id", "organization_number")}
    for address in party.get("addresses", ()):
        values |= {*address.get("lines", ()), address.get("care_of") or ""}
    return {v.strip() for v in values if len(v.strip()) >= 5}


def test_the_table_is_large_and_ids_are_unique() -> None:
    ids = [r["id"] for r in RECORDS]
    assert len(ids) >= 200
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_record(record: dict[str, Any]) -> None:
    expect = record["expect"]
    result = WASHER.wash(build_party(record))
    party, report = result.party, result.report

    assert sorted(f.code for f in report.findings) == sorted(expect["codes"])
    assert report.score in BANDS[expect["band"]], report.score
    if "phones" in expect:
        got = [{"number": p.number, "valid": p.valid, "type": p.type.value} for p in party.phones]
        want = expect["phones"]
        assert [{k: g[k] for k in w} for g, w in zip(got, want, strict=False)] == want
        assert len(got) == len(want)
    if "emails" in expect:
        assert [{"address": e.address, "valid": e.valid} for e in party.emails] == expect["emails"]
    for field in ("organization_number", "national_id"):
        if field in expect:
            assert getattr(party, field) == expect[field]
        if f"{field}_valid" in expect:
            assert _id_valid(result, field) is expect[f"{field}_valid"]
    if "date_of_birth" in expect:
        born = expect["date_of_birth"]
        assert party.date_of_birth == (date.fromisoformat(born) if born else None)
    if "addresses" in expect:
        got_addresses = [
            {
                "lines": list(a.lines),
                "postal_code": a.postal_code,
                "city": a.city,
                "country": a.country,
                "care_of": a.care_of,
            }
            for a in party.addresses
        ]
        assert got_addresses == expect["addresses"]


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_messages_carry_no_personal_value(record: dict[str, Any]) -> None:
    report = WASHER.wash(build_party(record)).report
    values = _personal_values(record)
    for finding in report.findings:
        assert not any(v in finding.message for v in values), finding.code
        assert finding.severity in set(Severity)


@pytest.mark.parametrize("record", RECORDS, ids=[r["id"] for r in RECORDS])
def test_washing_a_washed_record_changes_nothing(record: dict[str, Any]) -> None:
    once = WASHER.wash(build_party(record)).party
    assert WASHER.wash(once).party == once
