"""The sandbox agency as a real HTTP server on 127.0.0.1, exercised with real requests."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from claimbridge.sandbox.server import SandboxServer
from claimbridge.schemas import Address, AddressState
from tests.factories import make_case, make_claim, make_party

TOKEN = "sandbox-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCHEMAS = Path(__file__).resolve().parents[2] / "claimbridge" / "schemas"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(TOKEN, faults=True, min_principal=Decimal("100")) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update(AUTH)
        yield session


def case_json(invoice: str = "1001", **overrides: Any) -> dict[str, Any]:
    claims = (make_claim(invoice),)
    return make_case(claims=claims, **overrides).model_dump(mode="json")


def post_case(
    http: requests.Session, server: SandboxServer, key: str, case: dict[str, Any]
) -> requests.Response:
    return http.post(
        f"{server.url}/v1/cases",
        json={"case": case},
        headers={"Idempotency-Key": key},
        timeout=10,
    )


def error_code(response: requests.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    return str(body["error"]["code"])


# --- OpenAPI contract ---------------------------------------------------------------------


def openapi_validator(component: str) -> Draft202012Validator:
    spec = json.loads((SCHEMAS / "sandbox-openapi.json").read_text())
    case_schema = json.loads((SCHEMAS / "json" / "case.v1.json").read_text())
    registry = Registry().with_resources(
        [
            (
                "urn:sandbox-openapi",
                Resource.from_contents(spec, default_specification=DRAFT202012),
            ),
            (case_schema["$id"], Resource.from_contents(case_schema)),
        ]
    )
    schema = {"$ref": f"urn:sandbox-openapi#/components/schemas/{component}"}
    return Draft202012Validator(schema, registry=registry)


def test_openapi_document_is_valid_3_1() -> None:
    spec = json.loads((SCHEMAS / "sandbox-openapi.json").read_text())
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/v1/health",
        "/v1/cases",
        "/v1/cases/batch",
        "/v1/cases/by-key/{idempotency_key}",
        "/v1/cases/{agency_ref}",
        "/v1/events",
        "/v1/corrections/batch",
        "/v1/corrections/by-key/{idempotency_key}",
        "/_simulate",
    ):
        assert path in spec["paths"]


def test_answers_match_the_openapi_document(server: SandboxServer, http: requests.Session) -> None:
    post_case(http, server, "k-1", case_json())
    batch = http.post(
        f"{server.url}/v1/cases/batch",
        json={"items": [{"idempotency_key": "k-2", "case": case_json("2")}]},
        timeout=10,
    )
    checks = {
        "Created": post_case(http, server, "k-1", case_json()).json(),
        "BatchResult": batch.json(),
        "CaseSummary": http.get(f"{server.url}/v1/cases/by-key/k-1", timeout=5).json(),
        "CasePage": http.get(f"{server.url}/v1/cases", timeout=5).json(),
        "EventPage": http.get(f"{server.url}/v1/events", timeout=5).json(),
        "Error": http.get(f"{server.url}/v1/cases/SBX-999999", timeout=5).json(),
    }
    for component, body in checks.items():
        openapi_validator(component).validate(body)
    openapi_validator("BatchRequest").validate(
        {"items": [{"idempotency_key": "k", "case": case_json()}]}
    )


# --- cases and idempotency ----------------------------------------------------------------


def test_health_needs_no_token(server: SandboxServer) -> None:
    response = requests.get(f"{server.url}/v1/health", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN])
def test_missing_or_wrong_token_is_401(server: SandboxServer, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.get(f"{server.url}/v1/cases", headers=headers, timeout=5)
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"


def test_same_key_twice_gives_the_same_ref_and_no_duplicate(
    server: SandboxServer, http: requests.Session
) -> None:
    first = post_case(http, server, "key-1", case_json())
    again = post_case(http, server, "key-1", case_json())
    assert first.status_code == 201
    assert again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["agency_ref"].startswith("SBX-")
    assert server.store.count_cases() == 1


def test_same_key_with_another_case_is_a_conflict(
    server: SandboxServer, http: requests.Session
) -> None:
    assert post_case(http, server, "key-1", case_json("1")).status_code == 201
    response = post_case(http, server, "key-1", case_json("2"))
    assert response.status_code == 422
    assert error_code(response) == "idempotency_conflict"


def test_invalid_case_is_422_without_personal_data(
    server: SandboxServer, http: requests.Session
) -> None:
    case = case_json()
    case["claims"][0]["currency"] = "XXZ"
    case["debtor"]["national_id"] = "01019912345"
    case["debtor"]["kind"] = "alien"
    response = post_case(http, server, "key-1", case)
    assert response.status_code == 422
    assert error_code(response) == "invalid_case"
    message = response.json()["error"]["message"]
    assert "case.debtor.kind" in message
    for personal in ("01019912345", "Kari", "Testesen", "Testveien"):
        assert personal not in message


def test_key_in_body_or_header_and_bad_keys(server: SandboxServer, http: requests.Session) -> None:
    url = f"{server.url}/v1/cases"
    by_body = http.post(url, json={"idempotency_key": "body-key", "case": case_json()}, timeout=5)
    assert by_body.status_code == 201
    for key in ("", "has space", "x" * 201, "æøå"):
        response = http.post(url, json={"idempotency_key": key, "case": case_json()}, timeout=5)
        assert response.status_code == 422, key
        assert error_code(response) == "invalid_idempotency_key"
    differ = http.post(
        url,
        json={"idempotency_key": "a", "case": case_json()},
        headers={"Idempotency-Key": "b"},
        timeout=5,
    )
    assert differ.status_code == 422


def test_lookup_by_key_and_by_ref(server: SandboxServer, http: requests.Session) -> None:
    ref = post_case(http, server, "key-9", case_json()).json()["agency_ref"]
    by_key = http.get(f"{server.url}/v1/cases/by-key/key-9", timeout=5).json()
    by_ref = http.get(f"{server.url}/v1/cases/{ref}", timeout=5).json()
    assert by_key == by_ref
    assert by_key["agency_ref"] == ref
    assert by_key["status"] == "accepted"
    assert by_key["principal"] == "1250.00"
    missing = http.get(f"{server.url}/v1/cases/by-key/never-sent", timeout=5)
    assert missing.status_code == 404
    assert error_code(missing) == "not_found"


def test_batch_partial_success(server: SandboxServer, http: requests.Session) -> None:
    nowhere = make_party(
        "20002", addresses=(Address(state=AddressState.UNKNOWN),), phones=(), emails=()
    )
    small = make_claim("3", original_amount=Decimal("50"), remaining_principal=Decimal("50"))
    invalid = case_json("4")
    invalid["claims"] = []
    items = [
        {"idempotency_key": "ok", "case": case_json("1")},
        {"idempotency_key": "nowhere", "case": make_case(debtor=nowhere).model_dump(mode="json")},
        {"idempotency_key": "small", "case": make_case(claims=(small,)).model_dump(mode="json")},
        {"idempotency_key": "invalid", "case": invalid},
        {"idempotency_key": "ok", "case": case_json("1")},  # a repeat inside the batch
    ]
    response = http.post(f"{server.url}/v1/cases/batch", json={"items": items}, timeout=10)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [
        "accepted",
        "rejected",
        "rejected",
        "rejected",
        "accepted",
    ]
    assert results[0]["agency_ref"] == results[4]["agency_ref"]
    assert "no address, phone number or e-mail" in results[1]["reason"]
    assert "below the agency's minimum of 100" in results[2]["reason"]
    assert "claims" in results[3]["reason"]
    rejected = http.get(f"{server.url}/v1/cases/by-key/nowhere", timeout=5).json()
    assert rejected["status"] == "rejected"
    assert rejected["agency_ref"] is None
    assert server.store.count_cases() == 1


def test_batch_limits_and_shape(server: SandboxServer, http: requests.Session) -> None:
    url = f"{server.url}/v1/cases/batch"
    too_many = [{"idempotency_key": f"k{i}", "case": {}} for i in range(501)]
    response = http.post(url, json={"items": too_many}, timeout=10)
    assert response.status_code == 422
    assert error_code(response) == "too_many_items"
    assert http.post(url, json={"items": "nope"}, timeout=5).status_code == 422
    assert http.post(url, json={"items": [{"case": {}}]}, timeout=5).status_code == 422
    assert http.post(url, json={"items": []}, timeout=5).json() == {"results": []}


def test_pagination_walks_every_case_once(server: SandboxServer, http: requests.Session) -> None:
    items = [{"idempotency_key": f"k{i}", "case": case_json(str(i))} for i in range(7)]
    http.post(f"{server.url}/v1/cases/batch", json={"items": items}, timeout=10)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if token:
            params["page_token"] = token
        page = http.get(f"{server.url}/v1/cases", params=params, timeout=5).json()
        seen += [c["agency_ref"] for c in page["cases"]]
        pages += 1
        token = page["next_page_token"]
        if token is None:
            break
    assert pages == 3
    assert seen == sorted(set(seen))
    assert len(seen) == 7
    bad = http.get(f"{server.url}/v1/cases", params={"limit": 0}, timeout=5)
    assert bad.status_code == 400


def test_events_follow_the_cursor(server: SandboxServer, http: requests.Session) -> None:
    for i in range(3):
        post_case(http, server, f"k{i}", case_json(str(i)))
    first = http.get(f"{server.url}/v1/events", params={"limit": 2}, timeout=5).json()
    assert [e["kind"] for e in first["events"]] == ["receipt", "receipt"]
    assert first["events"][0]["status"] == "accepted"
    rest = http.get(
        f"{server.url}/v1/events", params={"after": first["next_cursor"]}, timeout=5
    ).json()
    assert len(rest["events"]) == 1
    empty = http.get(
        f"{server.url}/v1/events", params={"after": rest["next_cursor"]}, timeout=5
    ).json()
    assert empty == {"events": [], "next_cursor": rest["next_cursor"]}


# --- hostile input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"case": ' * 5000, b'"string"']
)
def test_malformed_bodies_are_400(
    server: SandboxServer, http: requests.Session, body: bytes
) -> None:
    response = http.post(
        f"{server.url}/v1/cases",
        data=body,
        headers={"Idempotency-Key": "k", "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert error_code(response) == "invalid_json"


def test_oversized_body_is_413_without_reading_it() -> None:
    with SandboxServer(TOKEN, max_body_bytes=1024) as small:
        response = requests.post(
            f"{small.url}/v1/cases",
            data=b"x" * 4096,
            headers={**AUTH, "Idempotency-Key": "k"},
            timeout=5,
        )
    assert response.status_code == 413
    assert error_code(response) == "body_too_large"


@pytest.mark.slow
def test_default_body_cap_is_16_mb(server: SandboxServer) -> None:
    response = requests.post(
        f"{server.url}/v1/cases/batch",
        data=b"{" + b" " * (16 * 1024 * 1024),
        headers=AUTH,
        timeout=30,
    )
    assert response.status_code == 413


def read_until_closed(raw: socket.socket) -> bytes:
    chunks = []
    while chunk := raw.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_truncated_body_is_400(server: SandboxServer) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(
            b"POST /v1/cases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + TOKEN.encode()
            + b'\r\nContent-Length: 100\r\n\r\n{"case"'
        )
        raw.shutdown(socket.SHUT_WR)
        answer = read_until_closed(raw)
    assert answer.startswith(b"HTTP/1.1 400")


def test_unknown_paths_and_methods(server: SandboxServer, http: requests.Session) -> None:
    assert http.get(f"{server.url}/v2/anything", timeout=5).status_code == 404
    assert http.delete(f"{server.url}/v1/cases", timeout=5).status_code == 405
    assert http.get(f"{server.url}/v1/cases/batch", timeout=5).status_code == 405


def test_faults_endpoint_is_off_unless_enabled(http: requests.Session) -> None:
    with SandboxServer(TOKEN) as plain:
        response = http.post(f"{plain.url}/_faults", json={"status": 503}, timeout=5)
    assert response.status_code == 404


# --- faults -------------------------------------------------------------------------------


def add_fault(http: requests.Session, server: SandboxServer, **fault: Any) -> None:
    response = http.post(f"{server.url}/_faults", json=fault, timeout=5)
    assert response.status_code == 201, response.text


def test_fault_429_with_retry_after(server: SandboxServer, http: requests.Session) -> None:
    add_fault(http, server, status=429, retry_after=1, count=2)
    answers = [http.get(f"{server.url}/v1/cases", timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "1"
    assert error_code(answers[0]) == "rate_limited"


def test_fault_503_only_on_matching_path(server: SandboxServer, http: requests.Session) -> None:
    add_fault(http, server, status=503, count=1, path="/v1/events")
    assert http.get(f"{server.url}/v1/cases", timeout=5).status_code == 200
    assert http.get(f"{server.url}/v1/events", timeout=5).status_code == 503
    assert http.get(f"{server.url}/v1/events", timeout=5).status_code == 200


def test_fault_delay_after_commit_keeps_the_case(
    server: SandboxServer, http: requests.Session
) -> None:
    add_fault(http, server, delay_s=2, count=1, after_commit=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.post(
            f"{server.url}/v1/cases",
            json={"case": case_json()},
            headers={"Idempotency-Key": "slow"},
            timeout=(2, 0.3),
        )
    summary = http.get(f"{server.url}/v1/cases/by-key/slow", timeout=5)
    assert summary.status_code == 200
    assert summary.json()["status"] == "accepted"


def test_fault_drop_connection_after_commit(server: SandboxServer, http: requests.Session) -> None:
    add_fault(http, server, drop_connection=True, count=1, after_commit=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        post_case(http, server, "dropped", case_json())
    assert http.get(f"{server.url}/v1/cases/by-key/dropped", timeout=5).status_code == 200


def test_fault_drop_before_commit_stores_nothing(
    server: SandboxServer, http: requests.Session
) -> None:
    add_fault(http, server, drop_connection=True, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        post_case(http, server, "lost", case_json())
    assert http.get(f"{server.url}/v1/cases/by-key/lost", timeout=5).status_code == 404


def test_bad_faults_are_refused_and_faults_can_be_cleared(
    server: SandboxServer, http: requests.Session
) -> None:
    for fault in ({"status": 200}, {"count": 0}, {"bogus": 1}, {"delay_s": "soon"}):
        assert http.post(f"{server.url}/_faults", json=fault, timeout=5).status_code == 422
    add_fault(http, server, status=503, count=5)
    assert http.delete(f"{server.url}/_faults", timeout=5).status_code == 200
    assert http.get(f"{server.url}/v1/cases", timeout=5).status_code == 200


# --- storage ------------------------------------------------------------------------------


def test_cases_survive_a_restart(tmp_path: Path, http: requests.Session) -> None:
    db = tmp_path / "sandbox.db"
    with SandboxServer(TOKEN, db_path=db) as first:
        ref = post_case(http, first, "k", case_json()).json()["agency_ref"]
    with SandboxServer(TOKEN, db_path=db) as second:
        again = post_case(http, second, "k", case_json())
        assert again.status_code == 200
        assert again.json()["agency_ref"] == ref
        assert second.store.count_cases() == 1


def test_protocol_errors_do_not_echo_input(server: SandboxServer) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(b"GET /v1/health HTTP/Kari-Testesen-01019912345\r\n\r\n")
        answer = read_until_closed(raw)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"Kari" not in answer
    assert b'"error"' in answer


def test_request_log_has_no_query_or_body(
    server: SandboxServer, http: requests.Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="claimbridge.sandbox")
    http.get(f"{server.url}/v1/cases", params={"limit": 7}, timeout=5)
    post_case(http, server, "logged", case_json())
    assert "GET /v1/cases 200" in caplog.text
    assert "POST /v1/cases 201" in caplog.text
    for hidden in ("limit=7", "Kari", TOKEN):
        assert hidden not in caplog.text


# --- simulated activity -------------------------------------------------------------------


def simulate(http: requests.Session, server: SandboxServer, until: object) -> requests.Response:
    return http.post(f"{server.url}/_simulate", json={"until": until}, timeout=30)


def test_simulated_events_follow_the_documented_shapes(
    server: SandboxServer, http: requests.Session
) -> None:
    for n in range(10):
        assert post_case(http, server, f"sim-{n}", case_json(f"{3000 + n}")).status_code == 201
    until = (date.today() + timedelta(days=5 * 365)).isoformat()
    answer = simulate(http, server, until)
    assert answer.status_code == 200
    openapi_validator("SimulateResult").validate(answer.json())
    assert answer.json()["events"] > 10
    assert simulate(http, server, until).json()["events"] == 0
    page = http.get(f"{server.url}/v1/events", params={"limit": 500}, timeout=5).json()
    openapi_validator("EventPage").validate(page)
    events = page["events"]
    assert [int(e["cursor"]) for e in events] == sorted(int(e["cursor"]) for e in events)
    kinds = {e["kind"] for e in events}
    assert kinds == {"receipt", "status", "settlement"}
    statuses = {e["status"] for e in events if e["kind"] == "status"}
    assert statuses >= {"paid", "closed"}
    assert statuses <= {"active", "paused", "paid", "closed", "withdrawn", "returned"}
    simulated = [e for e in events if e["kind"] != "receipt"]
    assert [e["at"] for e in simulated] == sorted(e["at"] for e in simulated)
    for event in events:
        if event["kind"] == "settlement":
            for line in event["data"]["settlement"]["lines"]:
                parts = sum(Decimal(line[k]) for k in ("principal", "interest", "fees"))
                assert parts == Decimal(line["total"])


def test_a_broken_settlement_event_does_not_match_the_document() -> None:
    line = {
        "line_id": "SBX-000001:2026-04:1",
        "case_key": "cb-x",
        "agency_ref": "SBX-000001",
        "invoice_number": "1",
        "principal": "1.00",
        "interest": "0",
        "fees": "0",
        "total": "1.00",
        "commission": "0.10",
    }
    event = {
        "cursor": "2",
        "event_id": "sbx-evt-2",
        "case_key": "cb-x",
        "agency_ref": "SBX-000001",
        "at": "2026-05-05T00:00:00+00:00",
        "kind": "settlement",
        "status": None,
        "message": "monthly settlement",
        "data": None,
    }
    validator = openapi_validator("Event")
    assert not validator.is_valid(event)
    settlement = {
        "settlement_id": "SBX-000001:2026-04",
        "agency": "sandbox",
        "settlement_date": "2026-05-05",
        "currency": "NOK",
        "lines": [line],
    }
    assert validator.is_valid({**event, "data": {"settlement": settlement}})
    assert not validator.is_valid({**event, "data": {"settlement": {**settlement, "lines": []}}})


@pytest.mark.parametrize("until", ["2026-13-01", "tomorrow", 20260101, None, "2026-1-1"])
def test_simulate_refuses_bad_dates(
    server: SandboxServer, http: requests.Session, until: object
) -> None:
    answer = simulate(http, server, until)
    assert answer.status_code == 422
    assert error_code(answer) == "invalid_request"
    extra = {"until": "2026-01-01", "x": 1}
    assert http.post(f"{server.url}/_simulate", json=extra, timeout=5).status_code == 422
    assert http.get(f"{server.url}/_simulate", timeout=5).status_code == 405


def test_simulate_is_off_unless_enabled(http: requests.Session) -> None:
    with SandboxServer(TOKEN) as plain:
        assert simulate(http, plain, "2030-01-01").status_code == 404
        assert plain.simulate(date(2030, 1, 1)) == 0  # in-process use needs no flag
    with SandboxServer(TOKEN, simulate=True) as simulating:
        assert simulate(http, simulating, "2030-01-01").json() == {
            "until": "2030-01-01",
            "events": 0,
            "clock": "2030-01-01",
        }
        assert http.post(f"{simulating.url}/_faults", json={}, timeout=5).status_code == 404
