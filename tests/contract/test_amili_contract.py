"""The agency contract for Amili Norway, over the fake of its Collection API (``responses``).

Waiting costs no time: the connector gets a recording ``sleep`` and a clock that moves only
when it sleeps, so batch polling and a ``Retry-After: 7`` are asserted, not slept. Amili
honours no idempotency key on invoice creation; the connector resolves a lost answer by
looking the delivery's invoices up under their ``uniqueSourceInvoiceId``.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import responses

from claimbridge.connectors.agencies.amili import AmiliAgency, AmiliSettings
from claimbridge.connectors.base import Agency, ConnectorContext, Delivery
from tests.contract.agency_suite import AgencyContract, AgencyHarness, make_cases
from tests.fakes.amili import (
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    DOCUMENTED_INVOICE_FIELDS,
    ORG,
    TOKEN_URL,
    FakeAmili,
)

OPTIONS: dict[str, Any] = {"max_retries": 2, "backoff_initial": 0.01, "retry_after_cap": 30}


def amili_settings(api: str = API, token_url: str = TOKEN_URL, **extra: Any) -> AmiliSettings:
    fields: dict[str, Any] = {
        "api_url": api,
        "token_url": token_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "organization_id": ORG,
        "batch_size": 3,
        "poll_interval_s": 2,
        "poll_deadline_s": 30,
        "http": OPTIONS,
    }
    fields.update(extra)
    return AmiliSettings.model_validate(fields)


class VirtualTime:
    """A clock that advances only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.waited: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waited.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class AmiliHarness(AgencyHarness):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.fake = FakeAmili()
        self.time = VirtualTime()

    @contextlib.contextmanager
    def _serve(self) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            self.fake.install(rsps)
            yield

    def serving(self) -> contextlib.AbstractContextManager[object]:
        return self._serve()

    def _agency(self, settings: AmiliSettings) -> Agency:
        context = ConnectorContext(name="amili-contract", workdir=self.root)
        return AmiliAgency(settings, context, sleep=self.time.sleep, clock=self.time.clock)

    def agency(self) -> Agency:
        return self._agency(amili_settings())

    def broken_agency(self) -> Agency:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        return self._agency(amili_settings(api=url, token_url=f"{url}/token"))

    def held_cases(self) -> int:
        return self.fake.held_deliveries()

    def held_corrections(self) -> int:
        """Payments and credit notes Amili took, and every case action it carried out."""
        return len(self.fake.payments) + len(self.fake.corrections) + len(self.fake.case_actions)

    def calls(self) -> int:
        return self.fake.requests

    def sleeps(self) -> list[float]:
        return self.time.waited

    def rate_limit_next(self, retry_after: int) -> None:
        self.fake.throttle_next, self.fake.retry_after = 1, retry_after

    def reject_next(self) -> str:
        self.fake.refuse_next = (422, "the debtor's address is incomplete")
        return "the debtor's address is incomplete"

    def lose_next_answer(self) -> None:
        self.fake.lose_next = 1


class TestAmiliAgencyContract(AgencyContract):
    harness_class: ClassVar[type[AgencyHarness]] = AmiliHarness

    def test_batches_follow_the_documented_payloads(self, harness: AgencyHarness) -> None:
        """Every invoice batch sent holds documented invoice fields only (plus the debtor
        block and the amounts and references named in docs/connectors/amili.md)."""
        assert isinstance(harness, AmiliHarness)
        agency = harness.agency()
        try:
            agency.push([Delivery(f"shape-{i}", c) for i, c in enumerate(make_cases(4))])
        finally:
            agency.close()
        posts = [
            e for e in harness.fake.exchanges if e.method == "POST" and e.path.endswith("/invoices")
        ]
        assert posts
        assert all(e.status == 202 for e in posts)
        extra_allowed = {"remainingAmount", "debtor", "kid", "contractReference"}
        for exchange in posts:
            for invoice in exchange.body["invoices"]:
                assert set(invoice) <= DOCUMENTED_INVOICE_FIELDS | extra_allowed, set(invoice)
                assert invoice["uniqueSourceInvoiceId"].startswith("shape-")
