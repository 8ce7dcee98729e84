"""Outcomes resolved by hand: each transition, what it writes (outbox row, case, log, audit),
and every delivery a person may not resolve, refused without writing anything."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from claimbridge.connectors.base import Correction, CorrectionKind
from claimbridge.errors import LeaseHeldError, NotFoundError, NotResolvableError, UsageError
from claimbridge.manual_outcomes import Resolution, resolve
from claimbridge.reconcile.corrections import correction_json
from claimbridge.schemas import CreditNote, SourceRef
from claimbridge.state import StateStore, outbox_admin
from claimbridge.state.tables import audit_log, cases, outbox, runs
from tests import state_rows
from tests.factories import make_case, make_claim, make_party

DUE = dt.date(2026, 9, 1)
HANDED = dt.date(2026, 10, 20)
AT = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
CASE_KEY = "case-2"
CASE_DELIVERY = "cbk-case-delivery"
RECALL = "cbk-recall-5003"
DEBTOR = "Kari Testesen"  # in the case payload: must never come out of the outbox queries


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _claims() -> list[dict[str, Any]]:
    return [
        state_rows.claim(n, a, due=DUE, case_key=CASE_KEY, handed_over_on=HANDED)
        for n, a in (("5002", "2000.00"), ("5003", "800.00"))
    ]


def _case_payload() -> str:
    debtor = make_party("102", name=DEBTOR)
    claims = (make_claim("5002", debtor_id="102"), make_claim("5003", debtor_id="102"))
    return make_case(debtor=debtor, claims=claims).model_dump_json()


def _recall_payload() -> str:
    note = CreditNote(
        credit_note_number="CN-1",
        source=SourceRef(system="files", company="", record_id="CN-1", record_type="credit_note"),
        invoice_number="5003",
        amount=Decimal("800.00"),
        currency="NOK",
        issue_date=dt.date(2026, 11, 1),
    )
    correction = Correction(
        RECALL,
        CorrectionKind.WITHDRAW,
        CASE_KEY,
        "R-77",
        "5003",
        credit_note=note,
        reason="credited in full by credit note CN-1",
    )
    return correction_json(correction)


def _with_case_delivery(store: StateStore, status: str = "unknown") -> None:
    """A case whose hand-over answer was lost: the case still queued, its outbox row open."""
    claims = _claims()
    row = state_rows.case(CASE_KEY, claims, status="queued") | {"agency_ref": None}
    delivery = state_rows.delivery(CASE_KEY, status) | {
        "idempotency_key": CASE_DELIVERY,
        "payload": _case_payload(),
        "reason": "read timeout after sending",
    }
    state_rows.add(store, claim_rows=claims, case_rows=[row], outbox_rows=[delivery])


def _with_recall(store: StateStore, status: str = "unknown") -> None:
    """An accepted case and a recall of one of its claims whose answer was lost."""
    claims = _claims()
    row = state_rows.case(CASE_KEY, claims, status="active") | {"agency_ref": "R-77"}
    delivery = state_rows.delivery(CASE_KEY, status, kind="withdraw") | {
        "idempotency_key": RECALL,
        "payload": _recall_payload(),
        "reason": "the agency cannot tell whether it took this correction",
    }
    state_rows.add(store, claim_rows=claims, case_rows=[row], outbox_rows=[delivery])


def _outbox(store: StateStore, key: str) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(
            conn.execute(select(outbox).where(outbox.c.idempotency_key == key)).one()._mapping
        )


def _case(store: StateStore) -> tuple[str, str | None]:
    with store.engine.connect() as conn:
        row = conn.execute(select(cases.c.status, cases.c.agency_ref)).one()
    return row[0], row[1]


def _log(store: StateStore) -> list[tuple[str, str, str]]:
    """The case's log: what the channel wrote, then the person's line (a correction's two
    entries share one time, so the order is the kind's)."""
    events = [(e.kind, e.direction, e.message) for e in store.case_events(CASE_KEY)]
    return sorted(events, key=lambda e: e[0] == "message")


def _audit(store: StateStore) -> list[tuple[str, str, dict[str, Any]]]:
    assert store.verify_audit() >= 0  # the chain holds
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.action, audit_log.c.subject, audit_log.c.detail).order_by(
                audit_log.c.seq
            )
        )
        return [(a, s, json.loads(d)) for a, s, d in rows]


def _runs(store: StateStore) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(select(runs.c.kind, runs.c.status))]


# --- a case ----------------------------------------------------------------------------------


