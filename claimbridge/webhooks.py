"""Receiving agencies' webhooks: verify, spool to disk, answer — nothing else.

A small stdlib HTTP server (one POST path per agency, ``/webhooks/<agency name>``) hands each
delivery to the agency connector's ``parse_webhook`` to verify its signature, then writes the
verified raw body atomically to ``<workdir>/webhooks/<agency>/<timestamp>-<id>.json`` (0600 in
a 0700 directory) and answers 202. The agency's ``updates()`` reads the spool in name order, so
reconciliation applies pushed events on its next run, in the order they arrived, under the
same dedup ids as polled ones. A second delivery of an event already spooled (the agency's
retry) is answered 202 and not written again.

A bad signature gets 401 and is dropped. A delivery that verifies but cannot be read is kept
in ``unusable/`` for a person and answered 202 (resending it would not make it readable).
Log lines name the agency, the status and the size — never the body or its headers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

from claimbridge.connectors.base import Agency
from claimbridge.errors import AuthError, ClaimbridgeError, DataError

__all__ = [
    "DEFAULT_MAX_BODY",
    "SPOOL_DIR",
    "WebhookServer",
    "read_spool",
    "spool",
    "spool_dir",
]

log = logging.getLogger("claimbridge.webhooks")

SPOOL_DIR = "webhooks"
DEFAULT_MAX_BODY = 256 * 1024
_SAFE = re.compile(r"[^A-Za-z0-9_.:-]")
_NAME = re.compile(r"^(\d{8}T\d{12}Z)-([A-Za-z0-9_.:-]{1,120})\.json$")


def spool_dir(workdir: Path, agency: str) -> Path:
    return workdir / SPOOL_DIR / _SAFE.sub("_", agency)


def spool(directory: Path, event_id: str, body: bytes, *, now: dt.datetime | None = None) -> Path:
    """Write one verified body under a sortable name; an id already spooled is not rewritten."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    safe = _SAFE.sub("_", event_id)[:120] or "event"
    existing = next(iter(sorted(directory.glob(f"*-{safe}.json"))), None)
    if existing is not None and _NAME.match(existing.name):
        return existing
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    target = directory / f"{stamp}-{safe}.json"
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".incoming-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)
    return target


def read_spool(directory: Path, after: str | None = None) -> Iterator[tuple[str, str, bytes]]:
    """``(file name, event id, body)`` of spooled events named after ``after``, in name order."""
    if not directory.is_dir():
        return
    names = sorted(p.name for p in directory.iterdir() if _NAME.match(p.name))
    for name in names:
        if after is not None and name <= after:
            continue
        match = _NAME.match(name)
        assert match is not None
        yield name, match.group(2), (directory / name).read_bytes()


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the server ---------------------------------------------------------------------------


class WebhookServer:
    """Serve ``POST /webhooks/<name>`` for each agency in ``agencies``; use as a context
    manager (a background thread) or call :meth:`serve_forever`."""

    def __init__(
        self,
        agencies: Mapping[str, Agency],
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8780,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.routes = {f"/{SPOOL_DIR}/{name}": (name, agency) for name, agency in agencies.items()}
        self.workdir = workdir
        self.max_body = max_body
        self._lock = threading.Lock()  # one verification + spool at a time per server
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def receive(self, path: str, headers: Mapping[str, str], body: bytes) -> int:
        """Verify and spool one delivery; the HTTP status to answer."""
        route = self.routes.get(path)
        if route is None:
            return 404
        name, agency = route
        directory = spool_dir(self.workdir, name)
        with self._lock:
            try:
                updates = agency.parse_webhook(headers, body)
            except AuthError:
                log.warning("webhook for %s refused: signature does not verify", name)
                return 401
            except DataError as exc:
                log.warning("webhook for %s verified but unreadable: %s", name, exc)
                spool(directory / "unusable", _digest(body), body)
                return 202
            except ClaimbridgeError as exc:
                log.warning("webhook for %s not handled: %s", name, type(exc).__name__)
                return 500
            event_id = updates[0].update_id if updates else _digest(body)
            spool(directory, event_id, body)
        log.info("webhook for %s spooled (%d bytes, %d update(s))", name, len(body), len(updates))
        return 202


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()[:32]


class _Handler(BaseHTTPRequestHandler):
    server_state: WebhookServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        state = self.server_state
        if self.path not in state.routes:
            self._answer(404)
            return
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.strip().isdigit():
            self._answer(411)
            return
        length = int(length_header)
        if length > state.max_body:
            self._answer(413)
            return
        body = self.rfile.read(length)
        headers = dict(self.headers.items())
        self._answer(state.receive(self.path, headers, body))

    def do_GET(self) -> None:
        self._answer(405)

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _answer(self, status: int) -> None:
        self.send_response(status)
        if status == 405:
            self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        if status in (411, 413):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("webhook request: %s", self.requestline.split(" ")[0])
