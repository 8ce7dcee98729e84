"""Riverty (formerly Arvato Financial Solutions) collection API as an agency.

Riverty takes a claim — the debtor as ``customer``, the invoices in a ``contract`` — with
``POST /v1/claims`` and answers only a ``requestId``: the claim is validated afterwards, and
its claim number arrives with a ``CONFIRMATION`` (or a ``REJECTION``) in the transactions
(``GET /v1/transactions``). So a pushed case is ``SENT``, and its receipt comes as an update.

Riverty honours no idempotency key on claims. Duplicates are prevented by a number of ours:
every claim's ``contractNumber`` is the delivery's idempotency key, and Riverty's claim search
(``GET /v1/claims/search?contractNumber=``) finds it, so a delivery whose answer was lost is
looked up by its key and never sent blindly again. Direct payments and credit waivers carry a
``paymentNumber``/``creditWaiverNumber`` that Riverty documents as processed once, so those
POSTs are retried like idempotent calls. Recalls carry no number and are not retried.

Facts and the settings standing in for what is not public: ``docs/connectors/riverty.md``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from claimbridge.connectors.agencies._checks import check_token_api
from claimbridge.connectors.agencies._riverty_answers import (
    REQUEST_PREFIX,
    ClaimFound,
    InvoiceFound,
    claims_page,
    invoices_page,
    iter_windows,
    json_body,
    request_id,
    transaction_update,
    transactions,
)
from claimbridge.connectors.agencies._riverty_auth import riverty_error_info, riverty_tokens
from claimbridge.connectors.agencies._riverty_payload import (
    claim_body,
    correction_number,
    credit_waiver_body,
    payment_body,
    recall_body,
)
from claimbridge.connectors.agencies._riverty_settings import CONFIG_EXAMPLE, RivertySettings
from claimbridge.connectors.base import (
    Agency,
    AgencyCapabilities,
    AgencyUpdate,
    CheckItem,
    CheckKind,
    CheckResult,
    ConnectorContext,
    ConnectorSettings,
    Correction,
    CorrectionKind,
    Delivery,
    NotSupportedError,
    PushOutcome,
    PushStatus,
)
from claimbridge.errors import (
    AuthError,
    ClaimbridgeError,
    OutcomeUnknownError,
    ParseError,
    RateLimitedError,
    RecordError,
    RemoteError,
    UnreachableError,
)
from claimbridge.grouping import idempotency_key
from claimbridge.transport.http import HttpClient, HttpOptions, HttpSettings
from claimbridge.transport.tokens import ExpiringTokens, TokenClients, token_endpoint_settings

__all__ = ["RivertyAgency", "RivertySettings"]

log = logging.getLogger("claimbridge.riverty")

Clock = Callable[[], dt.datetime]
_MAX_PAGES = 20  # claim searches and invoice lists: a key names one claim, a claim few pages
_PAGE_SIZE = 50
_STAMP = "%Y-%m-%dT%H:%M:%SZ"
_ACCEPTED_STATES = (PushStatus.ACCEPTED,)


class RivertyAgency(Agency):
    """Riverty's collection API: claims, direct payments, credit waivers, recalls."""

    type_name: ClassVar[str] = "riverty"
    Settings: ClassVar[type[ConnectorSettings]] = RivertySettings
    capabilities: ClassVar[AgencyCapabilities] = AgencyCapabilities(
        idempotency_keys=False,
        lookup=True,
        batch_size=50,
        async_acceptance=True,
        report_payments=True,
        withdraw=True,
        reduce=True,
    )

    config_example: ClassVar[str] = CONFIG_EXAMPLE

    @property
    def resendable_corrections(self) -> frozenset[CorrectionKind]:
        """Numbered corrections, which Riverty processes once however often they come; never
        a recall (it carries no number, and a partial recall sent twice could recall twice)."""
        return frozenset({CorrectionKind.PAYMENT, CorrectionKind.REDUCE})

    settings: RivertySettings

    def __init__(
        self,
        settings: ConnectorSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(settings, context)
        self._sleep = sleep
        self._now: Clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.rules = self.settings.rules()
        self._clients: TokenClients[ExpiringTokens] | None = None

    @property
    def name(self) -> str:
        return self.context.name or self.type_name

    # clients ------------------------------------------------------------------------------

    def _connect(self, options: HttpOptions) -> TokenClients[ExpiringTokens]:
        settings = self.settings
        return TokenClients.connect(
            HttpSettings.from_options(settings.url, options),
            token_endpoint_settings(settings.token_url, options),
            lambda endpoint: riverty_tokens(
                endpoint,
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                audience=settings.audience,
                store=self.context.credentials,
                key=f"riverty:{self.name}:access_token",
                name=self.name,
            ),
            error_parser=riverty_error_info,
            sleep=self._sleep or time.sleep,
            name=self.name,
        )

    @property
    def client(self) -> HttpClient:
        if self._clients is None:
            self._clients = self._connect(self.settings.http)
        return self._clients.api

    def close(self) -> None:
        if self._clients is not None:
            self._clients.close()
            self._clients = None

    def _json(self, response: requests.Response, what: str) -> Any:
        return json_body(response, what, self.settings.max_answer_bytes)

    def contract_number(self, case_key: str) -> str:
        """The ``contractNumber`` of a case's claim: its delivery's idempotency key."""
        return idempotency_key(self.name, case_key)

    # pushing ------------------------------------------------------------------------------

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        """One claim per case, one request each. A failure that stops the batch (auth, rate
        limit, network) leaves the cases not yet tried retryable, and never turns an outcome
        already known into anything else."""
        outcomes: list[PushOutcome] = []
        for delivery in deliveries:
            try:
                outcomes.append(self._push_one(delivery))
            except AuthError:
                if not outcomes:
                    raise  # nothing sent: the run stops on credentials that do not work
                return _rest(outcomes, deliveries, "not sent: Riverty refused the credentials")
            except (RateLimitedError, UnreachableError) as exc:
                return _rest(outcomes, deliveries, f"not sent: {exc}")
        return outcomes

    def _push_one(self, delivery: Delivery) -> PushOutcome:
        key = delivery.idempotency_key
        try:
            body = claim_body(delivery.case, key, self.rules, self.context.today)
        except (RecordError, ValueError) as exc:
            reasons = exc.reasons if isinstance(exc, RecordError) else [str(exc)]
            reason = "not sent, the case cannot be expressed as a Riverty claim: " + "; ".join(
                reasons
            )
            return PushOutcome(key, PushStatus.REJECTED, reason=reason[:1000])
        try:
            response = self.client.post("/v1/claims", json=body)
        except OutcomeUnknownError as exc:
            return PushOutcome(key, PushStatus.UNKNOWN, reason=str(exc))
        except RemoteError as exc:
            if exc.status is not None and (exc.status >= 500 or exc.status == 409):
                # it may hold the claim anyway: resolve by the claim search, never resend
                return PushOutcome(key, PushStatus.UNKNOWN, reason=str(exc))
            return PushOutcome(key, PushStatus.REJECTED, reason=str(exc))
        try:
            handle = request_id(self._json(response, "handover answer"))
        except ParseError as exc:
            reason = f"Riverty took the claim but its answer was unreadable ({exc})"
            return PushOutcome(key, PushStatus.UNKNOWN, reason=reason)
        return PushOutcome(key, PushStatus.SENT, agency_ref=REQUEST_PREFIX + handle)

    def lookup(self, idempotency_key: str, agency_ref: str | None = None) -> PushOutcome | None:
        """The claim whose ``contractNumber`` is the key: ``SENT`` while Riverty validates it,
        ``ACCEPTED`` with its claim number, ``REJECTED``; None when Riverty holds none."""
        found = self._claims(contractNumber=idempotency_key)
        if not found:
            return None
        live = [c for c in found if c.status != "REJECTED"]
        if len(live) > 1:
            log.warning(
                "Riverty holds %d claims for delivery %s; using %s",
                len(live),
                idempotency_key,
                live[0].claim_number,
            )
        return (live or found)[0].outcome(idempotency_key)

    def _claims(self, **criteria: str) -> list[ClaimFound]:
        found: list[ClaimFound] = []
        for page in range(1, _MAX_PAGES + 1):
            params: dict[str, str | int] = {**criteria, "page": page, "pageSize": _PAGE_SIZE}
            try:
                response = self.client.get("/v1/claims/search", params=params)
            except RemoteError as exc:
                if exc.status == 404:
                    return found
                raise
            claims, more = claims_page(self._json(response, "claim search answer"))
            found.extend(claims)
            if not more or not claims:
                break
        return found

    # corrections --------------------------------------------------------------------------

    def correct(self, corrections: Sequence[Correction]) -> list[PushOutcome]:
        """One request per correction; an auth failure after the first keeps what is known."""
        outcomes: list[PushOutcome] = []
        for correction in corrections:
            try:
                outcomes.append(super().correct([correction])[0])
            except NotSupportedError as exc:
                outcomes.append(
                    PushOutcome(correction.idempotency_key, PushStatus.REJECTED, reason=str(exc))
                )
            except AuthError:
                if not outcomes:
                    raise
                return _rest(outcomes, corrections, "not sent: Riverty refused the credentials")
        return outcomes

    def report_payment(self, correction: Correction) -> PushOutcome:
        """A direct payment to the creditor, numbered so that a resend is processed once."""
        key, payment = correction.idempotency_key, correction.payment
        if payment is None:
            return _refused(key, "a payment correction without its payment")
        if payment.amount <= 0:
            return _refused(key, "Riverty takes only positive payment amounts")
        claim = self._claim_number(correction)
        if claim is None:
            return _not_yet(key)
        body = payment_body(
            payment,
            number=correction_number(key),
            invoice_number=correction.invoice_number or payment.invoice_number,
            contract_number=self.contract_number(correction.case_key),
            allocate_to=self.settings.allocate_payments_to,
        )
        return self._post_correction(key, claim, "payments", body, numbered=True)

    def reduce(self, correction: Correction) -> PushOutcome:
        """A credit note as a credit waiver, numbered so that a resend is processed once."""
        key, note = correction.idempotency_key, correction.credit_note
        if note is None:
            return _refused(key, "a reduction without its credit note")
        claim = self._claim_number(correction)
        if claim is None:
            return _not_yet(key)
        body = credit_waiver_body(
            note,
            number=correction_number(key),
            invoice_number=correction.invoice_number or note.invoice_number,
            contract_number=self.contract_number(correction.case_key),
        )
        return self._post_correction(key, claim, "creditWaivers", body, numbered=True)

    def withdraw(self, correction: Correction) -> PushOutcome:
        """A total recall of the claim, or a partial recall of what one invoice still owes."""
        key = correction.idempotency_key
        claim = self._claim_number(correction)
        if claim is None:
            return _not_yet(key)
        if correction.invoice_number is None:
            return self._post_correction(key, claim, "recalls", {}, numbered=False)
        invoice = self._invoice(claim, correction.invoice_number)
        if invoice is None:
            return _refused(key, "Riverty's claim holds no such invoice")
        if invoice.remaining <= 0:
            return PushOutcome(key, PushStatus.ACCEPTED, agency_ref=claim, reason="nothing left")
        body = recall_body(
            invoice_number=invoice.invoice_number,
            contract_number=self.contract_number(correction.case_key),
            amount=invoice.remaining,
            currency=invoice.currency,
            on=self.context.today,
            reason=correction.reason,
            recall_type=self.settings.partial_recall_type,
        )
        return self._post_correction(key, claim, "recalls", body, numbered=False)

    def _claim_number(self, correction: Correction) -> str | None:
        """Riverty's claim number: the reference the core holds, else the claim search."""
        ref = correction.agency_ref
        if ref and not ref.startswith(REQUEST_PREFIX):
            return ref
        outcome = self.lookup(self.contract_number(correction.case_key))
        if outcome is not None and outcome.status in _ACCEPTED_STATES and outcome.agency_ref:
            return outcome.agency_ref
        return None

    def _invoice(self, claim: str, invoice_number: str) -> InvoiceFound | None:
        path = f"/v1/claims/{quote(claim, safe='')}/invoices"
        for page in range(1, _MAX_PAGES + 1):
            params: dict[str, str | int] = {"page": page, "pageSize": _PAGE_SIZE}
            invoices, more = invoices_page(self._json(self.client.get(path, params=params), path))
            for invoice in invoices:
                if invoice.invoice_number == invoice_number:
                    return invoice
            if not more or not invoices:
                return None
        return None

    def _post_correction(
        self, key: str, claim: str, what: str, body: dict[str, Any], *, numbered: bool
    ) -> PushOutcome:
        """``numbered``: the body carries a number Riverty processes once, so a lost answer
        or a 5xx is simply retryable; without one it is unknown."""
        path = f"/v1/claims/{quote(claim, safe='')}/{what}"
        lost = PushStatus.RETRYABLE if numbered else PushStatus.UNKNOWN
        try:
            self.client.post(path, json=body, idempotent=numbered)
        except OutcomeUnknownError as exc:
            return PushOutcome(key, lost, agency_ref=claim, reason=str(exc))
        except (RateLimitedError, UnreachableError) as exc:
            return PushOutcome(key, PushStatus.RETRYABLE, agency_ref=claim, reason=str(exc))
        except RemoteError as exc:
            status = lost if (exc.status or 500) >= 500 else PushStatus.REJECTED
            return PushOutcome(key, status, agency_ref=claim, reason=str(exc))
        # a numbered correction is confirmed later (its receipt names the number); a recall
        # has no number to confirm it by: its effect shows as the claim's closing
        return PushOutcome(key, PushStatus.SENT if numbered else PushStatus.ACCEPTED, claim)

    # reading back -------------------------------------------------------------------------

    def updates(self, since: str | None) -> Iterator[AgencyUpdate]:
        """Transactions since the cursor, window by window; the last update of a window
        carries the window's end as its cursor, the others the previous safe point."""
        now = self._now().astimezone(dt.UTC).replace(microsecond=0)
        start = _parse_cursor(since) or now - dt.timedelta(days=self.settings.updates_lookback_days)
        overlap = dt.timedelta(minutes=self.settings.updates_overlap_minutes)
        size = dt.timedelta(hours=self.settings.updates_window_hours)
        safe = since or start.strftime(_STAMP)
        for low, high in iter_windows(min(start - overlap, now), now, size):
            params: dict[str, str | int] = {
                "from": low.strftime(_STAMP),
                "to": high.strftime(_STAMP),
            }
            answer = self._json(self.client.get("/v1/transactions", params=params), "transactions")
            found = [
                update
                for raw in transactions(answer)
                if (update := transaction_update(raw, self.name, safe)) is not None
            ]
            end = high.strftime(_STAMP)
            for i, update in enumerate(found):
                yield update if i < len(found) - 1 else replace(update, cursor=end)
            safe = end

    # checks -------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Config, then a token (auth), then one small transactions query (the API, and that
        it takes the token). Never raises: every failure is a typed item."""
        settings = self.settings
        return check_token_api(
            self.name,
            self._connect,
            settings.http,
            CheckItem(CheckKind.CONFIG, True, f"API {settings.url}, audience {settings.audience}"),
            issued="access token issued",
            api=self._check_api,
        )

    def _check_api(self, api: HttpClient) -> tuple[CheckItem, ...]:
        now = self._now().astimezone(dt.UTC).replace(microsecond=0)
        window = {
            "from": (now - dt.timedelta(minutes=1)).strftime(_STAMP),
            "to": now.strftime(_STAMP),
        }
        try:
            transactions(self._json(api.get("/v1/transactions", params=window), "transactions"))
        except AuthError as exc:
            kind = CheckKind.PERMISSION if exc.status == 403 else CheckKind.AUTH
            hint = "" if exc.status == 403 else " (is the audience that of this environment?)"
            reach = CheckItem(CheckKind.REACHABILITY, True, "collection API answered")
            return (reach, CheckItem(kind, False, f"{exc}{hint}"))
        except RemoteError as exc:
            if exc.status is not None and exc.status < 500:
                message = f"url does not look like Riverty's collection API: {exc}"
                return (CheckItem(CheckKind.CONFIG, False, message),)
            return (CheckItem(CheckKind.REACHABILITY, False, str(exc)),)
        except ParseError as exc:
            message = f"url answered, but not like Riverty's collection API ({exc})"
            return (CheckItem(CheckKind.CONFIG, False, message),)
        except ClaimbridgeError as exc:
            return (CheckItem(CheckKind.REACHABILITY, False, str(exc)),)
        reach = CheckItem(CheckKind.REACHABILITY, True, "collection API answered")
        return (reach, CheckItem(CheckKind.AUTH, True, "the API accepts the token"))


def _rest(
    outcomes: list[PushOutcome], items: Sequence[Delivery] | Sequence[Correction], reason: str
) -> list[PushOutcome]:
    rest = [PushOutcome(i.idempotency_key, PushStatus.RETRYABLE, reason=reason) for i in items]
    return [*outcomes, *rest[len(outcomes) :]]


def _refused(key: str, reason: str) -> PushOutcome:
    return PushOutcome(key, PushStatus.REJECTED, reason=reason)


def _not_yet(key: str) -> PushOutcome:
    reason = "Riverty has not confirmed the claim yet (no claim number): try again later"
    return PushOutcome(key, PushStatus.RETRYABLE, reason=reason)


def _parse_cursor(cursor: str | None) -> dt.datetime | None:
    if not cursor:
        return None
    try:
        return dt.datetime.strptime(cursor, _STAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        message = "not a Riverty transactions cursor (yyyy-mm-ddThh:mm:ssZ)"
        raise ParseError(message, field="cursor") from None