def test_a_case_delivered_with_the_agencys_reference_is_accepted(store: StateStore) -> None:
    _with_case_delivery(store)
    done = resolve(
        store, CASE_DELIVERY, Resolution.DELIVERED, by="alice", agency_ref="R-77", now=AT
    )
    assert (done.previous_status, done.status, done.invoices) == (
        "unknown",
        "accepted",
        ("5002", "5003"),
    )
    row = _outbox(store, CASE_DELIVERY)
    assert (row["status"], row["agency_ref"], row["reason"], row["payload"]) == (
        "accepted",
        "R-77",
        None,
        None,  # final: the debtor's data leaves the store as after any acceptance
    )
    assert _case(store) == ("accepted", "R-77")
    assert _log(store) == [
        ("receipt", "in", "accepted by the agency as R-77"),
        (
            "message",
            "internal",
            "the hand-over of this case: resolved by hand by alice, who checked with the "
            "agency: it has it as R-77",
        ),
    ]
    audit = _audit(store)
    assert [a for a, _, _ in audit] == ["cases.delivered", "outbox.resolved_by_hand"]
    assert audit[1][1] == CASE_DELIVERY
    assert audit[1][2] == {
        "kind": "case",
        "case_key": CASE_KEY,
        "was": "unknown",
        "status": "accepted",
        "by": "alice",
        "agency_ref": "R-77",
    }
    assert _runs(store) == [("resolve", "succeeded")]


def test_a_case_delivered_without_a_reference_waits_for_its_receipt(store: StateStore) -> None:
    _with_case_delivery(store)
    resolve(store, CASE_DELIVERY, Resolution.DELIVERED, by="alice", now=AT)
    assert _outbox(store, CASE_DELIVERY)["status"] == "accepted"
    assert _case(store) == ("sent", None)  # corrections wait until the receipt names the case
    assert _log(store)[0] == ("sent", "out", "delivered to the agency")
    assert _log(store)[1][2].endswith("it has it; its reference comes with its receipt")


def test_a_case_not_delivered_goes_back_to_pending_with_its_payload(store: StateStore) -> None:
    _with_case_delivery(store)
    done = resolve(store, CASE_DELIVERY, Resolution.NOT_DELIVERED, by="alice", now=AT)
    assert done.status == "pending"
    row = _outbox(store, CASE_DELIVERY)
    assert row["status"] == "pending"
    assert row["payload"] == _case_payload()  # the next sync sends it, under the same key
    assert row["reason"] == "resolved by hand by alice: the agency never got it; to be sent again"
    assert _case(store) == ("queued", None)
    [(kind, direction, message)] = _log(store)
    assert (kind, direction) == ("message", "internal")
    assert message.endswith("it never arrived; the next sync sends it again under the same key")
    assert [a for a, _, _ in _audit(store)] == ["outbox.resolved_by_hand"]
    assert [
        item.idempotency_key for item in store.outbox_items("main", "sandbox", ["pending"], 10)
    ] == [CASE_DELIVERY]


def test_a_case_rejected_is_final_with_the_persons_reason(store: StateStore) -> None:
    _with_case_delivery(store)
    resolve(store, CASE_DELIVERY, Resolution.REJECTED, by="alice", reason="debtor unknown", now=AT)
    row = _outbox(store, CASE_DELIVERY)
    assert (row["status"], row["reason"], row["payload"]) == ("rejected", "debtor unknown", None)
    assert _case(store) == ("rejected", None)
    assert _log(store)[0] == ("receipt", "in", "rejected by the agency: debtor unknown")
    assert _log(store)[1][2].endswith("who checked with the agency: it refused it: debtor unknown")


# --- a correction ----------------------------------------------------------------------------

RECALL_WORDS = "withdrawal by credit note CN-1 of 800.00 NOK on invoice 5003"


def test_a_recall_delivered_is_recorded_like_the_agencys_acceptance(store: StateStore) -> None:
    _with_recall(store)
    done = resolve(store, RECALL, Resolution.DELIVERED, by="bob", now=AT)
    assert (done.kind, done.invoices, done.status) == ("withdraw", ("5003",), "accepted")
    row = _outbox(store, RECALL)
    assert (row["status"], row["reason"], row["payload"]) == ("accepted", None, None)
    assert _case(store) == ("active", "R-77")  # the agency's own status report moves the case
    assert _log(store) == [
        ("withdrawal", "out", f"{RECALL_WORDS}: accepted by the agency"),
        (
            "message",
            "internal",
            f"{RECALL_WORDS}: resolved by hand by bob, who checked with the agency: it has it",
        ),
    ]
    audit = _audit(store)
    assert [a for a, _, _ in audit] == ["corrections.delivered", "outbox.resolved_by_hand"]
    assert audit[0][2] == {RECALL: "accepted"}
    assert audit[1][2]["kind"] == "withdraw"


def test_a_recall_not_delivered_is_sent_again_by_the_next_reconcile(store: StateStore) -> None:
    _with_recall(store)
    resolve(store, RECALL, Resolution.NOT_DELIVERED, by="bob", now=AT)
    row = _outbox(store, RECALL)
    assert (row["status"], row["payload"]) == ("pending", _recall_payload())
    [(_, _, message)] = _log(store)
    assert message == (
        f"{RECALL_WORDS}: resolved by hand by bob, who checked with the agency: it never "
        "arrived; the next reconcile sends it again under the same key"
    )


