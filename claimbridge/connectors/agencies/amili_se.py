"""Amili Sweden ("ADA API"): case registration with the OCR numbers the debtor pays with,
and the creditor's own (direct) payments and creditings.

``POST /case--registrations`` registers one customer with one or more debts; each debt becomes
an Amili case, and the answer lists the cases (``_cases``) and their OCR numbers
(``_ocr_numbers_ocr``) in the order of the debts. The connector sends one registration per
delivery and returns the OCR numbers as ``payment_refs`` (invoice number → OCR), so payments
the debtor makes to Amili's bankgiro are recognized.

Amili Sweden documents no idempotency key, so a registration is never resent after it may have
arrived: each debt carries the delivery's key in ``reference_number`` (``<key>-<index>``), and
a lost answer is resolved by asking for the registration holding it. See
``docs/connectors/amili.md`` for what is documented and what is configuration.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Sequence
from email.utils import format_datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from claimbridge.connectors.agencies._amili_http import (
    amili_error_info,
    json_object,
)
from claimbridge.connectors.agencies._amili_payload import money
from claimbridge.connectors.agencies._amili_se_auth import api_code_request
from claimbridge.connectors.agencies._checks import check_token_api, probe
from claimbridge.connectors.agencies._rest import send_outcome
from claimbridge.connectors.base import (
    Agency,
    AgencyCapabilities,
    CheckItem,
    CheckKind,
    CheckResult,
    ConnectorContext,
    ConnectorSettings,
    Correction,
    CorrectionKind,
    Delivery,
    PushOutcome,
    PushStatus,
)
from claimbridge.errors import ParseError
from claimbridge.schemas import AddressState, Case, Claim, Party, PartyKind
from claimbridge.transport.http import HttpClient, HttpOptions, HttpSettings, check_base_url
from claimbridge.transport.tokens import ExpiringTokens, TokenAnswer, TokenAuth, TokenClients

__all__ = ["AmiliSwedenAgency", "AmiliSwedenSettings"]

log = logging.getLogger("claimbridge.amili_se")

_MAX_TEXT = 200
#: where a correction's key travels: the documented tracking reference of each resource
_CORRECTION_REFERENCES = (
    ("/creditor--payments", "creditor_payment_reference"),
    ("/creditor--creditings", "creditor_reference"),
)


class AmiliSwedenSettings(ConnectorSettings):
    api_url: str = Field(
        default="https://api.amili.se",
        description="ADA API root (sandbox: https://api-sandbox.amili.se)",
    )
    auth_method: Literal["jwt", "api_code"] = Field(
        default="jwt", description="jwt: a signed JWT; api_code: plain code from a static IP"
    )
    api_code: SecretStr = Field(description="the API code Amili issued")
    private_key: SecretStr | None = Field(
        default=None,
        description="PEM private key registered at Amili (jwt method), a ${file:…} reference",
    )
    jwt_algorithm: Literal["ES256", "ES384", "ES512", "RS256", "RS384", "RS512"] = "ES512"
    token_field: str = Field(default="token", description="field of the token in the answer")
    token_lifetime_s: float = Field(default=3000, gt=60, description="how long a token is used")
    account: str = Field(min_length=1, description="your account id at Amili")
    creditor: str = Field(min_length=1, description="your creditor id at Amili")
    first_action: Literal["debt_collection", "reminder"] = "debt_collection"
    key_field: str = Field(
        default="reference_number", description="debt field that carries the delivery key"
    )
    send_national_id: bool = Field(default=True, description="send persons' personnummer")
    http: HttpOptions = Field(default_factory=HttpOptions)

    @field_validator("api_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return check_base_url(value)

    @model_validator(mode="after")
    def _jwt_needs_key(self) -> AmiliSwedenSettings:
        if self.auth_method == "jwt" and self.private_key is None:
            raise ValueError("auth_method 'jwt' needs private_key (a ${file:…} reference)")
        return self


class AmiliSwedenAgency(Agency):
    """Register cases at Amili Sweden and report the creditor's direct payments."""

    type_name: ClassVar[str] = "amili_se"
    Settings: ClassVar[type[ConnectorSettings]] = AmiliSwedenSettings
    capabilities: ClassVar[AgencyCapabilities] = AgencyCapabilities(
        idempotency_keys=False, lookup=True, batch_size=50, report_payments=True, reduce=True
    )

    settings: AmiliSwedenSettings

    @classmethod
    def config_example(cls) -> str:
        """The generated block, with the private key live: the default (JWT) method needs it."""
        from claimbridge.init_template import settings_block

        lines = settings_block(
            cls.Settings, env_prefix=(cls.type_name,), table=f"agencies.{cls.type_name}"
        )
        live = "# private_key = "
        return "\n".join(
            line.removeprefix("# ") if line.startswith(live) else line for line in lines
        )

    def __init__(
        self,
        settings: ConnectorSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(settings, context)
        self._sleep = sleep
        self._clients: TokenClients[ExpiringTokens] | None = None

    @property
    def name(self) -> str:
        return self.context.name or self.type_name

    @property
    def client(self) -> HttpClient:
        if self._clients is None:
            self._clients = self._connect(self.settings.http)
        return self._clients.api

    def _connect(self, options: HttpOptions) -> TokenClients[ExpiringTokens]:
        settings = self.settings
        http = HttpSettings.from_options(settings.api_url, options)
        request = api_code_request(
            settings.auth_method,
            settings.api_code,
            settings.private_key,
            settings.jwt_algorithm,
            self.name,
        )
        answer = TokenAnswer(
            token_field=settings.token_field,
            lifetime_field=None,  # not public: token_lifetime_s says how long one is used
            default_lifetime_s=settings.token_lifetime_s,
        )
        return TokenClients.connect(
            http,
            http,  # the token is asked for from the API itself
            lambda endpoint: ExpiringTokens(
                endpoint,
                request,
                store=self.context.credentials,
                key=f"amili_se:{self.name}:{settings.account}",
                answer=answer,
                name=self.name,
                what="an Amili Sweden access token",
                logger=log,
            ),
            auth=lambda tokens: TokenAuth(tokens, header="X-API-Key", scheme=None),
            error_parser=amili_error_info,
            sleep=self._sleep,
            name=self.name,
        )

    def close(self) -> None:
        if self._clients is not None:
            self._clients.close()
            self._clients = None

    # pushing -----------------------------------------------------------------------------

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        outcomes: list[PushOutcome] = []
        for index, delivery in enumerate(deliveries):
            outcome = self._register(delivery)
            outcomes.append(outcome)
            if outcome.status is PushStatus.RETRYABLE:  # the rest would meet the same wall
                rest = deliveries[index + 1 :]
                outcomes += [
                    PushOutcome(d.idempotency_key, PushStatus.RETRYABLE, reason=outcome.reason)
                    for d in rest
                ]
                break
        return outcomes

    def _register(self, delivery: Delivery) -> PushOutcome:
        key = delivery.idempotency_key
        body = self.registration(delivery.case, key)
        sent = send_outcome(lambda: self.client.post("/case--registrations", json=body), [key])
        if isinstance(sent, list):
            return sent[0]
        answer = json_object(sent, "case registration answer", self.name)
        numbers = [c.invoice_number for c in delivery.case.claims]
        return _registration_outcome(key, numbers, answer)

    def registration(self, case: Case, key: str) -> dict[str, Any]:
        """The ``POST /case--registrations`` body for one case (one debt per claim)."""
        return {
            "account": self.settings.account,
            "creditor": self.settings.creditor,
            "first_action": self.settings.first_action,
            "currency": case.currency,
            "customer": _customer(case.debtor, send_national_id=self.settings.send_national_id),
            "debts": [
                _debt(claim, self.settings.key_field, f"{key}-{index}")
                for index, claim in enumerate(case.claims)
            ],
        }

    @property
    def resendable_corrections(self) -> frozenset[CorrectionKind]:
        """Corrections lookup finds by the key in their tracking reference: none is ever lost."""
        return frozenset({CorrectionKind.PAYMENT, CorrectionKind.REDUCE})

    def lookup(self, idempotency_key: str, agency_ref: str | None = None) -> PushOutcome | None:
        """The registration whose first debt carries the delivery's key, else the creditor
        payment or crediting whose tracking reference is the key, if Amili holds one."""
        where = json.dumps({f"debts.{self.settings.key_field}": f"{idempotency_key}-0"})
        for item in self._listed("/case--registrations", where, "registration list"):
            debts = item.get("debts")
            if not isinstance(debts, list) or not debts or not isinstance(debts[0], dict):
                continue
            if debts[0].get(self.settings.key_field) != f"{idempotency_key}-0":
                continue
            numbers = [str(d.get("invoice_number")) for d in debts if isinstance(d, dict)]
            return _registration_outcome(idempotency_key, numbers, item)
        for path, field in _CORRECTION_REFERENCES:
            where = json.dumps({field: idempotency_key})
            for item in self._listed(path, where, "correction list"):
                if item.get(field) == idempotency_key:
                    return _correction_outcome(idempotency_key, item)
        return None

    def _listed(self, path: str, where: str, what: str) -> list[dict[str, Any]]:
        """An Eve list's items; the filter is checked again by the caller (never trusted)."""
        response = self.client.get(path, params={"where": where})
        items = json_object(response, what, self.name).get("_items")
        if not isinstance(items, list):
            raise ParseError(f"Amili's {what} has no '_items' list", field="_items")
        return [item for item in items if isinstance(item, dict)]

    # corrections -------------------------------------------------------------------------

    def report_payment(self, correction: Correction) -> PushOutcome:
        payment = correction.payment
        if payment is None:
            return PushOutcome(correction.idempotency_key, PushStatus.REJECTED, reason="no payment")
        body = {
            **self._target(correction),
            "account": self.settings.account,
            "creditor": self.settings.creditor,
            "currency": payment.currency,
            "amount": money(payment.amount),
            "bank_transaction_date": _rfc1123(payment.booking_date),
            "creditor_payment_reference": correction.idempotency_key,  # found again by lookup
            "origin": "creditor_system",
        }
        return self._post_correction(correction, "/creditor--payments", body)

    def reduce(self, correction: Correction) -> PushOutcome:
        note = correction.credit_note
        if note is None:
            return PushOutcome(correction.idempotency_key, PushStatus.REJECTED, reason="no note")
        body = {
            **self._target(correction),
            "creditor": self.settings.creditor,
            "currency": note.currency,
            "amount": money(note.amount),
            "client_registration_date": _rfc1123(note.issue_date),
            "credit_invoice": note.credit_note_number,
            "creditor_reference": correction.idempotency_key,  # found again by lookup
            "origin": "creditor_system",
        }
        return self._post_correction(correction, "/creditor--creditings", body)

    @staticmethod
    def _target(correction: Correction) -> dict[str, str]:
        """The Amili case when the reference names exactly one, else the invoice number
        (Amili resolves the case from it; the two are mutually exclusive)."""
        cases = [c for c in correction.agency_ref.split(",") if c]
        if len(cases) == 1 or not correction.invoice_number:
            return {"case": cases[0] if cases else correction.agency_ref}
        return {"invoice_number": correction.invoice_number}

    def _post_correction(
        self, correction: Correction, path: str, body: dict[str, Any]
    ) -> PushOutcome:
        key = correction.idempotency_key
        sent = send_outcome(lambda: self.client.post(path, json=body), [key])
        if isinstance(sent, list):
            return sent[0]
        return _correction_outcome(key, json_object(sent, "answer", self.name))

    # checks ------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Config, a token for the API code (auth), then one registration listed (the API,
        and that the token may read the account)."""
        return check_token_api(
            self.name,
            self._connect,
            self.settings.http,
            CheckItem(CheckKind.CONFIG, True, f"creditor {self.settings.creditor}"),
            issued="API code accepted",
            api=lambda client: [
                probe(
                    lambda: client.get("/case--registrations", params={"max_results": 1}),
                    answered="ADA API answered",
                )
            ],
        )


# --- mapping ------------------------------------------------------------------------------


def _customer(party: Party, *, send_national_id: bool) -> dict[str, Any]:
    company = party.kind is PartyKind.COMPANY
    customer: dict[str, Any] = {"name": party.name, "customer_number": party.customer_number}
    foreign = party.id_country not in (None, "SE")
    customer["is_foreign" if foreign else "is_company" if company else "is_person"] = True
    id_number = party.organization_number if company else party.national_id
    if id_number and (company or send_national_id):
        customer["id_number"] = id_number
    known = [a for a in party.addresses if a.state is AddressState.KNOWN]
    if known:
        address = known[0]
        customer["address"] = {
            "address_line_1": address.lines[0] if address.lines else None,
            "address_line_2": ", ".join(address.lines[1:]) or None,
            "zip_code": address.postal_code,
            "city": address.city,
            "country": address.country,
        }
    phones = [p.number for p in party.phones if p.valid]
    emails = [e.address for e in party.emails if e.valid]
    if phones:
        customer["mobile_number"] = phones[0]
    if emails:
        customer["email"] = emails[0]
    return customer


def _debt(claim: Claim, key_field: str, key_value: str) -> dict[str, Any]:
    debt: dict[str, Any] = {
        "invoice_number": claim.invoice_number,
        "debt_description": claim.description or f"Faktura {claim.invoice_number}",
        "invoice_date": _rfc1123(claim.invoice_date),
        "capital_to_claim": money(claim.remaining_principal),
        "invoice_due_days_after_invoice_date": (claim.due_date - claim.invoice_date).days,
        key_field: key_value,
    }
    reminders = sorted(claim.reminders, key=lambda r: r.sent_on)
    if reminders and reminders[-1].fee > 0:
        debt["fees_already_claimed"] = {
            "reminder": {
                "amount": money(reminders[-1].fee),
                "fee_registration_date": _rfc1123(reminders[-1].sent_on),
            }
        }
    return debt


def _registration_outcome(key: str, numbers: Sequence[str], answer: dict[str, Any]) -> PushOutcome:
    if answer.get("_status") not in (None, "OK"):
        return PushOutcome(
            key, PushStatus.REJECTED, reason=f"Amili answered {answer.get('_status')}"
        )
    cases = answer.get("_cases")
    ocrs = answer.get("_ocr_numbers_ocr")
    if not isinstance(cases, list) or not cases or not all(_text(c) for c in cases):
        raise ParseError("Amili's registration answer has no '_cases' list", field="_cases")
    refs: dict[str, str] = {}
    if isinstance(ocrs, list) and len(ocrs) == len(numbers):
        refs = {n: str(_text(o)) for n, o in zip(numbers, ocrs, strict=True) if _text(o)}
    elif ocrs is not None:
        raise ParseError(
            "Amili's registration answer has OCR numbers that do not match its debts",
            field="_ocr_numbers_ocr",
        )
    return PushOutcome(
        key,
        PushStatus.ACCEPTED,
        agency_ref=",".join(str(_text(c)) for c in cases),
        payment_refs=refs,
    )


def _correction_outcome(key: str, answer: dict[str, Any]) -> PushOutcome:
    """A creditor payment or crediting as Amili holds it: refused (``error``) or taken."""
    state = str(answer.get("_payment_status") or answer.get("status") or "").lower()
    if answer.get("_status") not in (None, "OK") or state == "error":
        reason = _text(answer.get("status_reason_locale")) or f"Amili answered {state or 'ERR'}"
        return PushOutcome(key, PushStatus.REJECTED, reason=reason)
    return PushOutcome(key, PushStatus.ACCEPTED, agency_ref=_text(answer.get("_id")))


def _rfc1123(day: dt.date) -> str:
    return format_datetime(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC), usegmt=True)


def _text(value: Any) -> str | None:
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:_MAX_TEXT]
    return None
