"""Killing a reconcile between any two of its steps and running it again books every
settlement line exactly once and delivers every correction exactly once.

``claimbridge reconcile`` runs as a real process (``crashing_cli.py``: the real command line
with one function wrapped to SIGKILL the process at a chosen point) against the sandbox agency
in this process. SIGKILL leaves no chance to clean up: lines stay ``booking``, outbox rows
``sending``, the lease held until its TTL runs out.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from claimbridge.sandbox.server import SandboxServer
from tests.integration.reconcile_workspace import (
    TODAY,
    TOKEN,
    WEEKLY,
    Workspace,
    journal_totals,
    make_workspace,
)

from .conftest import one_json, query

CRASHING_CLI = Path(__file__).with_name("crashing_cli.py")
RUN_DAY = TODAY + dt.timedelta(days=28)
pytestmark = pytest.mark.slow


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """Four weeks of collection waiting at the agency, and one direct payment in the ledger."""
    with SandboxServer(TOKEN, db_path=tmp_path / "agency.db", activity=WEEKLY) as server:
        made = make_workspace(tmp_path / "ws", server)
        made.sync()
        made.simulate(RUN_DAY)
        invoice, _, principal = made.handed_over()[0]
        made.write_payments(
            [
                {
                    "payment_id": "P-direct",
                    "invoice_number": invoice,
                    "payment_date": (TODAY + dt.timedelta(days=3)).isoformat(),
                    "amount": f"{principal / 4:.2f}",
                }
            ]
        )
        yield made


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMBRIDGE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _reconcile(
    workspace: Workspace, crash_at: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = _env()
    command = [sys.executable, "-m", "claimbridge"]
    if crash_at is not None:
        env["CB_CRASH_AT"] = crash_at
        command = [sys.executable, str(CRASHING_CLI)]
    return subprocess.run(
        [*command, "--config", str(workspace.config_path), "--today", RUN_DAY.isoformat(),
         "--json", "reconcile"],
        cwd=workspace.directory,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )  # fmt: skip


def _expire_lease(workspace: Workspace) -> None:
    import sqlite3

    conn = sqlite3.connect(workspace.state_db, timeout=10)
    try:
        with conn:
            conn.execute("UPDATE leases SET expires_at = '2000-01-01 00:00:00.000000'")
    finally:
        conn.close()


def _agency_line_ids(workspace: Workspace) -> set[str]:
    """Every settlement line the agency has paid out so far (from its own event log)."""
    rows = query(
        workspace.directory.parent / "agency.db",
        "SELECT data FROM events WHERE kind = 'settlement'",
    )
    return {line["line_id"] for (data,) in rows for line in json.loads(data)["settlement"]["lines"]}


def _assert_exactly_once(workspace: Workspace) -> None:
    rows = workspace.journal.rows()
    bookings: dict[str, set[str]] = {}
    for row in rows:
        bookings.setdefault(row.external_ref, set()).add(row.booking_id)
    assert all(len(ids) == 1 for ids in bookings.values()), "a reference booked twice"
    paid_out = _agency_line_ids(workspace)
    assert paid_out, "the scenario has no settlement lines"
    lines = workspace.query(
        "SELECT line_id, status, ledger_ref, voucher_ref, principal,"
        " interest + fees + commission FROM settlements_seen"
    )
    assert {line[0] for line in lines} == paid_out
    with_principal = {line[0] for line in lines if Decimal(str(line[4])) > 0}
    with_voucher = {line[0] for line in lines if Decimal(str(line[5])) > 0}
    assert {ref for ref in bookings if not ref.endswith("/voucher")} == with_principal
    assert {r.removesuffix("/voucher") for r in bookings if r.endswith("/voucher")} == with_voucher
    for line_id, status, ledger_ref, voucher_ref, _, _ in lines:
        assert status == "booked", line_id
        # the store holds the ledger's own ids
        assert bookings.get(line_id, {None}) == {ledger_ref}
        assert bookings.get(f"{line_id}/voucher", {None}) == {voucher_ref}
    # the money: the journal's receivables credits are the settled principal, once
    principal = sum(
        (Decimal(str(p)) for (p,) in workspace.query("SELECT principal FROM settlements_seen")),
        Decimal(0),
    )
    assert -journal_totals(rows)["1500"] == principal
    # the direct payment reached the agency once, and is recorded as delivered
    assert workspace.server.store.count_corrections() == 1
    assert workspace.query("SELECT status FROM outbox WHERE kind = 'payment'") == [("accepted",)]


POINTS = [
    "updates:2",  # between two chunks of agency updates
    "mark:3",  # lines marked booking, the third not yet at the ledger
    "journal:1",  # the first booking in the ledger, the store not told
    "journal:6",  # some lines whole, one half-booked (payment without its voucher)
    "finish:2",  # both parts booked, the line not marked booked
    "report:1",  # the correction in the outbox, not sent
    "correct:1",  # the agency has the correction, its answer lost
]


@pytest.mark.parametrize("crash_at", POINTS)
def test_a_reconcile_killed_anywhere_is_finished_by_the_next_exactly_once(
    workspace: Workspace, crash_at: str
) -> None:
    killed = _reconcile(workspace, crash_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if crash_at == POINTS[0]:
        blocked = _reconcile(workspace)
        assert blocked.returncode == 11  # the dead run's lease: no overlap
        assert "already running" in blocked.stderr
    _expire_lease(workspace)

    again = _reconcile(workspace)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Traceback" not in again.stderr
    stats = one_json(again.stdout)
    assert stats["problems"] == []
    assert stats["corrections_unknown"] == stats["lines_failed"] == 0
    _assert_exactly_once(workspace)

    third = _reconcile(workspace)
    assert third.returncode == 0, third.stderr
    quiet = one_json(third.stdout)
    # at most the agency's own confirmation of the correction is new; nothing is booked or sent
    assert quiet["updates_read"] <= 1
    assert (quiet["lines_booked"], quiet["corrections_queued"], quiet["corrections_sent"]) == (
        0,
        0,
        0,
    )
    _assert_exactly_once(workspace)


def test_an_uncrashed_run_books_the_same(workspace: Workspace) -> None:
    done = _reconcile(workspace)
    assert done.returncode == 0, done.stderr
    stats = one_json(done.stdout)
    assert stats["lines_booked"] == len(_agency_line_ids(workspace))
    assert stats["corrections_sent"] == 1
    _assert_exactly_once(workspace)
