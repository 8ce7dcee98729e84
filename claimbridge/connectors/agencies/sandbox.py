"""The connector for the sandbox agency (``claimbridge sandbox``), and the model REST agency.

The sandbox honours idempotency keys, so a batch POST may be retried safely and a delivery
whose answer was lost can be looked up by its key. Vendor agency connectors follow the same
shape: settings, an :class:`HttpClient`, and a mapping of the agency's answers to outcomes.

Corrections (direct payments, credit-note reductions, withdrawals, pause and resume) go in one
batch call per chunk and are looked up by key like cases.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote

import requests
from pydantic import Field, SecretStr, ValidationError, field_validator

from claimbridge.connectors.agencies._checks import config_failed, quick
from claimbridge.connectors.agencies._rest import json_object, send_outcome
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
    Delivery,
    PushOutcome,
    PushStatus,
)
from claimbridge.errors import (
    AuthError,
    ClaimbridgeError,
    ParseError,
    RemoteError,
)
from claimbridge.schemas import CaseEvent, Direction, EventKind, Settlement
from claimbridge.transport.http import (
    BearerAuth,
    HttpClient,
    HttpOptions,
    HttpSettings,
    check_base_url,
)

__all__ = ["SandboxAgency", "SandboxSettings"]

_MAX_BATCH = 500  # the sandbox refuses larger batches
_EVENT_PAGE = 200


class SandboxSettings(ConnectorSettings):
    url: str = Field(description="root of the sandbox API, e.g. http://127.0.0.1:8765")
    token: SecretStr = Field(description="bearer token the sandbox was started with")
    batch_size: int = Field(default=200, ge=1, le=_MAX_BATCH)
    http: HttpOptions = Field(default_factory=HttpOptions)

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return check_base_url(value)


class SandboxAgency(Agency):
    """Push cases to the sandbox agency and read back what happened to them."""

    type_name: ClassVar[str] = "sandbox"
    Settings: ClassVar[type[ConnectorSettings]] = SandboxSettings
    capabilities: ClassVar[AgencyCapabilities] = AgencyCapabilities(
        idempotency_keys=True,
        lookup=True,
        batch_size=200,
        report_payments=True,
        withdraw=True,
        reduce=True,
        pause=True,
    )

    settings: SandboxSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._client: HttpClient | None = None

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = self._make_client(self.settings.http)
        return self._client

    def _make_client(self, options: HttpOptions) -> HttpClient:
        return HttpClient(
            HttpSettings.from_options(self.settings.url, options),
            auth=BearerAuth(self.settings.token),
            name=self.context.name or self.type_name,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # pushing -----------------------------------------------------------------------------

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        outcomes: list[PushOutcome] = []
        size = self.settings.batch_size
        for start in range(0, len(deliveries), size):
            outcomes.extend(self._push_batch(deliveries[start : start + size]))
        return outcomes

    def _push_batch(self, batch: Sequence[Delivery]) -> list[PushOutcome]:
        body = {
            "items": [
                {"idempotency_key": d.idempotency_key, "case": d.case.model_dump(mode="json")}
                for d in batch
            ]
        }
        keys = [d.idempotency_key for d in batch]
        send = partial(self.client.post, "/v1/cases/batch", json=body, idempotent=True)
        sent = send_outcome(send, keys)
        if isinstance(sent, list):
            return sent
        results = _results_by_key(_json(sent, "batch answer"))
        return [self._outcome(key, results.get(key)) for key in keys]

    @staticmethod
    def _outcome(key: str, result: dict[str, Any] | None) -> PushOutcome:
        if result is None:  # the agency left it out: we cannot tell what it did
            return PushOutcome(key, PushStatus.UNKNOWN, reason="missing from the batch answer")
        if result.get("status") == "accepted" and result.get("agency_ref"):
            return PushOutcome(key, PushStatus.ACCEPTED, agency_ref=str(result["agency_ref"]))
        if result.get("status") == "rejected":
            return PushOutcome(key, PushStatus.REJECTED, reason=str(result.get("reason") or ""))
        return PushOutcome(key, PushStatus.UNKNOWN, reason="unrecognized answer from the agency")

    def lookup(self, idempotency_key: str, agency_ref: str | None = None) -> PushOutcome | None:
        """A case delivery by its key, else a correction by its key (None: neither)."""
        quoted = quote(idempotency_key, safe="")
        for path in (f"/v1/cases/by-key/{quoted}", f"/v1/corrections/by-key/{quoted}"):
            try:
                response = self.client.get(path)
            except RemoteError as exc:
                if exc.status == 404:
                    continue
                raise
            answer = _json(response, "lookup answer")
            if path.startswith("/v1/cases/"):
                return self._outcome(idempotency_key, answer)
            return self._correction_outcome(idempotency_key, answer)
        return None

    # corrections -------------------------------------------------------------------------

    def correct(self, corrections: Sequence[Correction]) -> list[PushOutcome]:
        outcomes: list[PushOutcome] = []
        for start in range(0, len(corrections), _MAX_BATCH):
            outcomes.extend(self._correct_batch(corrections[start : start + _MAX_BATCH]))
        return outcomes

    def report_payment(self, correction: Correction) -> PushOutcome:
        return self.correct([correction])[0]

    def reduce(self, correction: Correction) -> PushOutcome:
        return self.correct([correction])[0]

    def withdraw(self, correction: Correction) -> PushOutcome:
        return self.correct([correction])[0]

    def pause(self, correction: Correction) -> PushOutcome:
        return self.correct([correction])[0]

    def resume(self, correction: Correction) -> PushOutcome:
        return self.correct([correction])[0]

    def _correct_batch(self, batch: Sequence[Correction]) -> list[PushOutcome]:
        body = {"items": [_correction_item(c) for c in batch]}
        keys = [c.idempotency_key for c in batch]
        send = partial(self.client.post, "/v1/corrections/batch", json=body, idempotent=True)
        sent = send_outcome(send, keys)
        if isinstance(sent, list):
            return sent
        results = _results_by_key(_json(sent, "corrections answer"))
        return [self._correction_outcome(k, results.get(k)) for k in keys]

    @staticmethod
    def _correction_outcome(key: str, result: dict[str, Any] | None) -> PushOutcome:
        if result is None:
            return PushOutcome(key, PushStatus.UNKNOWN, reason="missing from the answer")
        if result.get("status") == "accepted" and result.get("correction_id"):
            return PushOutcome(key, PushStatus.ACCEPTED, agency_ref=str(result["correction_id"]))
        if result.get("status") == "rejected":
            return PushOutcome(key, PushStatus.REJECTED, reason=str(result.get("reason") or ""))
        return PushOutcome(key, PushStatus.UNKNOWN, reason="unrecognized answer from the agency")

    # reading back ------------------------------------------------------------------------

    def updates(self, since: str | None) -> Iterator[AgencyUpdate]:
        cursor = since or "0"
        while True:
            response = self.client.get("/v1/events", params={"after": cursor, "limit": _EVENT_PAGE})
            events = _json(response, "events page").get("events")
            if not isinstance(events, list) or not events:
                return
            for raw in events:
                yield self._update(raw)
                cursor = str(raw["cursor"])
            if len(events) < _EVENT_PAGE:
                return

    @staticmethod
    def _update(raw: Any) -> AgencyUpdate:
        """A status event becomes a :class:`CaseEvent`, a settlement event a :class:`Settlement`.

        Update ids are the sandbox's event ids, so re-reading a page yields the same dedup keys.
        """
        try:
            cursor = str(raw["cursor"])
            update_id = f"sandbox:{raw['event_id']}"
            if raw["kind"] == EventKind.SETTLEMENT:
                data = raw.get("data")
                if not isinstance(data, dict):
                    raise TypeError("settlement event without data")
                settlement = Settlement.model_validate(data["settlement"])
                return AgencyUpdate(update_id=update_id, settlement=settlement, cursor=cursor)
            fields = {k: raw[k] for k in ("event_id", "case_key", "at", "kind", "status")}
            event = CaseEvent(
                **fields,
                agency_ref=raw.get("agency_ref"),
                message=raw.get("message") or "",
                direction=Direction.IN,
            )
        except (KeyError, TypeError, ValidationError) as exc:
            raise ParseError(
                f"unusable event from the sandbox ({type(exc).__name__})", field="events"
            ) from None
        return AgencyUpdate(update_id=update_id, event=event, cursor=cursor)

    # checks ------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        name = self.context.name or self.type_name
        try:
            client = self._make_client(quick(self.settings.http))
        except (ValueError, ClaimbridgeError) as exc:
            return config_failed(name, exc)
        config = CheckItem(CheckKind.CONFIG, True, f"URL {self.settings.url}")
        with client:
            try:
                client.get("/v1/health")
            except ClaimbridgeError as exc:
                return CheckResult(
                    name,
                    (
                        config,
                        CheckItem(CheckKind.REACHABILITY, False, str(exc)),
                        CheckItem(CheckKind.AUTH, False, "not checked: the agency is unreachable"),
                    ),
                )
            reachable = CheckItem(CheckKind.REACHABILITY, True, "health endpoint answered")
            try:
                client.get("/v1/cases", params={"limit": 1})
            except AuthError as exc:
                auth = CheckItem(CheckKind.AUTH, False, str(exc))
            except ClaimbridgeError as exc:
                auth = CheckItem(CheckKind.AUTH, False, f"could not verify the token: {exc}")
            else:
                auth = CheckItem(CheckKind.AUTH, True, "token accepted")
        return CheckResult(name, (config, reachable, auth))


def _correction_item(correction: Correction) -> dict[str, Any]:
    """A correction as the sandbox's API takes it: amounts, dates and references only."""
    item: dict[str, Any] = {
        "idempotency_key": correction.idempotency_key,
        "agency_ref": correction.agency_ref,
        "kind": correction.kind.value,
        "invoice_number": correction.invoice_number,
    }
    if correction.payment is not None:
        payment = correction.payment
        item.update(
            amount=str(payment.amount),
            currency=payment.currency,
            booking_date=payment.booking_date.isoformat(),
        )
    if correction.credit_note is not None:
        note = correction.credit_note
        item.update(
            amount=str(note.amount),
            currency=note.currency,
            credit_note_number=note.credit_note_number,
        )
    if correction.reason:
        item["reason"] = correction.reason
    return item


def _json(response: requests.Response, what: str) -> dict[str, Any]:
    return json_object(response, what, "the sandbox")


def _results_by_key(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    results = answer.get("results")
    if not isinstance(results, list):
        raise ParseError("the sandbox's batch answer has no 'results' list", field="results")
    return {
        str(r["idempotency_key"]): r
        for r in results
        if isinstance(r, dict) and "idempotency_key" in r
    }
