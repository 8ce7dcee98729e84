"""The sandbox connector against the real sandbox server on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from pydantic import ValidationError

from claimbridge.connectors.agencies.sandbox import SandboxAgency, SandboxSettings
from claimbridge.connectors.base import CheckKind, ConnectorContext, Delivery, PushStatus
from claimbridge.errors import AuthError, ParseError
from claimbridge.sandbox.server import SandboxServer
from claimbridge.schemas import CaseStatus, Direction, EventKind
from tests.factories import make_case, make_claim

TOKEN = "agency-test-token"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(TOKEN, faults=True, min_principal=Decimal("100")) as running:
        yield running


def agency_for(url: str, token: str = TOKEN, **http: Any) -> SandboxAgency:
    options = {"max_retries": 2, "backoff_initial": 0.01, "retry_after_cap": 2, **http}
    settings = SandboxSettings(url=url, token=token, batch_size=3, http=options)
    return SandboxAgency(settings, ConnectorContext(name="sandbox-test"))


@pytest.fixture
def agency(server: SandboxServer) -> Iterator[SandboxAgency]:
    connector = agency_for(server.url)
    yield connector
    connector.close()


def deliveries(count: int, prefix: str = "d") -> list[Delivery]:
    return [
        Delivery(f"{prefix}-{i}", make_case(claims=(make_claim(f"{prefix}{i}"),)))
        for i in range(count)
    ]


def add_fault(server: SandboxServer, **fault: Any) -> None:
    response = requests.post(
        f"{server.url}/_faults",
        json=fault,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert response.status_code == 201


def test_push_accepts_and_a_second_push_changes_nothing(
    server: SandboxServer, agency: SandboxAgency
) -> None:
    batch = deliveries(5)  # more than batch_size: two requests
    first = agency.push(batch)
    assert [o.idempotency_key for o in first] == [d.idempotency_key for d in batch]
    assert all(o.status is PushStatus.ACCEPTED for o in first)
    assert len({o.agency_ref for o in first}) == 5
    again = agency.push(batch)
    assert [o.agency_ref for o in again] == [o.agency_ref for o in first]
    assert server.store.count_cases() == 5


def test_push_reports_rejections_per_case(agency: SandboxAgency) -> None:
    small = make_claim("9", original_amount=Decimal("10"), remaining_principal=Decimal("10"))
    batch = [*deliveries(1), Delivery("small", make_case(claims=(small,)))]
    ok, rejected = agency.push(batch)
    assert ok.status is PushStatus.ACCEPTED
    assert rejected.status is PushStatus.REJECTED
    assert rejected.reason is not None
    assert "minimum" in rejected.reason


def test_empty_push_makes_no_call() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    agency = agency_for(f"http://127.0.0.1:{port}")  # nothing listens: a call would fail
    assert agency.push([]) == []


def test_rate_limit_is_waited_out(server: SandboxServer, agency: SandboxAgency) -> None:
    add_fault(server, status=429, retry_after=1, count=1, path="/v1/cases/batch")
    started = time.monotonic()
    outcomes = agency.push(deliveries(2))
    assert time.monotonic() - started >= 0.9
    assert all(o.status is PushStatus.ACCEPTED for o in outcomes)


def test_rate_limit_exhausted_is_retryable(server: SandboxServer) -> None:
    add_fault(server, status=429, retry_after=0, count=10, path="/v1/cases/batch")
    outcomes = agency_for(server.url, max_retries=1).push(deliveries(2))
    assert {o.status for o in outcomes} == {PushStatus.RETRYABLE}
    assert server.store.count_cases() == 0


def test_timeout_after_commit_is_unknown_then_lookup_finds_it(server: SandboxServer) -> None:
    add_fault(server, delay_s=3, after_commit=True, count=5, path="/v1/cases/batch")
    agency = agency_for(server.url, timeout_read=0.3, max_retries=1)
    batch = deliveries(2)
    outcomes = agency.push(batch)
    assert {o.status for o in outcomes} == {PushStatus.UNKNOWN}
    assert all("unknown" in (o.reason or "") for o in outcomes)
    found = agency.lookup(batch[0].idempotency_key)
    assert found is not None
    assert found.status is PushStatus.ACCEPTED
    assert found.agency_ref is not None
    assert server.store.count_cases() == 2


def test_lost_answer_with_retry_is_resolved_by_the_key(server: SandboxServer) -> None:
    add_fault(server, drop_connection=True, after_commit=True, count=1, path="/v1/cases/batch")
    outcomes = agency_for(server.url).push(deliveries(2))
    assert {o.status for o in outcomes} == {PushStatus.ACCEPTED}  # resent with the same keys
    assert server.store.count_cases() == 2


def test_outage_is_retryable(server: SandboxServer) -> None:
    add_fault(server, status=503, count=10, path="/v1/cases/batch")
    outcomes = agency_for(server.url, max_retries=1).push(deliveries(1))
    assert outcomes[0].status is PushStatus.RETRYABLE


def test_lookup_of_an_unknown_key_is_none(agency: SandboxAgency) -> None:
    assert agency.lookup("never/sent key") is None


def test_wrong_token_stops_the_push(server: SandboxServer) -> None:
    with pytest.raises(AuthError):
        agency_for(server.url, token="wrong").push(deliveries(1))


def test_updates_page_through_events(server: SandboxServer, agency: SandboxAgency) -> None:
    outcomes = agency.push(deliveries(3))
    updates = list(agency.updates(None))
    assert len(updates) == 3
    event = updates[0].event
    assert event is not None
    assert event.kind is EventKind.RECEIPT
    assert event.status is CaseStatus.ACCEPTED
    assert event.direction is Direction.IN
    assert event.agency_ref == outcomes[0].agency_ref
    assert list(agency.updates(updates[-1].cursor)) == []
    assert [u.event.event_id for u in agency.updates(updates[0].cursor) if u.event] == [
        u.event.event_id for u in updates[1:] if u.event
    ]


def test_check_all_good(agency: SandboxAgency) -> None:
    result = agency.check()
    assert result.ok
    assert [i.kind for i in result.items] == [
        CheckKind.CONFIG,
        CheckKind.REACHABILITY,
        CheckKind.AUTH,
    ]


def test_check_tells_bad_token_apart(server: SandboxServer) -> None:
    result = agency_for(server.url, token="wrong").check()
    kinds = {i.kind: i.ok for i in result.items}
    assert kinds == {CheckKind.CONFIG: True, CheckKind.REACHABILITY: True, CheckKind.AUTH: False}
    assert "wrong" not in " ".join(i.message for i in result.items)


def test_check_tells_unreachable_apart() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = agency_for(f"http://127.0.0.1:{port}").check()
    kinds = {i.kind: i.ok for i in result.items}
    assert kinds == {CheckKind.CONFIG: True, CheckKind.REACHABILITY: False, CheckKind.AUTH: False}


def test_settings_refuse_bad_urls_and_batch_sizes() -> None:
    with pytest.raises(ValidationError, match="loopback"):
        SandboxSettings(url="http://agency.example.com", token="t")
    with pytest.raises(ValidationError):
        SandboxSettings(url="http://127.0.0.1:1", token="t", batch_size=501)
    with pytest.raises(ValidationError, match="cannot be turned off"):
        SandboxSettings(url="http://127.0.0.1:1", token="t", http={"verify": False})
    assert "tok-value" not in repr(SandboxSettings(url="http://127.0.0.1:1", token="tok-value"))


def test_updates_map_status_and_settlement_events(
    server: SandboxServer, agency: SandboxAgency
) -> None:
    outcomes = agency.push(deliveries(12))
    refs = {o.agency_ref for o in outcomes}
    assert None not in refs
    server.simulate(date.today() + timedelta(days=5 * 365))
    updates = list(agency.updates(None))
    raw = server.store.events(0, 500)
    assert [u.cursor for u in updates] == [e["cursor"] for e in raw]
    assert [u.update_id for u in updates] == [f"sandbox:{e['event_id']}" for e in raw]
    assert len({u.update_id for u in updates}) == len(updates)
    settlements = [u.settlement for u in updates if u.settlement is not None]
    events = [u.event for u in updates if u.event is not None]
    assert len(settlements) + len(events) == len(updates)
    assert all(u.event is None for u in updates if u.settlement is not None)
    assert settlements
    for settlement in settlements:
        assert settlement.agency == "sandbox"
        for line in settlement.lines:
            assert line.agency_ref in refs
            assert line.principal + line.interest + line.fees == line.total
    statuses = {e.status for e in events if e.kind is EventKind.STATUS}
    assert {CaseStatus.PAID, CaseStatus.CLOSED} <= statuses
    assert all(e.direction is Direction.IN and e.agency_ref in refs for e in events)
    # reading again from the middle yields the same updates, so ids work as dedup keys
    middle = updates[len(updates) // 2].cursor
    assert list(agency.updates(middle)) == updates[len(updates) // 2 + 1 :]


def test_a_settlement_event_without_its_settlement_is_a_parse_error(
    server: SandboxServer, agency: SandboxAgency
) -> None:
    (outcome,) = agency.push(deliveries(1))
    assert outcome.agency_ref is not None
    server.store.add_event(outcome.agency_ref, EventKind.SETTLEMENT, None, "broken", {"x": 1})
    with pytest.raises(ParseError, match="unusable event"):
        list(agency.updates(None))
