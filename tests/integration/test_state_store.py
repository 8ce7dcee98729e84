"""The state store on real databases: SQLite always, PostgreSQL when its binaries exist."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy import inspect, text, update
from sqlalchemy.exc import OperationalError

from claimbridge.errors import LeaseHeldError, StateError
from claimbridge.state import StateStore
from claimbridge.state.lease import Lease
from claimbridge.state.tables import audit_log, metadata
from tests.integration.postgres import throwaway_cluster


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.service)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        opened = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
        yield opened
        opened.close()
        return
    with throwaway_cluster() as url:
        opened = StateStore.open(url)
        yield opened
        opened.close()


def test_migrations_create_every_table(store: StateStore) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert set(metadata.tables) <= names
    assert "alembic_version" in names


def test_reopening_is_idempotent(store: StateStore) -> None:
    StateStore(store.engine)  # the same engine, migrations already at head
    from claimbridge.state.engine import upgrade

    upgrade(store.engine)
    upgrade(store.engine)


def test_sqlite_pragmas(tmp_path: Path) -> None:
    opened = StateStore.open(f"sqlite:///{tmp_path / 's.db'}")
    with opened.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    opened.close()


def test_lease_excludes_a_second_holder_until_released(store: StateStore) -> None:
    with store.lease("main", "run-a"):
        with pytest.raises(LeaseHeldError) as caught:
            store.lease("main", "run-b").acquire()
        assert "already running" in str(caught.value)
        assert caught.value.exit_code == 11
        store.lease("other", "run-c").acquire().release()  # other pipelines are free
    with store.lease("main", "run-b"):
        pass


def test_expired_lease_can_be_taken_over(store: StateStore) -> None:
    held = store.lease("main", "crashed", ttl_s=0.05).acquire()
    held._stop.set()  # the crashed run stops heart-beating
    import time

    time.sleep(0.2)
    with store.lease("main", "next"):
        pass


def test_lease_race_has_one_winner(store: StateStore) -> None:
    winners: list[Lease] = []
    barrier = threading.Barrier(6)

    def contend(name: str) -> None:
        barrier.wait()
        with contextlib.suppress(LeaseHeldError):
            winners.append(store.lease("race", name).acquire())

    threads = [threading.Thread(target=contend, args=(f"r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    winners[0].release()  # its heartbeat must not outlive the test's database


def test_a_refused_heartbeat_is_logged_not_raised(
    store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    lease = store.lease("beat", "holder", ttl_s=0.03).acquire()
    try:
        with (
            caplog.at_level("WARNING", logger="claimbridge.lease"),
            mock.patch.object(
                lease._engine, "begin", side_effect=OperationalError("x", {}, Exception("gone"))
            ),
        ):
            deadline = time.monotonic() + 5
            while "could not extend the lease" not in caplog.text:
                assert time.monotonic() < deadline, "no heartbeat was attempted"
                time.sleep(0.01)
        assert lease._thread is not None
        assert lease._thread.is_alive()
    finally:
        lease.release()


def test_cursor_round_trip(store: StateStore) -> None:
    assert store.get_cursor("main", "invoices") is None
    with store.begin() as conn:
        store.set_cursor(conn, "main", "invoices", "c1")
    with store.begin() as conn:
        store.set_cursor(conn, "main", "invoices", "c2")
    assert store.get_cursor("main", "invoices") == "c2"


def test_cursor_rolls_back_with_its_outbox_rows(store: StateStore) -> None:
    row = {
        "pipeline": "main",
        "agency": "a",
        "case_key": "cb-1",
        "idempotency_key": "k1",
        "payload": "{}",
        "run_id": "r",
    }

    def crash_before_commit() -> None:
        with store.begin() as conn:
            store.enqueue(conn, [row])
            store.set_cursor(conn, "main", "invoices", "advanced")
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError, match="crash before commit"):
        crash_before_commit()
    assert store.get_cursor("main", "invoices") is None
    assert store.outbox_items("main", "a", ["pending"], 10) == []


def test_enqueue_is_idempotent_on_case_and_key(store: StateStore) -> None:
    row = {
        "pipeline": "main",
        "agency": "a",
        "case_key": "cb-1",
        "idempotency_key": "k1",
        "payload": "{}",
        "run_id": "r",
    }
    for _ in range(3):
        with store.begin() as conn:
            store.enqueue(conn, [row])
    items = store.outbox_items("main", "a", ["pending"], 10)
    assert [i.idempotency_key for i in items] == ["k1"]
    store.mark_sending(["k1"])
    with store.begin() as conn:
        store.set_outbox(conn, [{"key": "k1", "status": "accepted", "agency_ref": "REF-1"}])
    [item] = store.outbox_by_keys(["k1"])
    assert item.status == "accepted"
    assert item.payload is None  # personal data dropped once delivered
    assert item.attempts == 1


def test_money_round_trips_exactly(store: StateStore) -> None:
    row = {
        "pipeline": "main",
        "invoice_number": "1001",
        "source_system": "files",
        "source_company": "",
        "source_record_id": "1001",
        "debtor_id": "c1",
        "debtor_key": "NO:923609016",
        "currency": "NOK",
        "original_amount": Decimal("1234567.89"),
        "remaining_principal": Decimal("0.10"),
        "invoice_date": dt.date(2026, 1, 31),
        "due_date": dt.date(2026, 2, 28),
        "kid": None,
        "outcome": "wait",
        "decision": "{}",
        "decided_on": dt.date(2026, 3, 1),
        "case_key": None,
        "handed_over_on": None,
        "status": "open",
        "run_id": "r",
        "updated_at": dt.datetime.now(dt.UTC),
    }
    with store.begin() as conn:
        store.upsert_claims(conn, [row])
    saved = store.claim("main", "1001")
    assert saved is not None
    assert saved.original_amount == Decimal("1234567.89")
    assert saved.remaining_principal == Decimal("0.10")


def test_audit_chain_detects_tampering(store: StateStore) -> None:
    for i in range(5):
        with store.begin() as conn:
            store.audit(
                conn, pipeline="main", run_id="r", action="x", subject=f"s{i}", detail={"n": i}
            )
    assert store.verify_audit() == 5
    with store.begin() as conn:
        conn.execute(
            update(audit_log).where(audit_log.c.seq == 3).values(detail=json.dumps({"n": 99}))
        )
    with pytest.raises(StateError, match="entry 3"):
        store.verify_audit()


def test_staging_is_cleared_per_pipeline(store: StateStore) -> None:
    mine, other = store.start_run("main", "sync"), store.start_run("other", "sync")
    row = {
        "debtor_id": "c1",
        "debtor_key": "k",
        "score": 90,
        "consumer": True,
        "tags": "[]",
        "party": "{}",
        "quality": "{}",
    }
    with store.begin() as conn:
        store.staging.stage_parties(conn, mine, [row])
        store.staging.stage_parties(conn, other, [row])
    store.staging.clear("main")
    with store.engine.connect() as conn:
        left = [r[0] for r in conn.execute(text("select run_id from staged_parties"))]
    assert left == [other]  # another pipeline's running staging is not touched


def test_unreachable_database_is_a_state_error(tmp_path: Path) -> None:
    with pytest.raises(StateError):
        StateStore.open("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_bulk_path_stores_exactly_what_the_ordinary_path_stores(tmp_path: Path) -> None:
    from sqlalchemy import select

    from claimbridge.state._sql import BULK_THRESHOLD, insert_for
    from claimbridge.state.tables import claims

    def rows(prefix: str) -> list[dict[str, object]]:
        return [
            {
                "pipeline": "p",
                "invoice_number": f"{i:05d}",
                "source_system": "files",
                "source_company": "",
                "source_record_id": f"{prefix}{i}",
                "debtor_id": "c1",
                "debtor_key": "NO:1",
                "currency": "NOK",
                "original_amount": Decimal("1234567.89") + i,
                "remaining_principal": Decimal("0.10"),
                "invoice_date": dt.date(2024, 2, 29),
                "due_date": dt.date(2024, 3, 14),
                "kid": None if i % 2 else "1234",
                "outcome": "wait",
                "decision": "{}",
                "decided_on": dt.date(2026, 11, 23),
                "status": "open",
                "run_id": "r",
                "updated_at": dt.datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=dt.UTC),
            }
            for i in range(BULK_THRESHOLD * 2)
        ]

    fast = StateStore.open(f"sqlite:///{tmp_path / 'fast.db'}")
    slow = StateStore.open(f"sqlite:///{tmp_path / 'slow.db'}")
    with fast.begin() as conn:
        fast.upsert_claims(conn, rows("x"))
    with slow.begin() as conn:
        conn.execute(insert_for(conn, claims), rows("x"))  # SQLAlchemy's own path
    query = select(claims).order_by(claims.c.invoice_number)
    with fast.engine.connect() as a, slow.engine.connect() as b:
        assert list(a.execute(query)) == list(b.execute(query))
        raw = "select original_amount, invoice_date, updated_at from claims order by 1"
        assert list(a.exec_driver_sql(raw)) == list(b.exec_driver_sql(raw))
    fast.close()
    slow.close()
