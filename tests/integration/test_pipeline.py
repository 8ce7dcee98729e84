"""The pipeline with real parts: the files source, SQLite state, the file-drop agency, and a
scripted agency for the delivery state machine (outcomes an agency can give)."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from claimbridge.connectors.accounting.files import OpenItemsFileSource
from claimbridge.connectors.agencies.file_drop import FileDropAgency
from claimbridge.connectors.base import (
    Agency,
    AgencyCapabilities,
    CheckResult,
    ConnectorContext,
    ConnectorSettings,
    Delivery,
    PushOutcome,
    PushStatus,
)
from claimbridge.errors import OutcomeUnknownError
from claimbridge.pipeline import PipelineSpec, sync
from claimbridge.policy import PolicySettings
from claimbridge.sandbox.ledger import generate_sample_ledger
from claimbridge.state import StateStore, staging
from tests.factories import make_creditor

TODAY = dt.date(2026, 11, 23)


class ScriptedAgency(Agency):
    """Answers each push from a script; remembers every key it was given (its 'database')."""

    type_name: ClassVar[str] = "scripted"
    Settings: ClassVar[type[ConnectorSettings]] = ConnectorSettings
    capabilities: ClassVar[AgencyCapabilities] = AgencyCapabilities(
        idempotency_keys=True, lookup=True, batch_size=7
    )

    def __init__(self, script: list[str] | None = None) -> None:
        super().__init__(ConnectorSettings(), ConnectorContext(name="scripted", today=TODAY))
        self.script = list(script or [])
        self.received: dict[str, str] = {}
        self.pushed: Counter[str] = Counter()
        self.quoted: dict[str, tuple[str, ...]] = {}
        self.calls = 0

    def check(self) -> CheckResult:
        return CheckResult(connector="scripted", items=())

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        self.calls += 1
        action = self.script.pop(0) if self.script else "accept"
        for d in deliveries:
            assert d.case.claims  # the payload parses as a valid Case
            self.pushed[d.idempotency_key] += 1
            self.received.setdefault(d.idempotency_key, f"REF-{len(self.received) + 1}")
        if action == "timeout-after-commit":
            raise OutcomeUnknownError("read timed out", connector="scripted")
        if action == "reject":
            return [
                PushOutcome(d.idempotency_key, PushStatus.REJECTED, reason="no") for d in deliveries
            ]
        if action == "reject-quoting":  # an agency that quotes back what it refused
            self.quoted.update((d.idempotency_key, _quoted(d)) for d in deliveries)
            return [
                PushOutcome(
                    d.idempotency_key,
                    PushStatus.REJECTED,
                    reason=f"invalid debtor {', '.join(self.quoted[d.idempotency_key])}: code E17",
                )
                for d in deliveries
            ]
        return [
            PushOutcome(d.idempotency_key, PushStatus.ACCEPTED, self.received[d.idempotency_key])
            for d in deliveries
        ]

    def lookup(self, idempotency_key: str, agency_ref: str | None = None) -> PushOutcome | None:
        ref = self.received.get(idempotency_key)
        return PushOutcome(idempotency_key, PushStatus.ACCEPTED, ref) if ref else None


def _quoted(delivery: Delivery) -> tuple[str, ...]:
    """What an agency might quote back: the name (in its own case), id number, phone."""
    debtor = delivery.case.debtor
    ident = debtor.national_id or debtor.organization_number
    phone = debtor.phones[0].number if debtor.phones else None
    return tuple(v for v in (debtor.name.upper(), ident, phone) if v)


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return generate_sample_ledger(tmp_path / "ledger", today=TODAY).directory


def _source(ledger: Path) -> OpenItemsFileSource:
    settings = OpenItemsFileSource.Settings.model_validate(
        {"customers": ledger / "customers.csv", "invoices": ledger / "invoices.csv"}
    )
    return OpenItemsFileSource(settings, ConnectorContext(name="ledger", today=TODAY))


def _spec(ledger: Path, agency: Agency, **policy: object) -> PipelineSpec:
    return PipelineSpec(
        name="main",
        source=_source(ledger),
        agency=agency,
        creditor=make_creditor(),
        policy=PolicySettings.model_validate(policy),
    )


def _store(tmp_path: Path) -> StateStore:
    return StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")


def test_sync_delivers_each_case_once_and_a_rerun_sends_nothing(
    ledger: Path, tmp_path: Path
) -> None:
    agency = ScriptedAgency()
    store = _store(tmp_path)
    first = sync(_spec(ledger, agency), store, today=TODAY)
    assert first.cases_sent == len(agency.received) > 10
    assert first.claims_sent == first.claims_queued
    again = sync(_spec(ledger, agency), store, today=TODAY)
    assert again.cases_sent == 0
    assert again.already_handed_over == first.claims_sent
    assert store.outbox_counts("main") == {"accepted": first.cases_sent}
    assert store.verify_audit() >= 2


def test_timeout_after_commit_is_resolved_by_lookup_not_resent(
    ledger: Path, tmp_path: Path
) -> None:
    agency = ScriptedAgency(script=["accept", "timeout-after-commit"])
    store = _store(tmp_path)
    first = sync(_spec(ledger, agency), store, today=TODAY)
    assert first.unknown == 7  # one batch of batch_size is in doubt; delivery stops there
    assert first.cases_sent == 7
    second = sync(_spec(ledger, agency), store, today=TODAY)
    assert second.recovered == 7  # resolved by lookup …
    assert max(agency.pushed.values()) == 1  # … never pushed a second time
    assert first.cases_sent + second.cases_sent == len(agency.received)
    assert set(store.outbox_counts("main")) == {"accepted"}


def test_rejections_are_final_and_reported(ledger: Path, tmp_path: Path) -> None:
    agency = ScriptedAgency(script=["reject"])
    store = _store(tmp_path)
    stats = sync(_spec(ledger, agency), store, today=TODAY)
    assert stats.rejected == 7
    rejected = store.list_cases("main", ["rejected"])
    assert len(rejected) == 7
    assert store.outbox_counts("main")["rejected"] == 7


def test_a_refusal_quoting_the_debtor_is_stored_without_the_debtor_data(
    ledger: Path, tmp_path: Path
) -> None:
    agency = ScriptedAgency(script=["reject-quoting"])
    store = _store(tmp_path)
    sync(_spec(ledger, agency), store, today=TODAY)
    rejected = store.list_cases("main", ["rejected"])
    assert len(rejected) == len(agency.quoted) == 7
    with store.engine.connect() as conn:
        reasons = [r for (r,) in conn.exec_driver_sql("SELECT reason FROM outbox") if r]
    messages = [e.message for case in rejected for e in store.case_events(case.case_key)]
    stored = reasons + [m for m in messages if "rejected" in m]
    assert len(stored) == 14
    for text in stored:
        assert "[debtor data]" in text
        assert "code E17" in text  # the agency's own words stay
        for values in agency.quoted.values():
            assert all(v.casefold() not in text.casefold() for v in values)


def test_dry_run_decides_but_writes_and_sends_nothing(ledger: Path, tmp_path: Path) -> None:
    agency = ScriptedAgency()
    store = _store(tmp_path)
    stats = sync(_spec(ledger, agency), store, today=TODAY, dry_run=True)
    assert stats.cases_queued > 10
    assert agency.calls == 0
    assert store.outbox_counts("main") == {}
    assert store.list_cases("main") == []
    assert store.get_cursor("main", "invoices") is None


def test_per_invoice_grouping_makes_one_case_per_claim(ledger: Path, tmp_path: Path) -> None:
    agency = ScriptedAgency()
    stats = sync(_spec(ledger, agency, grouping="invoice"), _store(tmp_path), today=TODAY)
    assert stats.cases_sent == stats.claims_sent


def test_grouping_read_in_small_pages_makes_the_same_cases(
    ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A debtor's claims split across read pages still become one case."""
    whole = _store(tmp_path / "whole")
    sync(_spec(ledger, ScriptedAgency()), whole, today=TODAY)
    monkeypatch.setattr(staging, "SENDABLE_PAGE", 2)
    paged = _store(tmp_path / "paged")
    sync(_spec(ledger, ScriptedAgency()), paged, today=TODAY)

    def cases(store: StateStore) -> list[tuple[str, list[str]]]:
        keys = sorted(c.case_key for c in store.list_cases("main"))
        return [(k, sorted(c.invoice_number for c in store.case_claims(k))) for k in keys]

    assert len(cases(whole)) > 10
    assert any(len(numbers) > 1 for _, numbers in cases(whole))
    assert cases(paged) == cases(whole)


