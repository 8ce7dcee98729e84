"""The agency contract for Amili Sweden, over the fake of its ADA API (``responses``).

The connector authenticates as Amili documents it (a JWT signed with an EC key, exchanged for
an access token); waiting is recorded, never slept. Amili Sweden honours no idempotency key;
a lost answer is resolved by finding the registration whose first debt carries the key.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import responses

from claimbridge.connectors.agencies.amili_se import AmiliSwedenAgency, AmiliSwedenSettings
from claimbridge.connectors.base import Agency, ConnectorContext, Delivery
from tests.contract.agency_suite import AgencyContract, AgencyHarness, make_cases
from tests.fakes.amili_se import (
    ACCOUNT,
    API,
    API_CODE,
    CREDITOR,
    CUSTOMER_FIELDS,
    DEBT_FIELDS,
    REGISTRATION_FIELDS,
    FakeAmiliSweden,
    make_key,
)

OPTIONS: dict[str, Any] = {"max_retries": 2, "backoff_initial": 0.01, "retry_after_cap": 30}
PRIVATE_KEY, PUBLIC_KEY = make_key()


def amili_se_settings(api: str = API, **extra: Any) -> AmiliSwedenSettings:
    fields: dict[str, Any] = {
        "api_url": api,
        "auth_method": "jwt",
        "api_code": API_CODE,
        "private_key": PRIVATE_KEY,
        "account": ACCOUNT,
        "creditor": CREDITOR,
        "http": OPTIONS,
    }
    fields.update(extra)
    return AmiliSwedenSettings.model_validate(fields)


class AmiliSwedenHarness(AgencyHarness):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.fake = FakeAmiliSweden(public_key=PUBLIC_KEY)
        self.waited: list[float] = []

    @contextlib.contextmanager
    def _serve(self) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            self.fake.install(rsps)
            yield

    def serving(self) -> contextlib.AbstractContextManager[object]:
        return self._serve()

    def _agency(self, settings: AmiliSwedenSettings) -> Agency:
        context = ConnectorContext(name="amili-se-contract", workdir=self.root)
        return AmiliSwedenAgency(settings, context, sleep=self.waited.append)

    def agency(self) -> Agency:
        return self._agency(amili_se_settings())

    def broken_agency(self) -> Agency:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        return self._agency(amili_se_settings(api=f"http://127.0.0.1:{port}"))

    def held_cases(self) -> int:
        return self.fake.held_cases()

    def held_corrections(self) -> int:
        return len(self.fake.payments) + len(self.fake.creditings)

    def calls(self) -> int:
        return self.fake.requests

    def sleeps(self) -> list[float]:
        return self.waited

    def rate_limit_next(self, retry_after: int) -> None:
        self.fake.throttle_next, self.fake.retry_after = 1, retry_after

    def reject_next(self) -> str:
        self.fake.refuse_next = ("customer.id_number", "not a valid personnummer")
        return "not a valid personnummer"

    def lose_next_answer(self) -> None:
        self.fake.lose_next = 1


class TestAmiliSwedenAgencyContract(AgencyContract):
    harness_class: ClassVar[type[AgencyHarness]] = AmiliSwedenHarness

    def test_registrations_follow_the_documented_payload(self, harness: AgencyHarness) -> None:
        """Every registration sent uses documented fields only, and every answer the
        connector read had the documented shape."""
        assert isinstance(harness, AmiliSwedenHarness)
        agency = harness.agency()
        try:
            outcomes = agency.push([Delivery(f"shape-{i}", c) for i, c in enumerate(make_cases(3))])
        finally:
            agency.close()
        posts = [
            e
            for e in harness.fake.exchanges
            if e.path == "/case--registrations" and e.method == "POST"
        ]
        assert len(posts) == 3
        for exchange in posts:
            assert set(exchange.body) <= REGISTRATION_FIELDS
            assert set(exchange.body["customer"]) <= CUSTOMER_FIELDS
            for debt in exchange.body["debts"]:
                assert set(debt) <= DEBT_FIELDS
            assert exchange.status == 201
            assert {"_id", "_status", "_cases", "_ocr_numbers", "_ocr_numbers_ocr"} <= set(
                exchange.response
            )
        for outcome, exchange in zip(outcomes, posts, strict=True):
            number = exchange.body["debts"][0]["invoice_number"]
            assert outcome.payment_refs == {number: exchange.response["_ocr_numbers_ocr"][0]}
