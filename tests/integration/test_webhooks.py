"""The webhook receiver over real loopback HTTP, verifying with the Amili connector."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from claimbridge.connectors.agencies.amili import AmiliAgency
from claimbridge.connectors.base import ConnectorContext
from claimbridge.webhooks import WebhookServer, read_spool, spool, spool_dir
from tests.contract.test_amili_contract import amili_settings
from tests.fakes.amili import WEBHOOK_SECRET, FakeAmili

NAME = "amili-no"
PATH = f"/webhooks/{NAME}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[WebhookServer]:
    agency = AmiliAgency(
        amili_settings(webhook={"secret": WEBHOOK_SECRET}),
        ConnectorContext(name=NAME, workdir=tmp_path),
    )
    with WebhookServer({NAME: agency}, tmp_path, port=0, max_body=4096) as running:
        yield running


def _post(
    server: WebhookServer, path: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> int:
    host, port = server.httpd.server_address[:2]
    connection = http.client.HTTPConnection(str(host), int(port), timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _spooled(server: WebhookServer) -> list[Path]:
    return sorted(p for p in spool_dir(server.workdir, NAME).glob("*.json"))


def test_a_verified_delivery_is_spooled_privately_and_answered_202(server: WebhookServer) -> None:
    headers, body = FakeAmili().webhook("CASE", {"caseId": "c-1", "status": "OPEN"}, key="k-1")
    assert _post(server, PATH, body, headers) == 202
    [written] = _spooled(server)
    assert written.read_bytes() == body
    assert written.name.endswith("-amili:k-1.json")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    assert not list(written.parent.glob(".incoming-*"))


def test_a_redelivery_of_the_same_event_is_not_spooled_twice(server: WebhookServer) -> None:
    headers, body = FakeAmili().webhook("CASE", {"caseId": "c-2", "status": "OPEN"}, key="k-2")
    assert _post(server, PATH, body, headers) == 202
    assert _post(server, PATH, body, headers) == 202
    assert len(_spooled(server)) == 1


def test_a_bad_signature_gets_401_and_nothing_is_kept(server: WebhookServer) -> None:
    headers, body = FakeAmili().webhook("CASE", {"caseId": "c-3", "status": "OPEN"})
    assert _post(server, PATH, body + b" ", headers) == 401
    headers["X-Webhook-Signature"] = "00" * 32
    assert _post(server, PATH, body, headers) == 401
    assert _spooled(server) == []


def test_only_post_on_a_known_path_within_the_size_limit(server: WebhookServer) -> None:
    headers, body = FakeAmili().webhook("CASE", {"caseId": "c-4", "status": "OPEN"})
    assert _post(server, "/webhooks/other", body, headers) == 404
    assert _post(server, PATH, b"", {}, method="GET") == 405
    assert _post(server, PATH, b"x" * 5000, headers) == 413
    assert _spooled(server) == []


def test_a_verified_but_unreadable_delivery_is_kept_for_a_person(server: WebhookServer) -> None:
    fake = FakeAmili()
    headers, _body = fake.webhook("CASE", {"caseId": "c-5", "status": "OPEN"})
    broken = b'{"type": "CASE", "data": 5}'
    agency_scheme = server.routes[PATH][1].settings.webhook
    assert agency_scheme is not None
    headers["X-Webhook-Signature"] = agency_scheme.sign(broken)
    assert _post(server, PATH, broken, headers) == 202
    assert _spooled(server) == []
    kept = list((spool_dir(server.workdir, NAME) / "unusable").glob("*.json"))
    assert [p.read_bytes() for p in kept] == [broken]


def test_the_spool_is_read_in_name_order_after_a_cursor(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    for minute, key in enumerate(["b", "a", "c"]):
        at = dt.datetime(2026, 3, 2, 10, minute, tzinfo=dt.UTC)
        spool(directory, f"amili:{key}", json.dumps({"n": minute}).encode(), now=at)
    read = list(read_spool(directory))
    assert [event_id for _, event_id, _ in read] == ["amili:b", "amili:a", "amili:c"]
    after = list(read_spool(directory, read[0][0]))
    assert [event_id for _, event_id, _ in after] == ["amili:a", "amili:c"]
