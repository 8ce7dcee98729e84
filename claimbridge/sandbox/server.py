"""The sandbox agency: a small collection agency's JSON API on a loopback HTTP server.

It speaks the canonical case schema (see ``schemas/sandbox-openapi.json`` and
``docs/sandbox-api.md``), honours idempotency keys, and can be told to misbehave (rate limits,
outages, answers that never come) so connectors and the pipeline can be tested against real
HTTP instead of mocks. Stdlib only: ``ThreadingHTTPServer`` and ``sqlite3``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import ValidationError

from claimbridge.errors import UsageError
from claimbridge.sandbox.activity import ActivitySettings, simulate
from claimbridge.sandbox.corrections import CorrectionAnswer, shape_problem
from claimbridge.sandbox.store import IdempotencyConflict, SandboxStore, Submission
from claimbridge.schemas import Case

__all__ = ["MAX_BATCH_ITEMS", "MAX_BODY_BYTES", "SandboxServer"]

log = logging.getLogger("claimbridge.sandbox")

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_BATCH_ITEMS = 500
MAX_PAGE = 500
_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


class _HttpError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(slots=True)
class _Fault:
    """One injected misbehaviour, used ``count`` times on matching requests."""

    count: int = 1
    status: int | None = None
    retry_after: float | None = None
    delay_s: float = 0.0
    drop_connection: bool = False
    after_commit: bool = False
    method: str | None = None
    path: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return (
            self.count > 0
            and (self.method is None or self.method == method)
            and (self.path is None or self.path == path)
        )


class SandboxServer:
    """Serve the sandbox agency on ``host:port`` (port 0 picks a free one; see ``url``)."""

    def __init__(
        self,
        token: str,
        *,
        db_path: str | Path = ":memory:",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: bool = False,
        simulate: bool = False,
        activity: ActivitySettings | None = None,
        min_principal: Decimal = Decimal(0),
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if not token:
            raise UsageError("the sandbox needs a non-empty token")
        self._token = f"Bearer {token}".encode()
        self.faults_enabled = faults
        self.simulate_enabled = simulate or faults
        self.activity = activity or ActivitySettings()
        self.min_principal = min_principal
        self.max_body_bytes = max_body_bytes
        self.store = SandboxStore(db_path)
        self.stopping = threading.Event()
        self._faults: list[_Fault] = []
        self._faults_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        try:
            self._httpd = _Server((host, port), _Handler)
        except OSError as exc:
            self.store.close()
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._httpd.app = self

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def start(self) -> Self:
        """Serve in a background thread (tests, ``claimbridge demo``)."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-agency",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C (``claimbridge sandbox``)."""
        log.info("sandbox agency listening on %s", self.url)
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            log.info("sandbox agency stopping")
        finally:
            self._close()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._close()

    def _close(self) -> None:
        self.stopping.set()
        self._httpd.server_close()
        self.store.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # used by the handler -----------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        return header is not None and hmac.compare_digest(header.encode(), self._token)

    def simulate(self, until: date) -> int:
        """Advance every accepted case's simulated lifecycle to ``until``; new events recorded.

        Callable in-process (``claimbridge demo``) whether or not ``POST /_simulate`` is served.
        """
        return simulate(self.store, until, self.activity)

    def add_fault(self, fault: _Fault) -> int:
        with self._faults_lock:
            self._faults.append(fault)
            return len(self._faults)

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> _Fault | None:
        with self._faults_lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    return fault
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: SandboxServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "claimbridge-sandbox"
    sys_version = ""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    # dispatch ----------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        self._body_read = False
        app = self.server.app
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query)
        try:
            if path == "/v1/health":
                self._only(method, "GET")
                self._send(200, {"status": "ok"})
                return
            if not app.authorized(self.headers.get("Authorization")):
                raise _HttpError(401, "unauthorized", "missing or invalid bearer token")
            if path == "/_faults" and app.faults_enabled:
                self._faults(method)
                return
            if path == "/_simulate" and app.simulate_enabled:
                self._simulate(method)
                return
            fault = app.take_fault(method, path) if app.faults_enabled else None
            if fault is not None and fault.status is not None:
                self._fail_on_purpose(fault)
                return
            if fault is not None and not fault.after_commit and self._misbehave(fault):
                return
            status, body = self._route(method, path, query)
            if fault is not None and fault.after_commit and self._misbehave(fault):
                return
            self._send(status, body)
        except _HttpError as exc:
            self._send_error(exc.status, exc.code, exc.message)
        except Exception as exc:  # a bug in the sandbox: answer 500, log no request data
            log.error("internal error handling %s %s: %s", method, path, type(exc).__name__)
            self._send_error(500, "internal", "internal error in the sandbox agency")

    def _route(
        self, method: str, path: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any]]:
        store = self.server.app.store
        if path == "/v1/cases":
            if method == "POST":
                return self._create_case()
            self._only(method, "GET")
            after = _int_param(query, "page_token", default=0, low=0, high=2**62)
            limit = _int_param(query, "limit", default=100, low=1, high=MAX_PAGE)
            cases, next_id = store.list_cases(after, limit)
            token = str(next_id) if next_id is not None else None
            return 200, {"cases": cases, "next_page_token": token}
        if path == "/v1/cases/batch":
            self._only(method, "POST")
            return self._create_batch()
        if path.startswith("/v1/cases/by-key/"):
            self._only(method, "GET")
            summary = store.by_key(unquote(path.removeprefix("/v1/cases/by-key/")))
            return _found(summary, "no delivery with this idempotency key")
        if path.startswith("/v1/cases/") and path.count("/") == 3:
            self._only(method, "GET")
            return _found(store.by_ref(unquote(path.removeprefix("/v1/cases/"))), "no such case")
        if path == "/v1/corrections/batch":
            self._only(method, "POST")
            return self._correct_batch()
        if path.startswith("/v1/corrections/by-key/"):
            self._only(method, "GET")
            answer = store.correction_by_key(unquote(path.removeprefix("/v1/corrections/by-key/")))
            return _found(answer, "no correction with this idempotency key")
        if path == "/v1/events":
            self._only(method, "GET")
            after = _int_param(query, "after", default=0, low=0, high=2**62)
            limit = _int_param(query, "limit", default=100, low=1, high=MAX_PAGE)
            events = store.events(after, limit)
            cursor = events[-1]["cursor"] if events else str(after)
            return 200, {"events": events, "next_cursor": cursor}
        raise _HttpError(404, "not_found", "no such endpoint")

    # endpoints ---------------------------------------------------------------------------

    def _create_case(self) -> tuple[int, dict[str, Any]]:
        body = self._read_json()
        header_key = self.headers.get("Idempotency-Key")
        body_key = body.get("idempotency_key")
        if header_key and body_key and header_key != body_key:
            raise _HttpError(
                422, "invalid_request", "Idempotency-Key header and body idempotency_key differ"
            )
        key = _check_key(header_key or body_key, "Idempotency-Key")
        try:
            outcome = self._submit(key, body.get("case"), "case")
        except IdempotencyConflict:
            raise _HttpError(
                422, "idempotency_conflict", "this idempotency key was used for a different case"
            ) from None
        if outcome.status == "rejected":
            raise _HttpError(422, "case_rejected", outcome.reason or "rejected")
        answer = {
            "agency_ref": outcome.agency_ref,
            "status": outcome.status,
            "idempotency_key": key,
        }
        return (200 if outcome.replayed else 201), answer

    def _create_batch(self) -> tuple[int, dict[str, Any]]:
        keys, items = self._batch_items()
        results = []
        for index, (key, item) in enumerate(zip(keys, items, strict=True)):
            try:
                outcome = self._submit(key, item.get("case"), f"items[{index}].case")
            except IdempotencyConflict:
                reason = "this idempotency key was used for a different case"
                outcome = Submission(key, "rejected", None, reason, False)
            except _HttpError as exc:
                outcome = Submission(key, "rejected", None, exc.message, False)
            results.append(outcome.as_result())
        return 200, {"results": results}

    def _submit(self, key: str, raw_case: object, where: str) -> Submission:
        if not isinstance(raw_case, dict):
            raise _HttpError(422, "invalid_case", f"{where} must be an object")
        try:
            case = Case.model_validate(raw_case)
        except ValidationError as exc:
            raise _HttpError(422, "invalid_case", _describe(exc, where)) from None
        body_hash = hashlib.sha256(case.model_dump_json().encode()).hexdigest()
        app = self.server.app
        return app.store.submit(key, case, body_hash, min_principal=app.min_principal)

    def _correct_batch(self) -> tuple[int, dict[str, Any]]:
        keys, items = self._batch_items()
        store = self.server.app.store
        results = []
        for index, (key, item) in enumerate(zip(keys, items, strict=True)):
            problem = shape_problem(item, f"items[{index}]")
            ref = str(item.get("agency_ref", ""))
            kind = str(item.get("kind", ""))
            if problem is not None:
                answer = CorrectionAnswer(key, "rejected", None, ref, kind, problem, None)
            else:
                body_hash = hashlib.sha256(
                    json.dumps(item, sort_keys=True, default=str).encode()
                ).hexdigest()
                try:
                    answer = store.correct(key, item, body_hash)
                except IdempotencyConflict:
                    reason = "this idempotency key was used for a different correction"
                    answer = CorrectionAnswer(key, "rejected", None, ref, kind, reason, None)
                except KeyError:
                    reason = "no case with this agency reference"
                    answer = CorrectionAnswer(key, "rejected", None, ref, kind, reason, None)
            results.append(answer.as_result())
        return 200, {"results": results}

    def _batch_items(self) -> tuple[list[str], list[dict[str, Any]]]:
        """A batch body's items and their idempotency keys; the whole batch is refused (422)
        when it is no list, too long, or any item is no object or has no usable key."""
        items = self._read_json().get("items")
        if not isinstance(items, list):
            raise _HttpError(422, "invalid_request", "'items' must be a list")
        if len(items) > MAX_BATCH_ITEMS:
            raise _HttpError(
                422, "too_many_items", f"a batch holds at most {MAX_BATCH_ITEMS} items"
            )
        keys = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise _HttpError(422, "invalid_request", f"items[{index}] must be an object")
            keys.append(_check_key(item.get("idempotency_key"), f"items[{index}].idempotency_key"))
        return keys, items

    def _faults(self, method: str) -> None:
        if method == "DELETE":
            self.server.app.clear_faults()
            self._send(200, {"faults": 0})
            return
        self._only(method, "POST")
        body = self._read_json()
        known = set(_Fault.__dataclass_fields__)
        unknown = sorted(set(body) - known)
        if unknown:
            raise _HttpError(422, "invalid_request", f"unknown fault fields: {unknown}")
        fault = _Fault(**body)
        numbers_ok = (
            isinstance(fault.count, int)
            and fault.count >= 1
            and (fault.status is None or (isinstance(fault.status, int) and fault.status >= 400))
            and isinstance(fault.delay_s, int | float | Decimal)
            and 0 <= fault.delay_s <= 600
            and (fault.retry_after is None or isinstance(fault.retry_after, int | Decimal))
        )
        if not numbers_ok or (fault.status is not None and fault.status > 599):
            raise _HttpError(422, "invalid_request", "invalid fault; see docs/sandbox-api.md")
        self._send(201, {"faults": self.server.app.add_fault(fault)})

    def _simulate(self, method: str) -> None:
        self._only(method, "POST")
        body = self._read_json()
        until = body.get("until")
        unknown = sorted(set(body) - {"until"})
        if unknown:
            raise _HttpError(422, "invalid_request", f"unknown fields: {unknown}")
        try:
            if not isinstance(until, str) or len(until) != 10:
                raise ValueError
            day = date.fromisoformat(until)
        except ValueError:
            raise _HttpError(422, "invalid_request", "'until' must be a date, YYYY-MM-DD") from None
        added = self.server.app.simulate(day)
        clock = self.server.app.store.clock()
        self._send(
            200,
            {
                "until": day.isoformat(),
                "events": added,
                "clock": clock.isoformat() if clock else None,
            },
        )

    # faults ------------------------------------------------------------------------------

    def _fail_on_purpose(self, fault: _Fault) -> None:
        status = int(fault.status or 503)
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(round(fault.retry_after))
        code = "rate_limited" if status == 429 else "unavailable"
        self._send_error(status, code, "injected fault", headers=headers)

    def _misbehave(self, fault: _Fault) -> bool:
        """Stall or hang up as the fault says. True when the connection was dropped."""
        if fault.delay_s:
            self.server.app.stopping.wait(float(fault.delay_s))
        if fault.drop_connection:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        return False

    # plumbing ----------------------------------------------------------------------------

    def _only(self, method: str, allowed: str) -> None:
        if method != allowed:
            raise _HttpError(405, "method_not_allowed", f"use {allowed} here")

    def _read_json(self) -> dict[str, Any]:
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise _HttpError(411, "length_required", "send a Content-Length, not chunked data")
        if length_header is None or not (length_header.isascii() and length_header.isdigit()):
            self.close_connection = True
            raise _HttpError(411, "length_required", "a Content-Length header is required")
        length = int(length_header)
        if length > self.server.app.max_body_bytes:
            self.close_connection = True  # the unread body must not be taken as a request
            raise _HttpError(
                413,
                "body_too_large",
                f"bodies are limited to {self.server.app.max_body_bytes} bytes",
            )
        raw = self.rfile.read(length)
        self._body_read = True
        if len(raw) < length:
            self.close_connection = True
            raise _HttpError(400, "invalid_json", "the body ended before Content-Length")
        try:
            data = json.loads(raw.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _HttpError(400, "invalid_json", "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _HttpError(400, "invalid_json", "the body must be a JSON object")
        return data

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body, default=str).encode()
        if not getattr(self, "_body_read", True) and self.headers.get("Content-Length", "0") != "0":
            self.close_connection = True  # an unread body must not be taken as the next request
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (e.g. after an injected delay)
            self.close_connection = True

    def _send_error(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self._send(status, {"error": {"code": code, "message": message}}, headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors found by the stdlib, in our error shape and without echoing input."""
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = self.protocol_version  # always answer with a status line
        status = HTTPStatus(code)
        self.log_error("code %d", code)
        self._send_error(code, status.name.lower(), status.phrase)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request: method, path without query, status. Never bodies."""
        status = code.value if isinstance(code, HTTPStatus) else code
        path = urlsplit(getattr(self, "path", "")).path
        log.info("%s %s %s", getattr(self, "command", None) or "-", path, status)

    def log_error(self, format: str, *args: Any) -> None:
        status = args[0] if args and isinstance(args[0], int) else "-"
        log.warning("malformed request from %s (status %s)", self.client_address[0], status)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's stderr lines (they carry the raw request line)."""


def _found(summary: dict[str, Any] | None, message: str) -> tuple[int, dict[str, Any]]:
    if summary is None:
        raise _HttpError(404, "not_found", message)
    return 200, summary


def _check_key(value: object, where: str) -> str:
    if not isinstance(value, str) or not _KEY.match(value):
        raise _HttpError(
            422,
            "invalid_idempotency_key",
            f"{where} must be 1-200 characters of letters, digits and . _ : -",
        )
    return value


def _int_param(query: dict[str, list[str]], name: str, *, default: int, low: int, high: int) -> int:
    values = query.get(name)
    if not values or values[0] == "":
        return default
    value = values[0]
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise _HttpError(400, "invalid_parameter", f"{name} must be a number from {low} to {high}")
    return int(value)


def _describe(exc: ValidationError, where: str) -> str:
    """Field paths and rule messages only: pydantic's own text would echo the debtor's data."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}.{loc}: {error['msg']}" if loc else f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
