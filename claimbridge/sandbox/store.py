"""The sandbox agency's own storage: an SQLite file (or ``:memory:``) of cases and events.

It behaves like an agency's back office: an idempotency key is remembered with a hash of the
case it came with, so the same delivery sent twice gets the same answer and a different case
under a used key is a conflict. Events carry a growing integer id that doubles as the cursor
clients page with; ``kind``/``status`` use the canonical :class:`CaseEvent` words and ``data``
holds any extra JSON a later event type needs (settlement lines, activity), so the table grows
without a new schema.

Corrections from the creditor (a direct payment, a credit note, a withdrawal, a pause, a resume)
are remembered the same way, with their answer. The agency has a clock: the day it believes it
is, moved on by the simulation (never back) so the demo can let a month pass in seconds. Without
one set, the clock is the wall clock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claimbridge.sandbox.activity import CorrectionInput
from claimbridge.sandbox.corrections import CorrectionAnswer, answer, refusal
from claimbridge.schemas import AddressState, Case, CaseStatus, EventKind

if TYPE_CHECKING:
    from claimbridge.sandbox.activity import PlannedEvent

__all__ = [
    "IdempotencyConflict",
    "SandboxStore",
    "Submission",
    "screen_case",
]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    agency_ref      TEXT UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    body_hash       TEXT NOT NULL,
    case_key        TEXT NOT NULL,
    status          TEXT NOT NULL,
    principal       TEXT NOT NULL,
    currency        TEXT NOT NULL,
    claim_count     INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    case_json       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejections (
    idempotency_key TEXT PRIMARY KEY,
    body_hash       TEXT NOT NULL,
    case_key        TEXT NOT NULL,
    reason          TEXT NOT NULL,
    principal       TEXT NOT NULL,
    currency        TEXT NOT NULL,
    claim_count     INTEGER NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    kind    TEXT NOT NULL,
    status  TEXT,
    at      TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    data    TEXT
);
CREATE INDEX IF NOT EXISTS events_case ON events(case_id);
CREATE TABLE IF NOT EXISTS simulated (
    case_id  INTEGER NOT NULL REFERENCES cases(id),
    seq      INTEGER NOT NULL,
    event_id INTEGER NOT NULL REFERENCES events(id),
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE IF NOT EXISTS clock (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    today TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS corrections (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    body_hash       TEXT NOT NULL,
    agency_ref      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    invoice_number  TEXT,
    amount          TEXT,
    status          TEXT NOT NULL,
    reason          TEXT,
    effective_on    TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS corrections_case ON corrections(agency_ref);
"""

_SUMMARY_COLUMNS = (
    "agency_ref, idempotency_key, case_key, status, NULL AS reason, principal, currency, "
    "claim_count, created_at"
)


class IdempotencyConflict(Exception):
    """The key was used before with a different case (or correction)."""


@dataclass(frozen=True, slots=True)
class Submission:
    """What the agency did with one delivery. ``replayed``: the key had been seen before."""

    idempotency_key: str
    status: str  # accepted | rejected
    agency_ref: str | None
    reason: str | None
    replayed: bool

    def as_result(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "status": self.status,
            "agency_ref": self.agency_ref,
            "reason": self.reason,
        }


def screen_case(case: Case, min_principal: Decimal) -> str | None:
    """The agency's acceptance rules; the reason a case is refused, or None to accept it.

    Reasons name the rule, never the debtor's data.
    """
    if case.total_principal < min_principal:
        return (
            f"total principal {case.total_principal} {case.currency} is below the agency's "
            f"minimum of {min_principal}"
        )
    debtor = case.debtor
    has_address = any(a.state is not AddressState.UNKNOWN for a in debtor.addresses)
    if not (has_address or debtor.phones or debtor.emails):
        return "the debtor has no address, phone number or e-mail address"
    return None


