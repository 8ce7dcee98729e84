"""The settings of the Riverty agency, and the commented block ``claimbridge init`` writes.

Where Riverty's public reference leaves a detail open (a type value, a field name, the Auth0
host), the detail is a setting with the default ``docs/connectors/riverty.md`` explains.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from claimbridge.connectors.agencies._riverty_payload import NationalIdRule, PayloadRules
from claimbridge.connectors.base import ConnectorSettings
from claimbridge.errors import MappingError
from claimbridge.mappings import load_mapping
from claimbridge.transport.http import HttpOptions, check_base_url

__all__ = ["CONFIG_EXAMPLE", "RivertySettings"]


class RivertySettings(ConnectorSettings):
    """One creditor (Riverty "client") on Riverty's collection API."""

    url: str = Field(
        description="root of Riverty's collection API (collection_api_base_url; the /v1 paths "
        "are added), given by Riverty at onboarding"
    )
    client_id: str = Field(min_length=1, description="the client id Riverty issued (Auth0)")
    client_secret: SecretStr = Field(description="the client secret Riverty issued")
    token_url: str = Field(
        default="https://identity.riverty.io/oauth/token",
        description="Riverty's Auth0 token endpoint (https://<auth0Domain>/oauth/token)",
    )
    audience: str = Field(
        default="https://api.horizonafs.io",
        description="the token audience; Riverty's test environment documents "
        "https://api-test.horizonafs.io",
    )
    allocate_payments_to: Literal["PRINCIPAL_CLAIM", "CLIENT_COSTS", "CLIENT_INTERESTS"] | None = (
        Field(
            default=None,
            description="allocation requested for direct payments (the creditor's agreement, "
            "e.g. PRINCIPAL_CLAIM); unset lets Riverty allocate by law (costs, interest, "
            "principal)",
        )
    )
    national_id: NationalIdRule = Field(
        default="when_no_usable_address",
        description="when a person's national id is sent: never, when_no_usable_address "
        "(no known, unprotected address) or always",
    )
    send_organization_number: bool = Field(
        default=True, description="send a company debtor's organization number"
    )
    send_date_of_birth: bool = Field(default=True, description="send a person's date of birth")
    only_valid_contacts: bool = Field(
        default=True, description="send only phones and e-mails that washing found valid"
    )
    reminder_fees: bool = Field(
        default=True, description="send reminder fees as REMINDER_FEE costs of their invoices"
    )
    person_customer_type: str = Field(default="PRIVATE", description="customer type of a person")
    company_customer_type: str = Field(
        default="COMPANY", description="customer type of a company (not public; ask Riverty)"
    )
    address_type: str = Field(default="BILLING", description="type of the addresses sent")
    contact_person_type: str | None = Field(
        default=None,
        description="reference-contact type for a company's contact person (not public; unset "
        "sends none)",
    )
    partial_recall_type: str | None = Field(
        default=None, description="'type' of a partial recall, when Riverty asks for one"
    )
    person_mapping: str = Field(
        default="riverty_customer_person", description="mapping file: person → customer"
    )
    company_mapping: str = Field(
        default="riverty_customer_company", description="mapping file: company → customer"
    )
    address_mapping: str = Field(
        default="riverty_address", description="mapping file: address → address"
    )
    invoice_mapping: str = Field(
        default="riverty_invoice", description="mapping file: claim → invoice"
    )
    updates_lookback_days: int = Field(
        default=30, ge=1, le=3650, description="how far back the first update poll reads"
    )
    updates_window_hours: int = Field(
        default=24, ge=1, le=24 * 31, description="transactions asked for per request"
    )
    updates_overlap_minutes: int = Field(
        default=60, ge=0, le=24 * 60, description="each poll re-reads this much before its cursor"
    )
    max_answer_bytes: int = Field(
        default=20_000_000, ge=10_000, description="larger answers are refused unread"
    )
    http: HttpOptions = Field(default_factory=HttpOptions)

    @field_validator("url", "token_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return check_base_url(value)

    @field_validator("person_mapping", "company_mapping", "address_mapping", "invoice_mapping")
    @classmethod
    def _mapping_loads(cls, value: str) -> str:
        try:
            load_mapping(value)
        except MappingError as exc:
            raise ValueError(str(exc)) from None
        return value

    def rules(self) -> PayloadRules:
        return PayloadRules(
            person_type=self.person_customer_type,
            company_type=self.company_customer_type,
            address_type=self.address_type,
            national_id=self.national_id,
            organization_number=self.send_organization_number,
            date_of_birth=self.send_date_of_birth,
            only_valid_contacts=self.only_valid_contacts,
            reminder_fees=self.reminder_fees,
            contact_person_type=self.contact_person_type,
            person_mapping=self.person_mapping,
            company_mapping=self.company_mapping,
            address_mapping=self.address_mapping,
            invoice_mapping=self.invoice_mapping,
        )


CONFIG_EXAMPLE = """\
# Riverty's collection API; see docs/connectors/riverty.md. Riverty issues the API root, the
# client id and the client secret once onboarding (KYC, contract) is done.
url = "https://agency.example"
client_id = "CHANGE-ME"
client_secret = "${CLAIMBRIDGE_RIVERTY_CLIENT_SECRET}"
# The Auth0 token endpoint and audience Riverty names for your environment (its test
# environment documents the audience https://api-test.horizonafs.io).
# token_url = "https://identity.riverty.io/oauth/token"
# audience = "https://api.horizonafs.io"
# Allocation requested for direct payments when your agreement puts principal first;
# unset lets Riverty allocate by law (costs, interest, principal).
# allocate_payments_to = "PRINCIPAL_CLAIM"
# When a person's national id is sent: never, when_no_usable_address or always.
# national_id = "when_no_usable_address"
# send_organization_number = true
# send_date_of_birth = true
# only_valid_contacts = true       # only phones and e-mails washing found valid
# reminder_fees = true             # reminder fees as REMINDER_FEE costs of their invoices
# Values Riverty's public reference does not list: confirm them with Riverty.
# company_customer_type = "COMPANY"
# contact_person_type = "CONTACT_PERSON"   # unset: a company's contact person is not sent
# partial_recall_type = "PARTIAL_RECALL"
# Mapping files (a packaged name or a path), should Riverty name fields otherwise.
# person_mapping = "riverty_customer_person"
# company_mapping = "riverty_customer_company"
# address_mapping = "riverty_address"
# invoice_mapping = "riverty_invoice"
# Reading transactions back: first look-back, window per request, re-read overlap.
# updates_lookback_days = 30
# updates_window_hours = 24
# updates_overlap_minutes = 60
# [agencies.riverty.http]
# rate_limit_per_s = 5             # Riverty publishes no limit; a 429's Retry-After is honoured
"""
