"""The agency contract for the sandbox agency, against the real sandbox server on 127.0.0.1.

Misbehaviour is injected through the server's own fault API (``POST /_faults``). The only seam
on the client side is :meth:`SandboxAgency._make_client`: the harness builds the same
:class:`HttpClient` with a recording ``sleep`` (so a ``Retry-After: 7`` costs no time) and a
counting transport adapter (every attempt on the wire, retries included).
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import requests
from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from requests.adapters import HTTPAdapter

from claimbridge.connectors.agencies.sandbox import SandboxAgency, SandboxSettings
from claimbridge.connectors.base import Agency, ConnectorContext
from claimbridge.sandbox.server import SandboxServer
from claimbridge.transport.http import BearerAuth, HttpClient, HttpOptions, HttpSettings
from tests.contract import agency_suite as suite
from tests.contract.agency_suite import AgencyContract, AgencyHarness

SCHEMAS = Path(__file__).resolve().parents[2] / "claimbridge" / "schemas"
TOKEN = "agency-contract-token"
BATCH = "/v1/cases/batch"
OPTIONS: dict[str, Any] = {
    "max_retries": 2,
    "backoff_initial": 0.01,
    "retry_after_cap": 30,
    "timeout_read": 0.4,
}


@dataclass(frozen=True)
class Exchange:
    request: requests.PreparedRequest
    response: requests.Response


def openapi_validator(component: str) -> Draft202012Validator:
    """A validator for one component of ``sandbox-openapi.json`` (which refers to the
    exported case schema by its ``$id``)."""
    spec = json.loads((SCHEMAS / "sandbox-openapi.json").read_text(encoding="utf-8"))
    case_schema = json.loads((SCHEMAS / "json" / "case.v1.json").read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resources(
        [
            ("urn:sandbox-openapi", DRAFT202012.create_resource(spec)),
            (case_schema["$id"], Resource.from_contents(case_schema)),
        ]
    )
    schema = {"$ref": f"urn:sandbox-openapi#/components/schemas/{component}"}
    return Draft202012Validator(schema, registry=registry)


class _CountingAdapter(HTTPAdapter):
    """Counts every request that goes out on the wire and keeps each answered exchange."""

    def __init__(self, harness: SandboxHarness) -> None:
        super().__init__()
        self.harness = harness

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        self.harness.sent += 1
        response = super().send(request, stream, timeout, verify, cert, proxies)
        self.harness.exchanges.append(Exchange(request, response))
        return response


class _ObservedSandboxAgency(SandboxAgency):
    harness: SandboxHarness

    def _make_client(self, options: HttpOptions) -> HttpClient:
        client = HttpClient(
            HttpSettings.from_options(self.settings.url, options),
            auth=BearerAuth(self.settings.token),
            sleep=self.harness.waited.append,
            name=self.context.name,
        )
        client.session.mount("http://", _CountingAdapter(self.harness))
        return client


class SandboxHarness(AgencyHarness):
    def __init__(self, root: Any) -> None:
        super().__init__(root)
        self.sent = 0
        self.exchanges: list[Exchange] = []
        self.waited: list[float] = []
        self._server: SandboxServer | None = None

    @property
    def server(self) -> SandboxServer:
        assert self._server is not None, "the harness is not serving"
        return self._server

    @contextlib.contextmanager
    def serving(self) -> Iterator[SandboxServer]:
        with SandboxServer(TOKEN, faults=True) as server:
            self._server = server
            try:
                yield server
            finally:
                self._server = None

    def _agency(self, url: str) -> Agency:
        settings = SandboxSettings(url=url, token=TOKEN, batch_size=3, http=OPTIONS)
        agency = _ObservedSandboxAgency(settings, ConnectorContext(name="sandbox-contract"))
        agency.harness = self
        return agency

    def agency(self) -> Agency:
        return self._agency(self.server.url)

    def broken_agency(self) -> Agency:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        return self._agency(f"http://127.0.0.1:{port}")  # nothing listens there

    def held_cases(self) -> int:
        return self.server.store.count_cases()

    def held_corrections(self) -> int:
        return self.server.store.count_corrections()

    def calls(self) -> int:
        return self.sent

    def sleeps(self) -> list[float]:
        return self.waited

    def _fault(self, **fault: Any) -> None:
        response = requests.post(
            f"{self.server.url}/_faults",
            json={"path": BATCH, **fault},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        assert response.status_code == 201, response.text

    def rate_limit_next(self, retry_after: int) -> None:
        self._fault(status=429, retry_after=retry_after, count=1)

    def reject_next(self) -> str:
        self._fault(status=422, count=1)
        return "injected fault"  # the sandbox's error message for an injected 4xx

    def lose_next_answer(self) -> None:
        # every attempt of the next push stalls past the read timeout after the commit
        self._fault(delay_s=2, after_commit=True, count=OPTIONS["max_retries"] + 1)


class TestSandboxAgencyContract(AgencyContract):
    harness_class: ClassVar[type[AgencyHarness]] = SandboxHarness

    def test_exchanges_follow_the_documented_api(self, harness: AgencyHarness) -> None:
        """Every batch request the connector sends, and every answer it had to understand
        (results, 429, 4xx), has the shape ``sandbox-openapi.json`` documents."""
        assert isinstance(harness, SandboxHarness)
        suite.check_outcomes_cover_every_delivery(harness)
        suite.check_rate_limit_is_waited_out(harness)
        harness.reject_next()
        agency = harness.agency()
        agency.push([suite.Delivery("contract-shape-422", suite.make_cases(1, start=50)[0])])
        agency.close()
        names = ("BatchRequest", "BatchResult", "Error")
        validators = {name: openapi_validator(name) for name in names}

        batches = [e for e in harness.exchanges if e.request.path_url == BATCH]
        assert {e.response.status_code for e in batches} == {200, 422, 429}
        for exchange in batches:
            body = exchange.request.body
            assert body is not None
            validators["BatchRequest"].validate(json.loads(body))
            answer = "BatchResult" if exchange.response.ok else "Error"
            validators[answer].validate(exchange.response.json())