class SandboxStore:
    """Thread-safe access to the sandbox database (one connection, one lock)."""

    def __init__(
        self, path: str | Path = ":memory:", *, now: Callable[[], datetime] | None = None
    ) -> None:
        self._fixed_now = now
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        with self._lock, self._db:
            if str(path) != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # survives a crash of the process
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # the clock -----------------------------------------------------------------------------

    def clock(self) -> date | None:
        """The day the agency believes it is, when the simulation has set one."""
        with self._lock:
            row = self._db.execute("SELECT today FROM clock WHERE id = 1").fetchone()
        return date.fromisoformat(row["today"]) if row else None

    def advance_clock(self, day: date) -> date:
        """Move the clock on to ``day`` (never back); returns the clock's day."""
        with self._lock, self._db:
            current = self.clock()
            if current is None or day > current:
                self._db.execute(
                    "INSERT INTO clock (id, today) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET today = excluded.today",
                    (day.isoformat(),),
                )
                return day
            return current

    def _now(self) -> datetime:
        if self._fixed_now is not None:
            return self._fixed_now()
        wall = datetime.now(UTC)
        day = self.clock()
        return wall if day is None else datetime.combine(day, wall.time(), tzinfo=UTC)

    def today(self) -> date:
        return self._now().date()

    # writes ------------------------------------------------------------------------------

    def submit(self, key: str, case: Case, body_hash: str, *, min_principal: Decimal) -> Submission:
        """Accept or reject one delivery, once per key. Raises IdempotencyConflict."""
        with self._lock, self._db:
            previous = self._previous(key)
            if previous is not None:
                if previous["body_hash"] != body_hash:
                    raise IdempotencyConflict(key)
                return Submission(
                    key, previous["status"], previous["agency_ref"], previous["reason"], True
                )
            now = self._now().isoformat()
            common = (
                case.case_key,
                str(case.total_principal),
                case.currency,
                len(case.claims),
                now,
            )
            reason = screen_case(case, min_principal)
            if reason is not None:
                self._db.execute(
                    "INSERT INTO rejections (idempotency_key, body_hash, reason, case_key,"
                    " principal, currency, claim_count, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, body_hash, reason, *common),
                )
                return Submission(key, "rejected", None, reason, False)
            cursor = self._db.execute(
                "INSERT INTO cases (idempotency_key, body_hash, status, case_json, case_key,"
                " principal, currency, claim_count, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, body_hash, CaseStatus.ACCEPTED.value, case.model_dump_json(), *common),
            )
            case_id = cursor.lastrowid
            assert case_id is not None
            agency_ref = f"SBX-{case_id:06d}"
            self._db.execute("UPDATE cases SET agency_ref = ? WHERE id = ?", (agency_ref, case_id))
            self._add_event(case_id, EventKind.RECEIPT, CaseStatus.ACCEPTED, "case accepted")
            return Submission(key, "accepted", agency_ref, None, False)

    def add_event(
        self,
        agency_ref: str,
        kind: EventKind,
        status: CaseStatus | None,
        message: str = "",
        data: dict[str, Any] | None = None,
    ) -> int:
        """Record something that happened to a case; a new status is applied to the case."""
        with self._lock, self._db:
            row = self._db.execute(
                "SELECT id FROM cases WHERE agency_ref = ?", (agency_ref,)
            ).fetchone()
            if row is None:
                raise KeyError(agency_ref)
            if status is not None:
                self._db.execute(
                    "UPDATE cases SET status = ? WHERE id = ?", (status.value, row["id"])
                )
            return self._add_event(row["id"], kind, status, message, data)

    def record_simulated(self, planned: Iterable[tuple[str, PlannedEvent]]) -> int:
        """Record simulated events (agency ref, event) in the given order, each only once.

        One transaction: a crash leaves either all of them or none. Returns how many were new.
        """
        added = 0
        with self._lock, self._db:
            for agency_ref, event in planned:
                row = self._db.execute(
                    "SELECT id FROM cases WHERE agency_ref = ?", (agency_ref,)
                ).fetchone()
                if row is None:
                    raise KeyError(agency_ref)
                seen = self._db.execute(
                    "SELECT 1 FROM simulated WHERE case_id = ? AND seq = ?", (row["id"], event.seq)
                ).fetchone()
                if seen is not None:
                    continue
                if event.status is not None:
                    self._db.execute(
                        "UPDATE cases SET status = ? WHERE id = ?", (event.status.value, row["id"])
                    )
                at = datetime.combine(event.on, time(), tzinfo=UTC)
                event_id = self._add_event(
                    row["id"], EventKind(event.kind), event.status, event.message, event.data, at
                )
                self._db.execute(
                    "INSERT INTO simulated (case_id, seq, event_id) VALUES (?, ?, ?)",
                    (row["id"], event.seq, event_id),
                )
                added += 1
        return added

    def correct(self, key: str, body: dict[str, Any], body_hash: str) -> CorrectionAnswer:
        """Apply one correction once per key; the same key again gets the same answer.

        ``body`` is already shape-checked (see the server): agency_ref, kind, and for payment
        and reduce an invoice number (or none: the case's claims, oldest first) and an amount.
        Raises IdempotencyConflict and KeyError (no such case).
        """
        with self._lock, self._db:
            row = self._db.execute(
                "SELECT * FROM corrections WHERE idempotency_key = ?", (key,)
            ).fetchone()
            if row is not None:
                if row["body_hash"] != body_hash:
                    raise IdempotencyConflict(key)
                return answer(row, replayed=True)
            ref = str(body["agency_ref"])
            case = self._db.execute(
                "SELECT id, status, currency, case_json FROM cases WHERE agency_ref = ?", (ref,)
            ).fetchone()
            if case is None:
                raise KeyError(ref)
            kind = str(body["kind"])
            reason = refusal(case, body)
            effective = self.today() + timedelta(days=1)
            status = "rejected" if reason else "accepted"
            cursor = self._db.execute(
                "INSERT INTO corrections (idempotency_key, body_hash, agency_ref, kind,"
                " invoice_number, amount, status, reason, effective_on, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    body_hash,
                    ref,
                    kind,
                    body.get("invoice_number"),
                    str(body["amount"]) if body.get("amount") is not None else None,
                    status,
                    reason,
                    None if reason else effective.isoformat(),
                    self._now().isoformat(),
                ),
            )
            row = self._db.execute(
                "SELECT * FROM corrections WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
            if reason is None:
                self._correction_event(case, body)
            return answer(row, replayed=False)

    def _correction_event(self, case: sqlite3.Row, body: dict[str, Any]) -> None:
        """What the agency's own event feed says about a correction it accepted."""
        kind, invoice = body["kind"], body.get("invoice_number")
        on = f" on invoice {invoice}" if invoice else ""
        if kind in ("payment", "reduce"):
            what = "direct payment" if kind == "payment" else "credit note"
            amount = f"{Decimal(str(body['amount'])):.2f} {case['currency']}"
            message = f"{what} of {amount} registered{on}; the claim is reduced"
            self._add_event(case["id"], EventKind.MESSAGE, None, message)
            return
        if kind == "withdraw" and invoice and self._claims_left(case) > 0:
            self._add_event(case["id"], EventKind.MESSAGE, None, f"claim{on} withdrawn")
            return
        status = {
            "withdraw": CaseStatus.WITHDRAWN,
            "pause": CaseStatus.PAUSED,
            "resume": CaseStatus.ACTIVE,
        }[kind]
        words = {"withdraw": "withdrawn", "pause": "paused", "resume": "resumed"}[kind]
        self._db.execute("UPDATE cases SET status = ? WHERE id = ?", (status.value, case["id"]))
        self._add_event(case["id"], EventKind.STATUS, status, f"{words} at the creditor's request")

    def _claims_left(self, case: sqlite3.Row) -> int:
        """Claims of the case not withdrawn yet (claim-level withdrawals only)."""
        claims = {c.invoice_number for c in Case.model_validate_json(case["case_json"]).claims}
        gone = {
            row["invoice_number"]
            for row in self._db.execute(
                "SELECT invoice_number FROM corrections WHERE agency_ref = ("
                " SELECT agency_ref FROM cases WHERE id = ?) AND kind = 'withdraw'"
                " AND status = 'accepted'",
                (case["id"],),
            )
        }
        return len(claims - gone)

    def _add_event(
        self,
        case_id: int,
        kind: EventKind,
        status: CaseStatus | None,
        message: str,
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> int:
        cursor = self._db.execute(
            "INSERT INTO events (case_id, kind, status, at, message, data)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                case_id,
                kind.value,
                status.value if status else None,
                (at or self._now()).isoformat(),
                message,
                json.dumps(data) if data is not None else None,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _previous(self, key: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT body_hash, status, agency_ref, NULL AS reason FROM cases"
            " WHERE idempotency_key = ?"
            " UNION ALL SELECT body_hash, 'rejected', NULL, reason FROM rejections"
            " WHERE idempotency_key = ?",
            (key, key),
        ).fetchone()
        return row

    # reads -------------------------------------------------------------------------------

    def by_key(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM cases WHERE idempotency_key = ?"  # noqa: S608
                " UNION ALL SELECT NULL, idempotency_key, case_key, 'rejected', reason,"
                " principal, currency, claim_count, created_at FROM rejections"
                " WHERE idempotency_key = ?",
                (key, key),
            ).fetchone()
        return dict(row) if row else None

    def by_ref(self, agency_ref: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_SUMMARY_COLUMNS} FROM cases WHERE agency_ref = ?",  # noqa: S608
                (agency_ref,),
            ).fetchone()
        return dict(row) if row else None

    def list_cases(self, after_id: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """One page of accepted cases in creation order, and the id to continue after."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, {_SUMMARY_COLUMNS} FROM cases WHERE id > ?"  # noqa: S608
                " ORDER BY id LIMIT ?",
                (after_id, limit + 1),
            ).fetchall()
        page = [dict(row) for row in rows[:limit]]
        next_id = page[-1].pop("id") if len(rows) > limit else None
        for item in page:
            item.pop("id", None)
        return page, next_id

    def events(self, after: int, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT e.id, e.kind, e.status, e.at, e.message, e.data, c.case_key,"
                " c.agency_ref FROM events e JOIN cases c ON c.id = e.case_id"
                " WHERE e.id > ? ORDER BY e.id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [
            {
                "cursor": str(row["id"]),
                "event_id": f"sbx-evt-{row['id']}",
                "case_key": row["case_key"],
                "agency_ref": row["agency_ref"],
                "at": row["at"],
                "kind": row["kind"],
                "status": row["status"],
                "message": row["message"],
                "data": json.loads(row["data"]) if row["data"] else None,
            }
            for row in rows
        ]

    def accepted_cases(self) -> Iterator[tuple[int, str, Case, date]]:
        """Every accepted case: (row id, agency ref, case, day accepted), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, agency_ref, case_json, created_at FROM cases ORDER BY id"
            ).fetchall()
        for row in rows:
            accepted = datetime.fromisoformat(row["created_at"]).date()
            yield row["id"], row["agency_ref"], Case.model_validate_json(row["case_json"]), accepted

    def correction_by_key(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM corrections WHERE idempotency_key = ?", (key,)
            ).fetchone()
        return answer(row).as_result() if row else None

    def corrections_by_case(self) -> dict[str, tuple[CorrectionInput, ...]]:
        """Accepted corrections per agency ref, in the order they arrived (the simulation)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT agency_ref, kind, invoice_number, amount, effective_on FROM corrections"
                " WHERE status = 'accepted' ORDER BY id"
            ).fetchall()
        found: dict[str, list[CorrectionInput]] = {}
        for row in rows:
            found.setdefault(row["agency_ref"], []).append(
                CorrectionInput(
                    effective_on=date.fromisoformat(row["effective_on"]),
                    kind=row["kind"],
                    invoice_number=row["invoice_number"],
                    amount=Decimal(row["amount"] or "0"),
                )
            )
        return {ref: tuple(items) for ref, items in found.items()}

    def count_corrections(self, status: str = "accepted") -> int:
        with self._lock:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM corrections WHERE status = ?", (status,)
            ).fetchone()
        return int(count)

    def count_cases(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM cases").fetchone()
        return int(count)
