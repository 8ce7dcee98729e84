"""The Alembic migrations on real databases: what they build is what ``tables.py`` declares,
and a store with rows in it upgrades (and downgrades) without losing them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from claimbridge.state.engine import MIGRATIONS_DIR, create_state_engine
from claimbridge.state.tables import metadata
from tests.integration.postgres import throwaway_cluster

NOW = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.service)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = create_state_engine(f"sqlite:///{tmp_path / 'state.db'}")
        yield made
        made.dispose()
        return
    with throwaway_cluster() as url:
        made = create_engine(url)
        yield made
        made.dispose()


def _migrate(engine: Engine, target: str, *, down: bool = False) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        if down:
            command.downgrade(config, target)
        else:
            command.upgrade(config, target)


def _fill_0001(engine: Engine) -> None:
    """Rows a store at 0001 holds: an outbox delivery and a payment seen."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO outbox (pipeline, agency, case_key, idempotency_key, kind, status,"
                " attempts, run_id, created_at, updated_at)"
                " VALUES ('main', 'a', 'cb-1', 'k1', 'case', 'accepted', 1, 'r', :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO payments_seen (source, payment_id, pipeline, amount, currency,"
                " booking_date, status, seen_at)"
                " VALUES ('bank', 'p1', 'main', 100, 'NOK', :day, 'matched', :now)"
            ),
            {"now": NOW, "day": NOW.date()},
        )


def test_head_is_exactly_what_tables_declares(engine: Engine) -> None:
    _migrate(engine, "head")
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_upgrade_keeps_rows_and_allows_two_corrections_per_case(engine: Engine) -> None:
    _migrate(engine, "0001")
    _fill_0001(engine)
    _migrate(engine, "head")
    with engine.begin() as conn:
        kind = conn.execute(text("SELECT kind FROM payments_seen")).scalar_one()
        assert kind == "payment"  # rows from before get the default
        for key in ("k2", "k3"):  # two direct payments on one case: no unique conflict
            conn.execute(
                text(
                    "INSERT INTO outbox (pipeline, agency, case_key, idempotency_key, kind,"
                    " status, attempts, run_id, created_at, updated_at)"
                    " VALUES ('main', 'a', 'cb-1', :key, 'payment', 'pending', 0, 'r', :now, :now)"
                ),
                {"key": key, "now": NOW},
            )
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 3
    assert "updates_seen" in inspect(engine).get_table_names()


def test_downgrade_to_0001_and_up_again(engine: Engine) -> None:
    _migrate(engine, "0001")
    _fill_0001(engine)
    _migrate(engine, "head")
    _migrate(engine, "0001", down=True)
    names = inspect(engine).get_table_names()
    assert "updates_seen" not in names
    columns = {c["name"] for c in inspect(engine).get_columns("settlements_seen")}
    assert "voucher_ref" not in columns
    _migrate(engine, "head")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 1