def test_a_recall_rejected_keeps_the_reason(store: StateStore) -> None:
    _with_recall(store)
    resolve(store, RECALL, Resolution.REJECTED, by="bob", reason="claim already closed", now=AT)
    assert _outbox(store, RECALL)["status"] == "rejected"
    assert _outbox(store, RECALL)["reason"] == "claim already closed"
    assert _log(store)[0] == (
        "withdrawal",
        "out",
        f"{RECALL_WORDS}: rejected by the agency: claim already closed",
    )


def test_a_call_a_dead_run_left_sending_is_resolvable(store: StateStore) -> None:
    _with_recall(store, status="sending")
    done = resolve(store, RECALL, Resolution.DELIVERED, by="bob", now=AT)
    assert (done.previous_status, done.status) == ("sending", "accepted")


# --- refusals: nothing is written ------------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "accepted", "rejected"])
def test_only_an_unknown_or_orphaned_outcome_is_a_persons(store: StateStore, status: str) -> None:
    _with_recall(store, status=status)
    with pytest.raises(NotResolvableError, match=f"is {status}, not unknown") as refused:
        resolve(store, RECALL, Resolution.DELIVERED, by="bob", now=AT)
    assert refused.value.exit_code == 14
    assert _outbox(store, RECALL)["status"] == status
    assert _log(store) == []
    assert _audit(store) == []
    assert _runs(store) == []


def test_a_working_run_holds_the_lease_and_nothing_is_resolved(store: StateStore) -> None:
    _with_recall(store, status="sending")
    lease = store.lease("main", holder="a-running-reconcile").acquire()
    try:
        with pytest.raises(LeaseHeldError, match="already running"):
            resolve(store, RECALL, Resolution.NOT_DELIVERED, by="bob", now=AT)
    finally:
        lease.release()
    assert _outbox(store, RECALL)["status"] == "sending"
    assert _log(store) == []
    assert _audit(store) == []
    assert _runs(store) == [("resolve", "failed")]


def test_a_run_that_resolved_it_first_wins(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read before the lease as unknown, resolved by a run before the lease was won."""
    _with_recall(store)
    real_lease = store.lease

    def lease_after_a_run(pipeline: str, holder: str) -> Any:
        with store.begin() as conn:
            conn.execute(update(outbox).values(status="accepted"))
        return real_lease(pipeline, holder)

    monkeypatch.setattr(store, "lease", lease_after_a_run)
    with pytest.raises(NotResolvableError, match="is accepted"):
        resolve(store, RECALL, Resolution.REJECTED, by="bob", reason="no", now=AT)
    assert _log(store) == []


def test_an_unknown_key_is_not_found(store: StateStore) -> None:
    with pytest.raises(NotFoundError, match="no delivery 'cbk-nothing'"):
        resolve(store, "cbk-nothing", Resolution.DELIVERED, by="bob")


@pytest.mark.parametrize(
    ("resolution", "kwargs", "message"),
    [
        (Resolution.DELIVERED, {"by": "  "}, "say who checked"),
        (Resolution.DELIVERED, {"by": "x" * 121}, "say who checked"),
        (Resolution.DELIVERED, {"by": "eve\nresolved by hand by alice"}, "say who checked"),
        (Resolution.REJECTED, {"by": "bob"}, "say why"),
        (Resolution.REJECTED, {"by": "bob", "reason": " "}, "say why"),
        (Resolution.NOT_DELIVERED, {"by": "bob", "agency_ref": "R-1"}, "delivered outcome only"),
    ],
)
def test_what_a_person_must_say(
    store: StateStore, resolution: Resolution, kwargs: dict[str, Any], message: str
) -> None:
    _with_recall(store)
    with pytest.raises(UsageError, match=message):
        resolve(store, RECALL, resolution, **kwargs)
    assert _outbox(store, RECALL)["status"] == "unknown"


# --- the list --------------------------------------------------------------------------------


def test_the_list_names_invoices_never_the_debtor(store: StateStore) -> None:
    _with_case_delivery(store)
    other = state_rows.delivery("case-9", "accepted", kind="payment")
    state_rows.add(store, outbox_rows=[other])
    with store.begin() as conn:  # a correction of the same case, its answer lost
        conn.execute(
            outbox.insert(),
            [
                state_rows.delivery(CASE_KEY, "unknown", kind="withdraw")
                | {"idempotency_key": RECALL, "payload": _recall_payload()}
            ],
        )
    waiting = outbox_admin.entries(store.engine)
    assert [(e.key, e.kind, e.invoices) for e in waiting] == [
        (CASE_DELIVERY, "case", ("5002", "5003")),
        (RECALL, "withdraw", ("5003",)),
    ]
    assert DEBTOR not in repr(waiting)
    only = outbox_admin.entries(store.engine, statuses=["accepted"], kinds=["payment"])
    assert [(e.case_key, e.invoices) for e in only] == [("case-9", ())]  # payload dropped
    assert outbox_admin.entries(store.engine, pipeline="other") == []
    found = outbox_admin.entry(store.engine, RECALL)
    assert found is not None
    assert found.age(AT) == AT - state_rows.AT
    assert found.created_at.tzinfo is not None
    assert outbox_admin.entry(store.engine, "cbk-nothing") is None
