"""The agency contract for Riverty, against the faithful fake of its collection API.

The agency side is :class:`tests.fakes.riverty.RivertyFake` behind ``responses``: the cases it
holds are its claims not rejected, a call is any request on the wire (token requests
included). Misbehaviour is the fake's own: a queued 429 with ``Retry-After``, a queued 400 with
a problem body, and handovers that are stored but time out before answering. Riverty honours no
idempotency key on claims, so the suite holds it to ``lookup`` (the claim search by the
``contractNumber`` that carries the delivery's key). Riverty validates claims and corrections
between runs: every new connector (a new run) finds what the last one sent processed.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any, ClassVar

import responses

from claimbridge.connectors.agencies.riverty import RivertyAgency, RivertySettings
from claimbridge.connectors.base import Agency, ConnectorContext
from claimbridge.credentials import MemoryCredentialStore
from tests.contract.agency_suite import AgencyContract, AgencyHarness
from tests.fakes.riverty import AUDIENCE, BASE_URL, CLIENT_ID, CLIENT_SECRET, TOKEN_URL, RivertyFake

OPTIONS: dict[str, Any] = {
    "max_retries": 2,
    "backoff_initial": 0.01,
    "retry_after_cap": 30,
    "timeout_read": 0.4,
}


class RivertyHarness(AgencyHarness):
    def __init__(self, root: Any) -> None:
        super().__init__(root)
        self.fake = RivertyFake()
        self.waited: list[float] = []
        self.credentials = MemoryCredentialStore()

    @contextlib.contextmanager
    def serving(self) -> Iterator[RivertyFake]:
        with responses.RequestsMock(
            assert_all_requests_are_fired=False, passthru_prefixes=("http://127.0.0.1",)
        ) as mock:
            self.fake.install(mock)
            yield self.fake

    def _agency(self, url: str, token_url: str) -> Agency:
        settings = RivertySettings(
            url=url,
            token_url=token_url,
            audience=AUDIENCE,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            http=OPTIONS,
        )
        context = ConnectorContext(name="riverty-contract", credentials=self.credentials)
        return RivertyAgency(settings, context, sleep=self.waited.append)

    def agency(self) -> Agency:
        self.fake.process()  # Riverty validates what it was given between two runs
        return self._agency(BASE_URL, TOKEN_URL)

    def broken_agency(self) -> Agency:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        dead = f"http://127.0.0.1:{port}"  # nothing listens there
        return self._agency(dead, f"{dead}/oauth/token")

    def held_cases(self) -> int:
        return len(self.fake.holding())

    def held_corrections(self) -> int:
        """Corrections Riverty took and will apply (a numbered one sent again is not taken)."""
        return len(self.fake.taken)

    def calls(self) -> int:
        return self.fake.calls

    def sleeps(self) -> list[float]:
        return self.waited

    def rate_limit_next(self, retry_after: int) -> None:
        self.fake.fail_next(429, retry_after=retry_after)

    def reject_next(self) -> str:
        return self.fake.fail_next(400, detail="customer.addresses: a billing address is required")

    def lose_next_answer(self) -> None:
        self.fake.lose_answers = True


class TestRivertyAgencyContract(AgencyContract):
    harness_class: ClassVar[type[AgencyHarness]] = RivertyHarness
