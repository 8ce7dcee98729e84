"""Killing a sync midway and running it again delivers every eligible case exactly once.

``claimbridge sync`` runs as a real process against the sandbox agency in this process; the
agency stores a batch and then stalls (``after_commit``), which is the hard case: the agency
has the cases, the client never heard so. SIGKILL leaves no chance to clean up: the outbox
rows stay ``sending`` and the lease stays held until its TTL runs out.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from claimbridge.sandbox.ledger import Category

from .conftest import (
    Workspace,
    agency_cases,
    agency_rejections,
    agency_submissions,
    assert_exactly_once,
    one_json,
    query,
    wait_for,
)

BATCH = "/v1/cases/batch"
BATCH_SIZE = 5


def _kill(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGKILL)
    _, err = process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    return err


def _recover_and_check(workspace: Workspace) -> None:
    """Run again until done; then the agency holds every eligible case exactly once."""
    ledger = workspace.ledger
    workspace.expire_lease()
    result = workspace.invoke("--json", "sync")
    assert result.exit_code in (0, 13), result.stdout + result.stderr  # 13: a rejection
    assert "Traceback" not in result.stdout + result.stderr
    stats = one_json(result.stdout)
    assert stats["unknown"] == 0
    assert stats["retryable"] == 0

    assert_exactly_once(agency_cases(workspace.agency_db), ledger.expected_due)
    [(rejected_case, _)] = agency_rejections(workspace.agency_db)
    outbox = dict(query(workspace.state_db, "SELECT status, count(*) FROM outbox GROUP BY status"))
    assert outbox == {"accepted": ledger.expected_debtors, "rejected": 1}
    rejected_claims = query(
        workspace.state_db,
        "SELECT o.case_key, c.invoice_number FROM outbox o"
        " JOIN claims c ON c.case_key = o.case_key WHERE o.status = 'rejected'",
    )
    assert rejected_claims == [(rejected_case, ledger.invoices_in(Category.UNREACHABLE)[0])]
    accepted_refs = query(
        workspace.state_db,
        "SELECT count(DISTINCT agency_ref) FROM outbox WHERE status = 'accepted'",
    )
    assert accepted_refs == [(ledger.expected_debtors,)]

    third = workspace.invoke("--json", "sync")
    assert third.exit_code == 0, third.stdout + third.stderr
    assert one_json(third.stdout)["cases_sent"] == 0
    assert workspace.server.store.count_cases() == ledger.expected_debtors


@pytest.mark.parametrize("stall_at", [1, 3])
def test_kill_while_the_agency_stalls_after_storing_a_batch(
    make_workspace: Callable[..., Workspace], stall_at: int
) -> None:
    workspace = make_workspace(batch_size=BATCH_SIZE)
    for _ in range(stall_at - 1):  # let the earlier batches through untouched
        workspace.add_fault(method="POST", path=BATCH)
    workspace.add_fault(method="POST", path=BATCH, delay_s=30, after_commit=True)

    process = workspace.spawn("sync")
    try:
        wait_for(
            lambda: agency_submissions(workspace.agency_db) >= BATCH_SIZE * stall_at,
            timeout=30,
            what="the stalled batch to be stored",
        )
        time.sleep(0.1)
        assert process.poll() is None, "sync finished before it could be killed"
    finally:
        _kill(process)
    assert agency_submissions(workspace.agency_db) == BATCH_SIZE * stall_at

    in_flight = query(workspace.state_db, "SELECT count(*) FROM outbox WHERE status = 'sending'")
    assert in_flight[0][0] >= BATCH_SIZE

    # the dead run still holds the lease: a run now refuses rather than overlap
    blocked = workspace.invoke("sync")
    assert blocked.exit_code == 11
    assert "already running" in blocked.stderr

    _recover_and_check(workspace)


@pytest.mark.parametrize("seed", [11, 23, 47])
def test_kill_at_a_random_early_moment(make_workspace: Callable[..., Workspace], seed: int) -> None:
    rng = random.Random(seed)
    workspace = make_workspace(batch_size=BATCH_SIZE)
    # slow every batch a little so the random moment can fall into delivery as well
    workspace.add_fault(method="POST", path=BATCH, delay_s=0.05, after_commit=True, count=100)

    process = workspace.spawn("sync")
    try:  # the clock starts when the run opens its state store: interpreter start-up varies
        wait_for(workspace.state_db.exists, timeout=30, what="the state store to be created")
        time.sleep(rng.uniform(0.0, 0.6))
    finally:
        if process.poll() is None:
            _kill(process)
        else:  # it finished first; still a run to check
            process.communicate(timeout=10)
    workspace.clear_faults()
    _recover_and_check(workspace)


def test_second_sync_exits_at_once_while_one_is_running(
    make_workspace: Callable[..., Workspace],
) -> None:
    workspace = make_workspace(batch_size=BATCH_SIZE)
    workspace.add_fault(method="POST", path=BATCH, delay_s=3, after_commit=True)
    first = workspace.spawn("--json", "sync")
    try:
        wait_for(
            lambda: agency_submissions(workspace.agency_db) >= BATCH_SIZE,
            timeout=30,
            what="the first sync to reach the agency",
        )
        started = time.monotonic()
        second = workspace.run("sync", timeout=30)
        elapsed = time.monotonic() - started
        assert first.poll() is None, "the first sync ended before the second one started"
    except BaseException:
        _kill(first)
        raise
    assert second.returncode == 11, second.stdout + second.stderr
    assert elapsed < 10  # the lease TTL is 120 s: it did not wait for it
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "already running" in lines[0]
    assert "Traceback" not in second.stderr

    out, err = first.communicate(timeout=60)
    assert first.returncode == 13, err  # the unreachable debtor's rejection
    assert json.loads(out)["cases_sent"] == workspace.ledger.expected_debtors

    after = workspace.invoke("--json", "sync")
    assert after.exit_code == 0, after.stderr
    assert one_json(after.stdout)["cases_sent"] == 0
    assert_exactly_once(agency_cases(workspace.agency_db), workspace.ledger.expected_due)
