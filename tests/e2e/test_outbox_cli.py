"""`claimbridge outbox list` and `outbox resolve` against the sandbox agency: a batch whose
answer was lost (the connection dropped, after or before the agency stored it) is listed,
resolved by hand, and the next sync finishes the rest; every refusal has its exit code."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from claimbridge.state import StateStore

from .conftest import Workspace, agency_cases, assert_exactly_once, json_lines, one_json, query

BATCH = "/v1/cases/batch"
LIST_FIELDS = {
    "key",
    "pipeline",
    "agency",
    "kind",
    "case_key",
    "invoices",
    "status",
    "attempts",
    "reason",
    "agency_ref",
    "created_at",
    "updated_at",
    "age_seconds",
}


def _no_retries(workspace: Workspace) -> None:
    """One attempt per call: a dropped connection after sending is an unknown outcome at once
    (the client's retries would otherwise ask again under the same key)."""
    text = workspace.config.read_text(encoding="utf-8")
    text = text.replace("batch_size = 200\n", "batch_size = 200\nhttp = { max_retries = 0 }\n")
    workspace.config.write_text(text, encoding="utf-8")


def _lose_the_batch(workspace: Workspace, *, stored: bool) -> list[dict[str, Any]]:
    """The first sync's one batch: the agency stores it (or not), the connection drops."""
    _no_retries(workspace)
    workspace.add_fault(method="POST", path=BATCH, drop_connection=True, after_commit=stored)
    synced = workspace.invoke("--json", "sync")
    assert synced.exit_code == 13, synced.stdout + synced.stderr
    assert one_json(synced.stdout)["unknown"] == workspace.ledger.expected_debtors + 1
    listed = workspace.invoke("outbox", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    return json_lines(listed.stdout)


def _debtor_names(workspace: Workspace) -> set[str]:
    with workspace.ledger.customers_path.open(encoding="utf-8") as fh:
        return {row["name"] for row in csv.DictReader(fh) if row.get("name")}


def test_a_lost_hand_over_is_listed_without_personal_data(workspace: Workspace) -> None:
    rows = _lose_the_batch(workspace, stored=True)
    assert len(rows) == workspace.ledger.expected_debtors + 1
    for row in rows:
        assert set(row) == LIST_FIELDS
        assert (row["kind"], row["status"], row["attempts"]) == ("case", "unknown", 1)
        assert row["key"].startswith("cbk-")
        assert row["invoices"]
        assert "outcome is unknown" in row["reason"]
        assert row["age_seconds"] >= 0
    listed = sorted(n for row in rows for n in row["invoices"])
    assert set(workspace.ledger.expected_due) < set(listed)  # and the unreachable debtor's
    assert len(listed) == len(set(listed)) == len(workspace.ledger.expected_due) + 1

    human = workspace.invoke("outbox", "list")
    assert human.exit_code == 0
    names = _debtor_names(workspace)
    assert names
    for name in names:  # neither in the table nor in the JSON
        assert name not in human.stdout
        assert name not in workspace.invoke("outbox", "list", "--json").stdout
    assert f"{len(rows)} deliveries" in human.stdout
    assert "claimbridge outbox resolve KEY" in human.stdout

    none = workspace.invoke("--json", "outbox", "list", "--status", "accepted", "--kind", "payment")
    assert (none.exit_code, none.stdout) == (0, "")
    unknown_pipeline = workspace.invoke("outbox", "list", "--pipeline", "nope")
    assert unknown_pipeline.exit_code == 3


def test_resolved_by_hand_then_the_next_sync_finishes_the_rest(workspace: Workspace) -> None:
    rows = _lose_the_batch(workspace, stored=True)
    stored = {c.idempotency_key: c for c in agency_cases(workspace.agency_db)}
    refs = dict(query(workspace.agency_db, "SELECT idempotency_key, agency_ref FROM cases"))
    row = next(r for r in rows if r["key"] in stored)
    key, ref = row["key"], refs[row["key"]]

    resolved = workspace.invoke(
        "outbox", "resolve", key, "--delivered", "--agency-ref", ref, "--by", "tester", "--json"
    )
    assert resolved.exit_code == 0, resolved.stderr
    assert one_json(resolved.stdout) == {
        "key": key,
        "pipeline": "main",
        "kind": "case",
        "case_key": row["case_key"],
        "invoices": row["invoices"],
        "previous_status": "unknown",
        "status": "accepted",
        "resolution": "delivered",
        "by": "tester",
        "agency_ref": ref,
        "reason": None,
        "run_id": one_json(resolved.stdout)["run_id"],
    }
    shown = workspace.invoke("--json", "cases", "show", row["case_key"])
    assert shown.exit_code == 0
    assert f"accepted by the agency as {ref}" in shown.stdout
    assert "resolved by hand by tester, who checked with the agency" in shown.stdout

    # resolved once: a second time is refused with its own code and one line
    again = workspace.invoke("outbox", "resolve", key, "--rejected", "changed my mind")
    assert again.exit_code == 14
    assert again.stderr.startswith(f"error: delivery {key} is accepted, not unknown")
    assert len(again.stderr.strip().splitlines()) == 1

    # the rest: the sandbox can be asked, so the next sync resolves them by lookup
    finished = workspace.invoke("--json", "sync")
    stats = one_json(finished.stdout)
    assert (stats["unknown"], stats["rejected"]) == (0, 1), stats  # the unreachable debtor
    assert finished.exit_code == 13
    assert_exactly_once(agency_cases(workspace.agency_db), workspace.ledger.expected_due)
    assert workspace.invoke("--json", "outbox", "list").stdout == ""


def test_a_hand_over_that_never_arrived_is_sent_again(workspace: Workspace) -> None:
    rows = _lose_the_batch(workspace, stored=False)
    assert agency_cases(workspace.agency_db) == []
    key = rows[0]["key"]
    resolved = workspace.invoke("outbox", "resolve", key, "--not-delivered", "--by", "tester")
    assert resolved.exit_code == 0, resolved.stderr
    assert "not delivered: pending again, the next sync sends it" in resolved.stdout
    [(status, attempts)] = query(
        workspace.state_db, "SELECT status, attempts FROM outbox WHERE idempotency_key = ?", key
    )
    assert (status, attempts) == ("pending", 1)

    finished = workspace.invoke("--json", "sync")
    assert one_json(finished.stdout)["unknown"] == 0
    assert_exactly_once(agency_cases(workspace.agency_db), workspace.ledger.expected_due)
    [(status,)] = query(
        workspace.state_db, "SELECT status FROM outbox WHERE idempotency_key = ?", key
    )
    assert status in ("accepted", "rejected")  # sent again under the same key, answered


def test_what_cannot_be_resolved_exits_with_its_code(workspace: Workspace) -> None:
    rows = _lose_the_batch(workspace, stored=True)
    key = rows[0]["key"]

    missing = workspace.invoke("outbox", "resolve", "cbk-0000", "--delivered")
    assert missing.exit_code == 4
    assert "no delivery 'cbk-0000'" in missing.stderr

    for args in (
        (),  # nothing said
        ("--delivered", "--rejected", "no"),
        ("--delivered", "--not-delivered"),
        ("--not-delivered", "--agency-ref", "SBX-1"),
        ("--rejected", " "),
    ):
        used = workspace.invoke("outbox", "resolve", key, *args, "--by", "tester")
        assert used.exit_code == 2, (args, used.stderr)
        assert used.stderr.startswith("error: ")

    # a run working on the pipeline holds the lease: nothing is resolved meanwhile
    store = StateStore.open(f"sqlite:///{workspace.state_db}")
    lease = store.lease("main", holder="a-running-sync").acquire()
    try:
        held = workspace.invoke("outbox", "resolve", key, "--delivered", "--by", "tester")
    finally:
        lease.release()
        store.close()
    assert held.exit_code == 11
    assert "already running" in held.stderr
    [(status,)] = query(
        workspace.state_db, "SELECT status FROM outbox WHERE idempotency_key = ?", key
    )
    assert status == "unknown"

    pending_row = workspace.invoke("outbox", "resolve", key, "--not-delivered", "--by", "tester")
    assert pending_row.exit_code == 0
    pending = workspace.invoke("outbox", "resolve", key, "--delivered", "--by", "tester")
    assert pending.exit_code == 14
    assert "is pending, not unknown: it has not been sent yet" in pending.stderr


def test_resolve_names_the_person_from_the_environment(
    workspace: Workspace, monkeypatch: Any, tmp_path: Path
) -> None:
    rows = _lose_the_batch(workspace, stored=True)
    monkeypatch.setenv("USER", "carol")
    done = workspace.invoke("--json", "outbox", "resolve", rows[0]["key"], "--delivered")
    assert done.exit_code == 0, done.stderr
    assert one_json(done.stdout)["by"] == "carol"
