"""Reconciliation against the real sandbox agency over HTTP, the files source with its bookings
journal, and a SQLite state store: receipts and statuses, settlements booked once, direct
payments and credit notes reported once, what is never echoed, and connectors that fail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from claimbridge.sandbox.server import SandboxServer
from claimbridge.schemas import CaseStatus, EventKind
from tests.integration.reconcile_workspace import (
    TODAY,
    TOKEN,
    WEEKLY,
    Workspace,
    journal_totals,
    make_workspace,
    store_totals,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxServer]:
    with SandboxServer(TOKEN, db_path=tmp_path / "agency.db", activity=WEEKLY) as running:
        yield running


@pytest.fixture
def workspace(tmp_path: Path, server: SandboxServer) -> Workspace:
    made = make_workspace(tmp_path / "ws", server)
    stats = made.sync()
    assert stats.cases_sent == made.ledger.expected_debtors
    return made


def day(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def test_a_first_reconcile_reads_the_receipts_and_changes_no_status(workspace: Workspace) -> None:
    stats = workspace.reconcile()
    assert stats.receipts == workspace.ledger.expected_debtors  # the agency's receipt events
    assert stats.status_changes == 0  # delivery had already recorded the acceptances
    assert stats.problems == []
    assert stats.settlement_lines == 0
    again = workspace.reconcile()
    assert again.updates_read == 0


@pytest.mark.slow
def test_a_simulated_quarter_is_booked_once_and_the_journal_matches_the_store(
    workspace: Workspace,
) -> None:
    booked_lines = 0
    for week in range(1, 14):
        workspace.simulate(day(7 * week))
        stats = workspace.reconcile(day(7 * week))
        assert stats.problems == []
        assert stats.lines_failed == stats.lines_unmatched == 0
        booked_lines += stats.lines_booked
    assert booked_lines > 20
    rows = workspace.journal.rows()
    refs = [r.external_ref for r in rows if r.line == 1]
    assert len(refs) == len(set(refs)), "a reference was booked twice"
    by_account = journal_totals(rows)
    with workspace.opened() as (_, store):
        totals = store_totals(store)
    assert totals.lines == booked_lines
    # principal went to the invoices (receivables credited), the rest through vouchers
    assert -by_account["1500"] == totals.principal
    assert -by_account["8050"] == totals.interest
    assert -by_account["3900"] == totals.fees
    assert by_account["7790"] == totals.commission
    assert by_account["1920"] == (
        totals.principal + totals.interest + totals.fees - totals.commission
    )
    line_ids = {r[0] for r in workspace.query("SELECT line_id FROM settlements_seen")}
    assert {r.external_ref for r in rows if r.kind == "payment"} <= line_ids
    # the statuses are the agency's
    statuses = dict(workspace.query("SELECT status, count(*) FROM cases GROUP BY status"))
    assert statuses.get("closed", 0) > 0
    assert set(statuses) <= {s.value for s in CaseStatus}
    for (case_key,) in workspace.query("SELECT case_key FROM cases WHERE status = 'closed'"):
        claims = workspace.query("SELECT status FROM claims WHERE case_key = ?", case_key)
        assert {c[0] for c in claims} == {"closed"}

    before = workspace.journal.rows()
    again = workspace.reconcile(day(91))
    assert (again.updates_read, again.lines_booked, again.corrections_queued) == (0, 0, 0)
    assert workspace.journal.rows() == before


@pytest.mark.slow
def test_the_case_log_tells_the_story(workspace: Workspace) -> None:
    for week in range(1, 9):
        workspace.simulate(day(7 * week))
        workspace.reconcile(day(7 * week))
    [(case_key,)] = workspace.query(
        "SELECT case_key FROM settlements_seen WHERE status = 'booked' LIMIT 1"
    )
    kinds = [
        (r[0], r[1])
        for r in workspace.query(
            "SELECT kind, direction FROM events WHERE case_key = ? ORDER BY at", case_key
        )
    ]
    assert (EventKind.RECEIPT.value, "in") in kinds
    assert (EventKind.SETTLEMENT.value, "in") in kinds
    assert (EventKind.SETTLEMENT.value, "internal") in kinds  # the booking


def test_a_direct_payment_after_hand_over_is_reported_once_with_its_booking_date(
    workspace: Workspace,
) -> None:
    (invoice, case_key, principal), *_ = workspace.handed_over()
    workspace.write_payments(
        [
            {
                "payment_id": "P-1",
                "invoice_number": invoice,
                "payment_date": day(2).isoformat(),
                "amount": f"{principal / 2:.2f}",
            }
        ]
    )
    stats = workspace.reconcile(day(3))
    assert (stats.corrections_queued, stats.corrections_sent) == (1, 1)
    agency = workspace.server.store
    assert agency.count_corrections() == 1
    [correction] = workspace.query(
        "SELECT kind, status FROM outbox WHERE kind != 'case' AND case_key = ?", case_key
    )
    assert correction == ("payment", "accepted")
    [(message,)] = workspace.query(
        "SELECT message FROM events WHERE case_key = ? AND kind = 'payment_reported'", case_key
    )
    assert f"booked {day(2).isoformat()} on invoice {invoice}" in message
    assert "accepted by the agency" in message

    again = workspace.reconcile(day(4))
    assert again.corrections_queued == again.corrections_sent == 0
    assert agency.count_corrections() == 1


def test_what_is_never_reported(workspace: Workspace) -> None:
    handed = workspace.handed_over()
    not_handed = workspace.ledger.invoices_in(
        next(c for c in workspace.ledger.categories.values() if c.value == "not_yet_due")
    )[0]
    (a, _, _), (b, _, _), (c, _, _), (d, _, _) = handed[:4]
    workspace.write_payments(
        [
            # paid before the hand-over: already out of what the agency got
            {"payment_id": "P-old", "invoice_number": a, "payment_date": day(-5).isoformat(),
             "amount": "10.00"},
            # the agency's own pay-out, by its account
            {"payment_id": "P-agency", "invoice_number": b, "payment_date": day(1).isoformat(),
             "amount": "10.00", "payer_account": "15030012345"},
            # a claim never handed over: the ledger's own business
            {"payment_id": "P-open", "invoice_number": not_handed,
             "payment_date": day(1).isoformat(), "amount": "10.00"},
            # a reversal
            {"payment_id": "P-neg", "invoice_number": c, "payment_date": day(1).isoformat(),
             "amount": "-10.00"},
            # booked ahead in the ledger: reported when its day comes
            {"payment_id": "P-future", "invoice_number": d, "payment_date": day(9).isoformat(),
             "amount": "10.00"},
        ]
    )  # fmt: skip
    stats = workspace.reconcile(day(2))
    assert stats.corrections_queued == 0
    assert stats.agency_payments_ignored == 1
    rows = workspace.query("SELECT payment_id, status, reason FROM payments_seen")
    seen = {r[0]: (r[1], r[2]) for r in rows}
    assert seen == {
        "P-old": ("ignored", "before_hand_over"),
        "P-agency": ("ignored", "agency_settlement"),
        "P-neg": ("ignored", "not_a_credit"),
        "P-future": ("to_report", None),
    }
    later = workspace.reconcile(day(9))
    assert later.corrections_sent == 1
    assert workspace.server.store.count_corrections() == 1


def test_the_ledger_payment_of_a_booked_settlement_is_not_echoed(workspace: Workspace) -> None:
    for week in range(1, 6):
        workspace.simulate(day(7 * week))
        workspace.reconcile(day(7 * week))
    booked = workspace.query(
        "SELECT ledger_ref, invoice_number, principal, settlement_date FROM settlements_seen"
        " WHERE ledger_ref IS NOT NULL LIMIT 2"
    )
    assert len(booked) == 2
    (ref, invoice, principal, paid), (_, invoice2, principal2, paid2) = booked
    line_id = workspace.query(
        "SELECT line_id FROM settlements_seen WHERE invoice_number = ?", invoice2
    )[0][0]
    # the creditor imported the journal; its next payments export shows those bookings
    workspace.write_payments(
        [
            {"payment_id": ref, "invoice_number": invoice, "payment_date": paid,
             "amount": str(principal)},
            {"payment_id": "LEDGER-77", "invoice_number": invoice2, "payment_date": paid2,
             "amount": str(principal2), "reference": line_id},
        ]
    )  # fmt: skip
    stats = workspace.reconcile(day(36))
    assert stats.agency_payments_ignored == 2
    assert stats.corrections_queued == 0


def test_credit_notes_reduce_or_withdraw(workspace: Workspace) -> None:
    multi = workspace.query(
        "SELECT case_key FROM claims WHERE case_key IS NOT NULL GROUP BY case_key"
        " HAVING count(*) > 1 LIMIT 1"
    )[0][0]
    (first, principal_1), (second, principal_2) = [
        (r[0], Decimal(str(r[1])))
        for r in workspace.query(
            "SELECT invoice_number, remaining_principal FROM claims WHERE case_key = ?"
            " ORDER BY invoice_number LIMIT 2",
            multi,
        )
    ]
    workspace.write_credit_notes(
        [
            {"credit_note_number": "CN-1", "invoice_number": first,
             "issue_date": day(1).isoformat(), "amount": "10.00"},
            {"credit_note_number": "CN-2", "invoice_number": second,
             "issue_date": day(1).isoformat(), "amount": f"{principal_2:.2f}"},
        ]
    )  # fmt: skip
    stats = workspace.reconcile(day(2))
    assert stats.corrections_sent == 2
    kinds = sorted(
        r[0]
        for r in workspace.query(
            "SELECT kind FROM outbox WHERE kind != 'case' AND case_key = ?", multi
        )
    )
    assert kinds == ["reduce", "withdraw"]
    assert principal_1 > 10
    # a later credit note for the rest of the first claim withdraws it as well
    workspace.write_credit_notes(
        [
            {"credit_note_number": "CN-3", "invoice_number": first,
             "issue_date": day(3).isoformat(), "amount": f"{principal_1 - 10:.2f}"},
        ]
    )  # fmt: skip
    assert workspace.reconcile(day(4)).corrections_sent == 1
    assert workspace.query(
        "SELECT count(*) FROM outbox WHERE kind = 'withdraw' AND case_key = ?", multi
    ) == [(2,)]


def test_a_withdrawn_case_follows_the_agency_and_takes_no_more_corrections(
    workspace: Workspace,
) -> None:
    single = workspace.query(
        "SELECT case_key, min(invoice_number), sum(remaining_principal) FROM claims"
        " WHERE case_key IS NOT NULL GROUP BY case_key HAVING count(*) = 1 LIMIT 1"
    )[0]
    case_key, invoice, principal = single
    workspace.write_credit_notes(
        [{"credit_note_number": "CN-9", "invoice_number": invoice,
          "issue_date": day(1).isoformat(), "amount": f"{Decimal(str(principal)):.2f}"}]
    )  # fmt: skip
    workspace.reconcile(day(2))
    stats = workspace.reconcile(day(2))  # the agency's withdrawn event comes back
    [(status,)] = workspace.query("SELECT status FROM cases WHERE case_key = ?", case_key)
    assert status == "withdrawn"
    assert stats.status_changes == 1
    workspace.write_payments(
        [{"payment_id": "P-late", "invoice_number": invoice, "payment_date": day(3).isoformat(),
          "amount": "5.00"}]
    )  # fmt: skip
    late = workspace.reconcile(day(4))
    assert late.corrections_queued == 0
    assert workspace.query("SELECT reason FROM payments_seen WHERE payment_id = 'P-late'") == [
        ("case_closed",)
    ]


@pytest.mark.slow
def test_an_illegal_report_is_logged_and_kept_out(workspace: Workspace) -> None:
    for week in range(1, 10):
        workspace.simulate(day(7 * week))
        workspace.reconcile(day(7 * week))
    [(case_key, ref)] = workspace.query(
        "SELECT case_key, agency_ref FROM cases WHERE status = 'closed' LIMIT 1"
    )
    workspace.server.store.add_event(ref, EventKind.STATUS, CaseStatus.ACTIVE, "reopened?")
    stats = workspace.reconcile(day(64))
    assert stats.illegal_transitions == 1
    assert workspace.query("SELECT status FROM cases WHERE case_key = ?", case_key) == [("closed",)]
    [(message,)] = workspace.query(
        "SELECT message FROM events WHERE case_key = ? AND direction = 'internal'"
        " AND message LIKE 'not applied%'",
        case_key,
    )
    assert "a case that is closed cannot become active" in message


def test_an_agency_that_takes_no_payment_reports_leaves_them_for_a_person(
    tmp_path: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from claimbridge.connectors.agencies.sandbox import SandboxAgency

    monkeypatch.setattr(
        SandboxAgency,
        "capabilities",
        replace(SandboxAgency.capabilities, report_payments=False),
    )
    workspace = make_workspace(tmp_path / "ws", server)
    workspace.sync()
    (invoice, case_key, _), *_ = workspace.handed_over()
    workspace.write_payments(
        [{"payment_id": "P-1", "invoice_number": invoice, "payment_date": day(1).isoformat(),
          "amount": "20.00"}]
    )  # fmt: skip
    stats = workspace.reconcile(day(1))
    assert stats.corrections_manual == 1
    assert stats.corrections_queued == 0
    assert stats.needs_attention
    [(message,)] = workspace.query(
        "SELECT message FROM events WHERE case_key = ? AND kind = 'message'", case_key
    )
    assert "must be told to the agency by hand" in message


def test_an_unreachable_agency_stops_only_its_steps(workspace: Workspace) -> None:
    (invoice, _, _), *_ = workspace.handed_over()
    workspace.write_payments(
        [{"payment_id": "P-1", "invoice_number": invoice, "payment_date": day(1).isoformat(),
          "amount": "20.00"}]
    )  # fmt: skip
    text = workspace.config_path.read_text()
    workspace.config_path.write_text(
        text.replace(workspace.server.url, "http://127.0.0.1:9")
        + "\n[agencies.sandbox.http]\nmax_retries = 0\n"
    )
    stats = workspace.reconcile(day(2))
    assert stats.problems
    assert stats.problems[0]["exit_code"] == 7
    assert stats.ledger_payments_read == 1  # the ledger's steps still ran
    assert stats.corrections_queued == 1
    assert stats.corrections_sent == 0
    workspace.config_path.write_text(text)
    recovered = workspace.reconcile(day(3))
    assert recovered.problems == []
    assert recovered.corrections_sent == 1
    assert workspace.server.store.count_corrections() == 1


@pytest.mark.service
def test_reconcile_on_postgresql(tmp_path: Path, server: SandboxServer) -> None:
    """The same run on a real PostgreSQL state store: dialect-specific queries (aggregate
    filters, upserts, the lease) and the booking steps."""
    from sqlalchemy import text

    from tests.integration.postgres import throwaway_cluster

    with throwaway_cluster() as url:
        workspace = make_workspace(tmp_path / "ws", server, state_url=url)
        workspace.sync()
        (invoice, case_key, principal), *_ = workspace.handed_over_in_store()
        workspace.write_payments(
            [{"payment_id": "P-1", "invoice_number": invoice,
              "payment_date": day(2).isoformat(), "amount": f"{principal / 3:.2f}"}]
        )  # fmt: skip
        booked = 0
        for week in range(1, 7):
            workspace.simulate(day(7 * week))
            stats = workspace.reconcile(day(7 * week))
            assert stats.problems == []
            booked += stats.lines_booked
        assert booked > 0
        again = workspace.reconcile(day(43))
        assert (again.lines_booked, again.corrections_queued) == (0, 0)
        with workspace.opened() as (_, store):
            totals = store_totals(store)
            with store.engine.connect() as conn:
                payment = conn.execute(
                    text("SELECT status FROM outbox WHERE kind = 'payment' AND case_key = :k"),
                    {"k": case_key},
                ).scalar_one()
                statuses = dict(
                    conn.execute(text("SELECT status, count(*) FROM cases GROUP BY status")).all()
                )
        assert payment == "accepted"
        assert set(statuses) - {"accepted", "rejected"}
        accounts = journal_totals(workspace.journal.rows())
        assert -accounts["1500"] == totals.principal
        assert accounts["7790"] == totals.commission
        assert totals.lines == booked


def test_an_unreadable_update_stops_only_the_agency_steps(workspace: Workspace) -> None:
    """A settlement event without its settlement: the run says where, exits 9, keeps the
    cursor before it (nothing lost) and still does the ledger's work."""
    (invoice, _, _), *_ = workspace.handed_over()
    [(ref,)] = workspace.query(
        "SELECT agency_ref FROM cases WHERE case_key ="
        " (SELECT case_key FROM claims WHERE invoice_number = ?)",
        invoice,
    )
    workspace.server.store.add_event(ref, EventKind.SETTLEMENT, None, "broken", {"x": 1})
    workspace.write_payments(
        [{"payment_id": "P-1", "invoice_number": invoice, "payment_date": day(1).isoformat(),
          "amount": "20.00"}]
    )  # fmt: skip
    stats = workspace.reconcile(day(2))
    [problem] = stats.problems
    assert problem["step"] == "agency updates"
    assert problem["exit_code"] == 9
    assert "events" in problem["error"]
    assert stats.corrections_sent == 0  # the agency's steps wait for a person
    assert stats.corrections_queued == 1  # the ledger's steps went on
    assert stats.updates_read == workspace.ledger.expected_debtors  # the chunks before it
    again = workspace.reconcile(day(3))
    assert again.problems[0]["exit_code"] == 9  # still there, never skipped silently


def test_a_late_delivery_outcome_does_not_move_a_case_back(workspace: Workspace) -> None:
    """A sync resolving an old unknown outcome after the agency already moved the case on."""
    for week in range(1, 4):
        workspace.simulate(day(7 * week))
        workspace.reconcile(day(7 * week))
    moved = workspace.query(
        "SELECT case_key, status FROM cases WHERE status NOT IN ('accepted', 'rejected') LIMIT 1"
    )
    assert moved, "no case moved in three weeks"
    [(case_key, status)] = moved
    with workspace.opened() as (_, store), store.begin() as conn:
        store.set_case_statuses(conn, [{"case_key": case_key, "status": "accepted"}])
    assert workspace.query("SELECT status FROM cases WHERE case_key = ?", case_key) == [(status,)]