def test_claims_of_unknown_customers_are_quarantined(ledger: Path, tmp_path: Path) -> None:
    rows = list(csv.DictReader((ledger / "invoices.csv").open(encoding="utf-8")))
    rows[0]["customer_number"] = "99999"
    with (ledger / "invoices.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    store = _store(tmp_path)
    stats = sync(_spec(ledger, ScriptedAgency()), store, today=TODAY)
    assert stats.quarantined == 1
    [entry] = store.list_quarantine("main")
    assert entry.record_id == rows[0]["invoice_number"]
    assert "no customer record" in entry.reasons


def test_file_drop_end_to_end_with_protected_address_blanked(ledger: Path, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    agency = FileDropAgency(
        FileDropAgency.Settings.model_validate({"directory": drop}),
        ConnectorContext(name="drop", today=TODAY),
    )
    stats = sync(_spec(ledger, agency), _store(tmp_path), today=TODAY)
    files = sorted(drop.glob("*.csv"))
    assert files
    rows = [r for f in files for r in csv.DictReader(f.open(encoding="utf-8"), delimiter=";")]
    assert len(rows) == stats.claims_sent
    assert len({r["case_key"] for r in rows}) == stats.cases_sent


def test_approval_step_holds_cases_until_a_person_approves(ledger: Path, tmp_path: Path) -> None:
    agency = ScriptedAgency()
    store = _store(tmp_path)
    first = sync(_spec(ledger, agency, require_approval=True), store, today=TODAY)
    assert first.cases_sent == 0
    assert first.pending_approval > 10
    held = {r.invoice_number for r in store.held_claims("main") if r.outcome == "pending_approval"}
    some = sorted(held)[:3]
    approved = store.approve("main", some, by="tester", today=TODAY)
    assert sorted(approved) == some
    second = sync(_spec(ledger, agency, require_approval=True), store, today=TODAY)
    assert second.claims_sent == 3
    for number in some:
        row = store.claim("main", number)
        assert row is not None
        assert row.case_key is not None
        assert row.approved_by == "tester"
    # approving again, or approving what does not wait for approval, approves nothing
    assert store.approve("main", some, by="tester", today=TODAY) == []
    rest = store.approve("main", None, by="tester", today=TODAY, max_amount=None)
    assert len(rest) == second.pending_approval


def test_registry_enrichment_holds_bankrupt_debtors_and_survives_an_outage(
    ledger: Path, tmp_path: Path
) -> None:
    import responses

    from claimbridge.quality.registry import RegistryEnricher, RegistrySettings
    from tests.fakes.brreg import FakeBrreg

    companies = {
        row["organization_number"].replace(" ", "").replace(".", "")
        for row in csv.DictReader((ledger / "customers.csv").open(encoding="utf-8"))
        if row["kind"] == "company" and row["organization_number"]
    }
    fake = FakeBrreg()
    for orgnr in companies:
        fake.add(orgnr, "Registrert Navn AS", konkurs=True)
    store = _store(tmp_path)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        spec = _spec(ledger, ScriptedAgency())
        spec = PipelineSpec(**{**spec.__dict__, "enricher": RegistryEnricher(RegistrySettings())})
        sync(spec, store, today=TODAY)
        spec.close()
    held = [
        row
        for row in store.held_claims("main")
        if "bankrupt according to Enhetsregisteret" in row.decision
    ]
    assert held, "the bankrupt debtor's claims are held with the registry's reason"
    assert all(row.case_key is None for row in held)

    # the registry being down never blocks a case
    fake.fail("refused", times=1000)
    store2 = StateStore.open(f"sqlite:///{tmp_path / 'state2.db'}")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        spec = _spec(ledger, ScriptedAgency())
        spec = PipelineSpec(**{**spec.__dict__, "enricher": RegistryEnricher(RegistrySettings())})
        down = sync(spec, store2, today=TODAY)
        spec.close()
    plain = sync(_spec(ledger, ScriptedAgency()), _store(tmp_path / "plain"), today=TODAY)
    assert down.cases_sent == plain.cases_sent


def test_claims_near_limitation_are_flagged_and_listed_first(ledger: Path, tmp_path: Path) -> None:
    rows = list(csv.DictReader((ledger / "invoices.csv").open(encoding="utf-8")))
    old = rows[0]
    old.update(
        invoice_date="2023-11-01",
        due_date="2023-12-15",  # limitation (3 years in NO) 2026-12-15: 22 days away
        reminder1_date="",
        reminder1_fee="",
        reminder2_date="",
        reminder2_fee="",
        on_hold="true",
    )
    with (ledger / "invoices.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    store = _store(tmp_path)
    stats = sync(_spec(ledger, ScriptedAgency()), store, today=TODAY)
    assert stats.limitation_near >= 1
    [near] = store.limitation_claims("main")
    assert near.invoice_number == old["invoice_number"]
    assert near.limitation_on == dt.date(2026, 12, 15)
    assert store.held_claims("main")[0].invoice_number == old["invoice_number"]
