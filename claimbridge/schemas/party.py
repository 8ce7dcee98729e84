"""Parties: the debtor who owes and the creditor who is owed."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field, model_validator

from claimbridge.schemas._base import CanonicalModel, Country, SourceRef


class PartyKind(StrEnum):
    PERSON = "person"
    COMPANY = "company"


class AddressKind(StrEnum):
    POSTAL = "postal"
    VISITING = "visiting"
    INVOICE = "invoice"
    DELIVERY = "delivery"
    REGISTERED = "registered"


class AddressState(StrEnum):
    KNOWN = "known"
    UNKNOWN = "unknown"  # the debtor has no known address: a valid state, not an error
    PROTECTED = "protected"  # fortrolig/strengt fortrolig adresse: never sent unless needed


class PhoneType(StrEnum):
    MOBILE = "mobile"
    FIXED = "fixed"
    UNKNOWN = "unknown"


class Address(CanonicalModel):
    kind: AddressKind = AddressKind.POSTAL
    state: AddressState = AddressState.KNOWN
    lines: tuple[str, ...] = ()
    care_of: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: Country | None = None

    @model_validator(mode="after")
    def _known_needs_content(self) -> Address:
        if self.state is AddressState.KNOWN and not (self.lines or self.postal_code or self.city):
            raise ValueError("a known address needs at least a street line, postal code or city")
        return self


class Phone(CanonicalModel):
    number: str = Field(description="E.164 when valid (+4791234567), else as given")
    type: PhoneType = PhoneType.UNKNOWN
    valid: bool = False
    original: str | None = Field(default=None, description="as the ledger had it, if changed")


class Email(CanonicalModel):
    address: str
    valid: bool = False
    original: str | None = None


class ContactPerson(CanonicalModel):
    name: str
    phones: tuple[Phone, ...] = ()
    emails: tuple[Email, ...] = ()
    role: str | None = None


class Party(CanonicalModel):
    """A debtor as the ledger knows it, after washing."""

    source: SourceRef
    kind: PartyKind
    name: str = Field(min_length=1)
    first_name: str | None = None
    last_name: str | None = None
    customer_number: str = Field(min_length=1)
    organization_number: str | None = None
    national_id: str | None = Field(default=None, description="fødselsnummer/personnummer")
    id_country: Country | None = Field(default=None, description="country of the id numbers")
    date_of_birth: date | None = None
    addresses: tuple[Address, ...] = ()
    phones: tuple[Phone, ...] = ()
    emails: tuple[Email, ...] = ()
    contact_person: ContactPerson | None = None
    language: str | None = Field(default=None, description="ISO 639-1, e.g. 'nb', 'sv'")
    tags: tuple[str, ...] = Field(default=(), description="customer groups/tags for exclusions")

    @property
    def identity_number(self) -> str | None:
        return self.organization_number if self.kind is PartyKind.COMPANY else self.national_id

    def personal_values(self) -> tuple[str, ...]:
        """Every value that identifies or reaches the person: what must never appear in a
        log line or a stored error text (an agency's refusal may quote them back)."""
        values: list[str | None] = [
            self.name,
            self.first_name,
            self.last_name,
            self.national_id,
            self.date_of_birth.isoformat() if self.date_of_birth else None,
        ]
        if self.kind is PartyKind.PERSON:
            values.append(self.organization_number)
        for address in self.addresses:
            values.extend((*address.lines, address.care_of))
        phones, emails = list(self.phones), list(self.emails)
        if self.contact_person is not None:
            values.append(self.contact_person.name)
            phones.extend(self.contact_person.phones)
            emails.extend(self.contact_person.emails)
        for phone in phones:
            values.extend((phone.number, phone.original, phone.number.lstrip("+")))
        for email in emails:
            values.extend((email.address, email.original))
        return tuple(v for v in dict.fromkeys(values) if v and len(v.strip()) >= 3)

    def debtor_key(self) -> str:
        """One debtor across customer numbers: by id number where known, else by customer."""
        ident = self.identity_number
        if ident:
            return f"{self.id_country or '??'}:{ident}"
        return f"{self.source.system}:{self.source.company}:customer:{self.customer_number}"


class Creditor(CanonicalModel):
    """The company that is owed money, as the agency must know it."""

    name: str = Field(min_length=1)
    organization_number: str = Field(min_length=1)
    country: Country = "NO"
    bank_account: str | None = None
    contact_email: str | None = None
    reference: str | None = Field(default=None, description="the creditor's id at the agency")
