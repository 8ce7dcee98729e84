"""Amili Norway (Collection API, "AutoCollect"): asynchronous invoice batches, corrections,
settlements and signed webhooks.

A push submits one batch of invoices (``POST /orgs/{org}/invoices``, answered 202) and polls
it (``GET /orgs/{org}/batches/{id}``) every ``poll_interval_s`` until it leaves ``QUEUED`` or
``poll_deadline_s`` has passed. A finished batch gives each delivery its own outcome — Amili
may accept some invoices and refuse others (``PARTIAL``). A delivery whose batch is still
queued at the deadline is ``SENT`` with a handle that :meth:`AmiliAgency.lookup` resolves later.

Amili does not document idempotency keys on invoice creation, so a POST is never retried after
it may have arrived. Instead every invoice carries ``uniqueSourceInvoiceId`` derived from the
delivery's key, and a lost answer is resolved by asking Amili for the invoices under it.
See ``docs/connectors/amili.md`` for what is documented and what is configuration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator

from claimbridge.connectors.agencies._amili_batches import (
    Batch,
    correction_outcome,
    outcome_for,
    parse_batch,
    parse_handle,
)
from claimbridge.connectors.agencies._amili_events import (
    SettlementFields,
    UpdatesCursor,
    json_body,
    settlement_id_of,
    settlements_from,
    updates_from_event,
)
from claimbridge.connectors.agencies._amili_http import (
    amili_error_info,
    json_object,
)
from claimbridge.connectors.agencies._amili_payload import (
    correction_body,
    invoices_for,
    payment_body,
    source_invoice_id,
)
from claimbridge.connectors.agencies._checks import check_token_api, probe
from claimbridge.connectors.agencies._rest import send_outcome
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
    PushOutcome,
    PushStatus,
)
from claimbridge.errors import AuthError, ParseError, RemoteError
from claimbridge.grouping import idempotency_key
from claimbridge.transport.http import HttpClient, HttpOptions, HttpSettings, check_base_url
from claimbridge.transport.signature import HmacScheme, header, verify_hmac
from claimbridge.transport.tokens import (
    ExpiringTokens,
    TokenClients,
    client_credentials,
    token_endpoint_settings,
)
from claimbridge.webhooks import read_spool, spool_dir

__all__ = ["AmiliAgency", "AmiliSettings"]

log = logging.getLogger("claimbridge.amili")

_MAX_BATCH = 1000
_MAX_CLAIMS = 500  # invoices looked up per delivery at most
_PAGE = 100


class AmiliSettings(ConnectorSettings):
    api_url: str = Field(
        default="https://api.amili.no/collection/v1",
        description="Collection API root (staging: https://api.staging.amili.no/collection/v1)",
    )
    token_url: str = Field(
        default="https://auth.amili.no/token",
        description="Identiverse token endpoint (staging: https://auth.staging.amili.no/token)",
    )
    client_id: str = Field(min_length=1, description="the client id Amili issued")
    client_secret: SecretStr = Field(description="its client secret (a ${ENV} reference)")
    scope: str | None = Field(default=None, description="OAuth scope, if Amili asks for one")
    organization_id: str = Field(
        min_length=1, description="the organization id (UUID) Amili issued"
    )
    invoice_type: str = Field(default="NOTICE", description="Amili invoice type: NOTICE, …")
    vat: bool = Field(default=True, description="Amili's 'vat' flag on each invoice")
    fees: bool = Field(default=True, description="Amili's 'fees' flag on each invoice")
    send_national_id: bool = Field(default=True, description="send persons' national id")
    batch_size: int = Field(default=200, ge=1, le=_MAX_BATCH, description="invoices per batch")
    poll_interval_s: float = Field(
        default=2.0, gt=0, le=300, description="seconds between polls of a queued batch"
    )
    poll_deadline_s: float = Field(
        default=60.0, ge=0, le=3600, description="stop polling after this long: the case is SENT"
    )
    pending_states: tuple[str, ...] = Field(
        default=("QUEUED",), min_length=1, description="batch states that mean 'not done yet'"
    )
    invoice_lookup_param: str = Field(
        default="uniqueSourceInvoiceId", description="query parameter that filters invoices"
    )
    correction_key_header: str | None = Field(
        default="IdempotencyKey",
        description="header carrying a correction's key, found again with the batch list's "
        "IdempotencyKey filter (not public: confirm with Amili; unset: lost corrections go to "
        "a person)",
    )
    pause_path: str = Field(
        default="/orgs/{organization_id}/cases/{case_id}/pause",
        description="PauseCase path (not public: confirm with Amili)",
    )
    resume_path: str = Field(
        default="/orgs/{organization_id}/cases/{case_id}/resume",
        description="ResumeCase path (not public: confirm with Amili)",
    )
    withdraw_path: str = Field(
        default="/orgs/{organization_id}/cases/{case_id}/withdraw",
        description="WithdrawCase path (not public: confirm with Amili)",
    )
    settlements_from: date | None = Field(
        default=None, description="first settlement date to read (default: 90 days back)"
    )
    settlement_fields: SettlementFields = Field(default_factory=SettlementFields)
    webhook: HmacScheme | None = Field(
        default=None,
        description="how Amili signs webhooks (needed by `claimbridge webhooks serve`)",
        examples=[{"secret": "${CLAIMBRIDGE_AMILI_WEBHOOK_SECRET}"}],
    )
    webhook_idempotency_header: str = Field(
        default="IdempotencyKey", description="header with the event's de-duplication key"
    )
    http: HttpOptions = Field(default_factory=HttpOptions)

    @field_validator("api_url", "token_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return check_base_url(value)

    @field_validator("pending_states")
    @classmethod
    def _upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(state.strip().upper() for state in value)


class AmiliAgency(Agency):
    """Push invoices to Amili Norway and read back what happened to them."""

    type_name: ClassVar[str] = "amili"
    Settings: ClassVar[type[ConnectorSettings]] = AmiliSettings
    capabilities: ClassVar[AgencyCapabilities] = AgencyCapabilities(
        idempotency_keys=False,
        lookup=True,
        batch_size=200,
        async_acceptance=True,
        report_payments=True,
        withdraw=True,
        reduce=True,
        pause=True,
        webhooks=True,
    )

    settings: AmiliSettings

    def __init__(
        self,
        settings: ConnectorSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings, context)
        self._sleep = sleep
        self._clock = clock
        self._clients: TokenClients[ExpiringTokens] | None = None

    @property
    def name(self) -> str:
        return self.context.name or self.type_name

    # clients -----------------------------------------------------------------------------

    @property
    def client(self) -> HttpClient:
        if self._clients is None:
            self._clients = self._connect(self.settings.http)
        return self._clients.api

    def _connect(self, options: HttpOptions) -> TokenClients[ExpiringTokens]:
        settings = self.settings
        # Identiverse's client-credentials tokens live about an hour; Amili asks integrations
        # to keep one until it ends rather than ask for one per call.
        request = client_credentials(
            settings.client_id, settings.client_secret, scope=settings.scope
        )
        return TokenClients.connect(
            HttpSettings.from_options(settings.api_url, options),
            token_endpoint_settings(settings.token_url, options),
            lambda endpoint: ExpiringTokens(
                endpoint,
                request,
                store=self.context.credentials,
                key=f"amili:{self.name}:{settings.client_id}",
                name=self.name,
                what="an Amili access token",
                logger=log,
            ),
            error_parser=amili_error_info,
            sleep=self._sleep,
            name=self.name,
        )

    def close(self) -> None:
        if self._clients is not None:
            self._clients.close()
            self._clients = None

    def _org(self, path: str) -> str:
        return f"/orgs/{quote(self.settings.organization_id, safe='')}{path}"

    # pushing -----------------------------------------------------------------------------

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        outcomes: dict[str, PushOutcome] = {}
        for batch in self._batches(deliveries):
            for outcome in self._push_batch(batch):
                outcomes[outcome.idempotency_key] = outcome
        return [outcomes[d.idempotency_key] for d in deliveries]

    def _batches(self, deliveries: Sequence[Delivery]) -> Iterator[list[Delivery]]:
        """Batches of at most ``batch_size`` invoices in which no invoice number repeats (the
        batch answer names invoices by number). A case larger than a batch goes alone."""
        batch: list[Delivery] = []
        numbers: set[str] = set()
        for delivery in deliveries:
            own = {c.invoice_number for c in delivery.case.claims}
            full = len(numbers) + len(own) > self.settings.batch_size
            if batch and (full or numbers & own):
                yield batch
                batch, numbers = [], set()
            batch.append(delivery)
            numbers |= own
        if batch:
            yield batch

    def _push_batch(self, batch: Sequence[Delivery]) -> list[PushOutcome]:
        invoices = [
            invoice
            for d in batch
            for invoice in invoices_for(
                d.case,
                d.idempotency_key,
                invoice_type=self.settings.invoice_type,
                vat=self.settings.vat,
                fees=self.settings.fees,
                send_national_id=self.settings.send_national_id,
            )
        ]
        keys = [d.idempotency_key for d in batch]
        sent = send_outcome(
            lambda: self.client.post(self._org("/invoices"), json={"invoices": invoices}), keys
        )
        if isinstance(sent, list):
            return sent
        created = parse_batch(json_object(sent, "invoice batch", self.name), where="invoice batch")
        finished = self._poll(created)
        pending = frozenset(self.settings.pending_states)
        return [
            outcome_for(
                d.idempotency_key, [c.invoice_number for c in d.case.claims], finished, pending
            )
            for d in batch
        ]

    def _poll(self, batch: Batch) -> Batch:
        """The batch once it has left the pending states, or as it is at the deadline."""
        pending = frozenset(self.settings.pending_states)
        deadline = self._clock() + self.settings.poll_deadline_s
        while batch.pending(pending) and self._clock() < deadline:
            self._sleep(min(self.settings.poll_interval_s, max(0.0, deadline - self._clock())))
            batch = self._get_batch(batch.batch_id)
        return batch

    def _get_batch(self, batch_id: str) -> Batch:
        response = self.client.get(self._org(f"/batches/{quote(batch_id, safe='')}"))
        return parse_batch(json_object(response, "batch", self.name))

    def lookup(self, idempotency_key: str, agency_ref: str | None = None) -> PushOutcome | None:
        """From a SENT handle: the batch's verdict (``SENT`` while it is queued). Without
        one: the invoices Amili holds under the delivery's ``uniqueSourceInvoiceId``s."""
        handle = parse_handle(agency_ref) if agency_ref else None
        if handle is not None:
            batch_id, numbers = handle
            try:
                batch = self._get_batch(batch_id)
            except RemoteError as exc:
                if exc.status == 404:
                    return None
                raise
            pending = frozenset(self.settings.pending_states)
            return outcome_for(idempotency_key, numbers, batch, pending)
        found = self._invoices_of(idempotency_key)
        if not found:
            by_key = self._correction_batch(idempotency_key)
            if by_key is not None:
                return by_key
            if self._batches_queued():
                reason = "Amili has batches still queued; asked again next run"
                return PushOutcome(idempotency_key, PushStatus.UNKNOWN, reason=reason)
            return None
        case_ids = list(dict.fromkeys(str(i.get("caseId") or "") for i in found))
        if not all(case_ids):
            return PushOutcome(idempotency_key, PushStatus.UNKNOWN, reason="held without a case id")
        return PushOutcome(idempotency_key, PushStatus.ACCEPTED, agency_ref=",".join(case_ids))

    @property
    def resendable_corrections(self) -> frozenset[CorrectionKind]:
        """Payments and credit notes, found by their key when it travels with them; never the
        case actions (withdraw, pause, resume), which Amili cannot be asked about."""
        if self.settings.correction_key_header is None:
            return frozenset()
        return frozenset({CorrectionKind.PAYMENT, CorrectionKind.REDUCE})

    def _correction_batch(self, key: str) -> PushOutcome | None:
        """The batch a correction sent under ``key`` made, by the batch list's documented
        ``IdempotencyKey`` filter; None when there is none (or keys are not sent)."""
        if self.settings.correction_key_header is None:
            return None
        params: dict[str, str | int] = {"IdempotencyKey": key, "PageSize": 2}
        answer = json_object(
            self.client.get(self._org("/batches"), params=params), "batch list", self.name
        )
        data = answer.get("data")
        if not isinstance(data, list):
            raise ParseError("Amili's batch list has no 'data' list", field="data")
        batches = [parse_batch(item, where="batch list") for item in data if item is not None]
        if len(batches) > 1:  # one key, one batch: the filter was not applied
            reason = "Amili listed several batches for one key; is the IdempotencyKey filter on?"
            return PushOutcome(key, PushStatus.UNKNOWN, reason=reason)
        if not batches:
            return None
        return correction_outcome(key, batches[0], frozenset(self.settings.pending_states))

    def _batches_queued(self) -> bool:
        """Whether Amili still has unprocessed batches: a delivery may be in one of them."""
        params: dict[str, str | int] = {"PageSize": 1}
        for state in self.settings.pending_states:
            params["State"] = state
            answer = json_object(
                self.client.get(self._org("/batches"), params=params), "batch list", self.name
            )
            data = answer.get("data")
            if not isinstance(data, list):
                raise ParseError("Amili's batch list has no 'data' list", field="data")
            if data:
                return True
        return False

    def _invoices_of(self, delivery_key: str) -> list[dict[str, Any]]:
        """Amili's invoices for a delivery: ``<key>-0``, ``<key>-1``, … until one is missing."""
        found = []
        for index in range(_MAX_CLAIMS):
            invoice = self._invoice_by_source_id(source_invoice_id(delivery_key, index))
            if invoice is None:
                break
            found.append(invoice)
        return found

    def _invoice_by_source_id(self, unique_id: str) -> dict[str, Any] | None:
        response = self.client.get(
            self._org("/invoices"), params={self.settings.invoice_lookup_param: unique_id}
        )
        data = json_object(response, "invoice list", self.name).get("data")
        if not isinstance(data, list):
            raise ParseError("Amili's invoice list has no 'data' list", field="data")
        for invoice in data:  # never trust that the filter was applied
            if isinstance(invoice, dict) and invoice.get("uniqueSourceInvoiceId") == unique_id:
                return invoice
        return None

    # corrections -------------------------------------------------------------------------

    def report_payment(self, correction: Correction) -> PushOutcome:
        return self._invoice_correction(correction, "/payments", payment_body)

    def reduce(self, correction: Correction) -> PushOutcome:
        return self._invoice_correction(correction, "/corrections", correction_body)

    def _invoice_correction(
        self,
        correction: Correction,
        path: str,
        body: Callable[[Correction, str], dict[str, Any]],
    ) -> PushOutcome:
        key = correction.idempotency_key
        if not correction.invoice_number:
            return PushOutcome(key, PushStatus.REJECTED, reason="names no invoice")
        invoice_id = self._invoice_id(correction.case_key, correction.invoice_number)
        if invoice_id is None:
            reason = f"Amili holds no invoice {correction.invoice_number} for this case"
            return PushOutcome(key, PushStatus.REJECTED, reason=reason)
        payload = body(correction, invoice_id)
        header = self.settings.correction_key_header
        headers = {header: key} if header else None
        sent = send_outcome(
            lambda: self.client.post(self._org(path), json=payload, headers=headers), [key]
        )
        if isinstance(sent, list):
            return sent[0]
        return self._correction_verdict(key, sent, correction.invoice_number)

    def _correction_verdict(self, key: str, response: Any, invoice_number: str) -> PushOutcome:
        """A correction answered 202 with a batch is polled like an invoice batch."""
        try:
            created = parse_batch(json_object(response, "answer", self.name))
        except ParseError:
            return PushOutcome(key, PushStatus.ACCEPTED, agency_ref=None)
        finished = self._poll(created)
        outcome = outcome_for(
            key, [invoice_number], finished, frozenset(self.settings.pending_states)
        )
        if outcome.status is PushStatus.UNKNOWN and finished.status == "SUCCESS":
            return PushOutcome(key, PushStatus.ACCEPTED, agency_ref=f"batch/{finished.batch_id}")
        return outcome

    def _invoice_id(self, case_key: str, invoice_number: str) -> str | None:
        delivery_key = idempotency_key(self.name, case_key)
        for invoice in self._invoices_of(delivery_key):
            if str(invoice.get("invoiceNumber")) == invoice_number and invoice.get("invoiceId"):
                return str(invoice["invoiceId"])
        return None

    def withdraw(self, correction: Correction) -> PushOutcome:
        return self._case_action(correction, self.settings.withdraw_path)

    def pause(self, correction: Correction) -> PushOutcome:
        return self._case_action(correction, self.settings.pause_path)

    def resume(self, correction: Correction) -> PushOutcome:
        return self._case_action(correction, self.settings.resume_path)

    def _case_action(self, correction: Correction, template: str) -> PushOutcome:
        key = correction.idempotency_key
        body = {"reason": correction.reason} if correction.reason else {}
        for case_id in [c for c in correction.agency_ref.split(",") if c]:
            path = template.format(
                organization_id=quote(self.settings.organization_id, safe=""),
                case_id=quote(case_id, safe=""),
            )
            sent = send_outcome(partial(self.client.post, path, json=body), [key])
            if isinstance(sent, list):
                return sent[0]
        return PushOutcome(key, PushStatus.ACCEPTED, agency_ref=correction.agency_ref)

    # reading back ------------------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[AgencyUpdate]:
        scheme = self.settings.webhook
        if scheme is None:
            raise AuthError("no webhook secret is configured for Amili", connector=self.name)
        verify_hmac(scheme, headers, body, connector=self.name)
        event = json_body(body)
        event_key = header(headers, self.settings.webhook_idempotency_header)
        if not event_key and isinstance(event, dict):
            event_key = str(event.get("id") or "")
        if not event_key:
            raise ParseError("Amili's webhook has no idempotency key and no id")
        return updates_from_event(event, event_key)

    def updates(self, since: str | None) -> Iterator[AgencyUpdate]:
        """Spooled webhook events first (in arrival order), then settlements polled from
        ``since``'s date; each update carries the cursor that is safe to store after it."""
        cursor = UpdatesCursor.parse(
            since, self.settings.settlements_from or self.context.today - timedelta(days=90)
        )
        for name, event_key, body in read_spool(
            spool_dir(self.context.workdir, self.name), cursor.spool
        ):
            event = json_body(body)
            cursor = cursor.with_spool(name)
            found = updates_from_event(event, event_key.removeprefix("amili:"))
            settlement_id = settlement_id_of(event)
            if settlement_id is not None:
                for settlement in self._settlement(settlement_id):
                    found.append(
                        AgencyUpdate(update_id=settlement.settlement_id, settlement=settlement)
                    )
            for update in found:
                yield replace(update, cursor=cursor.text())
        yield from self._settlements_since(cursor)

    def _settlement(self, settlement_id: str) -> list[Any]:
        """The settlement an event announced; none yet if Amili cannot show it (polling, which
        re-reads from the last settlement date, brings it later under the same id)."""
        try:
            response = self.client.get(self._org(f"/settlements/{quote(settlement_id, safe='')}"))
        except RemoteError as exc:
            if exc.status == 404:
                return []
            raise
        data = json_object(response, "settlement", self.name).get("data")
        records = data if isinstance(data, list) else [data]
        return settlements_from(records, self.settings.settlement_fields, self.name)

    def _settlements_since(self, cursor: UpdatesCursor) -> Iterator[AgencyUpdate]:
        token: str | None = None
        latest = cursor.settled_from
        while True:
            params: dict[str, str | int] = {
                "fromDate": cursor.settled_from.isoformat(),
                "pageSize": _PAGE,
            }
            if token:
                params["pageToken"] = token
            answer = json_object(
                self.client.get(self._org("/settlements"), params=params),
                "settlement page",
                self.name,
            )
            records = answer.get("data")
            if not isinstance(records, list):
                raise ParseError("Amili's settlement page has no 'data' list", field="data")
            for settlement in settlements_from(records, self.settings.settlement_fields, self.name):
                latest = max(latest, settlement.settlement_date)
                yield AgencyUpdate(
                    update_id=settlement.settlement_id,
                    settlement=settlement,
                    cursor=cursor.with_settled(latest).text(),
                )
            summary = answer.get("summary")
            token = summary.get("nextPageToken") if isinstance(summary, dict) else None
            if not isinstance(token, str) or not token or not records:
                return

    # checks ------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Config, a token from Identiverse (auth), then one small batch list (the API, and
        that the token may read the organization)."""
        organization = self.settings.organization_id
        batches = self._org("/batches")
        return check_token_api(
            self.name,
            self._connect,
            self.settings.http,
            CheckItem(CheckKind.CONFIG, True, f"organization {organization}"),
            issued="client credentials accepted",
            api=lambda client: [
                probe(
                    lambda: client.get(batches, params={"PageSize": 1}),
                    answered="Collection API answered",
                )
            ],
        )
