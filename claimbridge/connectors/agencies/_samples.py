"""A complete sample case and corrections: what proves an XML profile against its schema when
the profile loads.

Every field a profile may read is filled, so a layout the schema does not allow (a misspelt or
misplaced element, a wrong namespace) fails at load time, as a broken profile, instead of at the
first write, where it could not be told from a value the schema refuses.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal

from claimbridge import xmlsafe
from claimbridge.connectors.agencies._layouts import FileInfo
from claimbridge.connectors.agencies._profiles import CorrectionItem, FileProfile, Item
from claimbridge.connectors.agencies._xml import XmlWriter, element_path, load_schema
from claimbridge.connectors.base import Correction, CorrectionKind, Delivery
from claimbridge.errors import MappingError
from claimbridge.schemas import (
    Address,
    Case,
    Claim,
    ContactPerson,
    CreditNote,
    Creditor,
    Decision,
    Email,
    InterestTerms,
    Outcome,
    Party,
    Payment,
    Phone,
    QualityReport,
    Reason,
    Reminder,
    SourceRef,
    case_key,
)

__all__ = ["prove_against_schema", "sample_items"]

_DAY = dt.date(2026, 1, 5)


def sample_items(section: FileProfile) -> Iterator[Item]:
    """One item per kind the section carries (a case for the cases section)."""
    case = _case()
    if section.kind == "cases":
        yield Delivery("cbk-" + "0" * 32, case)
        return
    payment = Payment(
        payment_id="sample-payment",
        source=SourceRef(system="sample", record_id="1"),
        amount=Decimal("100.00"),
        currency="NOK",
        booking_date=_DAY,
        reference="0001000112",
        invoice_number="10001",
    )
    note = CreditNote(
        credit_note_number="CN-1",
        source=SourceRef(system="sample", record_id="2"),
        invoice_number="10001",
        amount=Decimal("50.00"),
        currency="NOK",
        issue_date=_DAY,
        reason="price",
    )
    for n, kind in enumerate(section.kinds):
        correction = Correction(
            idempotency_key=f"cbk-{n:032d}",
            kind=kind,
            case_key=case.case_key,
            agency_ref="AG-1",
            invoice_number="10001",
            payment=payment if kind is CorrectionKind.PAYMENT else None,
            credit_note=note if kind is CorrectionKind.REDUCE else None,
            reason="sample",
        )
        yield CorrectionItem(correction, ("10001",))


def prove_against_schema(section: FileProfile) -> None:
    """Write the sample items with the section's layout and validate them against its XSD;
    MappingError (naming the element and the schema rule) when the schema refuses them."""
    if section.xml is None or section.xml.xsd is None:
        return
    stream = io.BytesIO()
    rows = [row for item in sample_items(section) for row in section.rows(item)]
    XmlWriter().write(
        stream, section, rows, FileInfo(_DAY, 1, dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    )
    schema = load_schema(section.xml.xsd)
    root = xmlsafe.parse_bytes(stream.getvalue(), name=f"sample {section.kind} file")
    if not schema.validate(root.getroottree()):
        entry = schema.error_log[0]
        raise MappingError(
            f"{section.xml.xsd.name} refuses a complete sample {section.kind} file at "
            f"{element_path(root, entry.path)} ({entry.type_name}): the layout does not match "
            "the schema",
            mapping=section.name,
        )


def _case() -> Case:
    creditor = Creditor(name="Sample AS", organization_number="923609016", reference="CR-1")
    debtor = Party(
        source=SourceRef(system="sample", record_id="K1"),
        kind="company",
        name="Sample Debtor AS",
        first_name="Kari",
        last_name="Nordmann",
        customer_number="K1",
        organization_number="923609016",
        national_id="01019012345",
        id_country="NO",
        date_of_birth=dt.date(1990, 1, 1),
        language="nb",
        addresses=(
            Address(
                lines=("Storgata 1", "Oppgang B"),
                care_of="Ola",
                postal_code="0155",
                city="Oslo",
                country="NO",
            ),
        ),
        phones=(Phone(number="+4791234567", valid=True), Phone(number="+4722334455")),
        emails=(Email(address="a@example.no"), Email(address="b@example.no")),
        contact_person=ContactPerson(name="Kari Nordmann"),
    )
    claim = Claim(
        source=SourceRef(system="sample", record_id="10001"),
        debtor_id="K1",
        invoice_number="10001",
        invoice_date=_DAY,
        due_date=_DAY + dt.timedelta(days=14),
        currency="NOK",
        original_amount=Decimal("1250.00"),
        remaining_principal=Decimal("1000.50"),
        kid="0001000112",
        description="Sample",
        agreement_ref="A-1",
        order_ref="O-1",
        reminders=(Reminder(sent_on=_DAY + dt.timedelta(days=20), fee=Decimal("35.00")),),
        collection_notice_date=_DAY + dt.timedelta(days=30),
        interest=InterestTerms(rate_percent=Decimal("12.25")),
    )
    return Case(
        case_key=case_key("923609016", debtor.debtor_key(), ["10001"]),
        creditor=creditor,
        debtor=debtor,
        claims=(claim,),
        currency="NOK",
        decision=Decision(
            outcome=Outcome.SEND,
            decided_on=_DAY,
            reasons=(Reason(code="due", message="sample"),),
        ),
        quality=QualityReport(score=90),
    )
