"""One run of a pipeline: extract → normalize → wash → policy → outbox → deliver.

Memory stays flat as the ledger grows: a run holds one page of raw records at a time; the
per-debtor grouping state is staged in the state store and read back in debtor order, so
grouping never needs the whole ledger in memory. Cursors advance in the same transaction as
the last outbox rows they cover.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection

from claimbridge.connectors.base import Agency, RawRecord, Source, StreamSpec
from claimbridge.delivery import deliver
from claimbridge.errors import RecordError
from claimbridge.grouping import CaseWriter, idempotency_key
from claimbridge.policy import PolicySettings, decide_claim, group_key
from claimbridge.quality import Washer
from claimbridge.quality.registry import HOLD_CODES, RegistryEnricher
from claimbridge.quality.wash import PENALTY
from claimbridge.schemas import Claim, Creditor, Decision, Outcome, Party, PartyKind, QualityReport
from claimbridge.state import DebtorFacts, StateStore

__all__ = ["PipelineSpec", "SyncStats", "idempotency_key", "sync"]

log = logging.getLogger("claimbridge.pipeline")

SYNC_STREAMS = ("customers", "invoices")
WRITE_BATCH_GROUPS = 1000
FETCH_CHUNK = 500  # records asked for by id in one go
WASH_CACHE_SIZE = 4096  # repeat debtors within a page or two; bounded so memory stays flat
_UNWASHED = QualityReport(score=100)
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class PipelineSpec:
    """Everything one run needs. Built from the config file, or directly from Python."""

    name: str
    source: Source
    agency: Agency
    creditor: Creditor
    policy: PolicySettings = field(default_factory=PolicySettings)
    default_country: str = "NO"
    wash: bool = True  # off only to measure what washing costs (benchmarks)
    enricher: RegistryEnricher | None = None  # Brønnøysund lookups, when configured

    @property
    def agency_name(self) -> str:
        return self.agency.context.name

    def close(self) -> None:
        """Release the connectors' sessions and files (and the registry's cache)."""
        self.source.close()
        self.agency.close()
        if self.enricher is not None:
            self.enricher.close()


@dataclass
class SyncStats:
    run_id: str = ""
    dry_run: bool = False
    records_read: int = 0
    parties_seen: int = 0
    claims_seen: int = 0
    quarantined: int = 0
    skipped: int = 0  # claims not sent this run (waiting, held, skipped, already handed over)
    waiting: int = 0
    held: int = 0
    pending_approval: int = 0
    limitation_near: int = 0  # decided claims whose limitation date is near (sent or not)
    already_handed_over: int = 0
    cases_queued: int = 0
    claims_queued: int = 0
    cases_sent: int = 0
    claims_sent: int = 0
    rejected: int = 0
    unknown: int = 0
    retryable: int = 0
    recovered: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync(
    spec: PipelineSpec,
    store: StateStore,
    *,
    today: dt.date | None = None,
    dry_run: bool = False,
    force: bool = False,
    only_invoices: Iterable[str] | None = None,
    kind: str = "sync",
    progress: Progress | None = None,
) -> SyncStats:
    """Run the pipeline once. ``only_invoices`` + ``force`` make a one-off transfer.

    Raises LeaseHeldError at once when another run of the same pipeline is working.
    """
    with _batch_gc():
        return _sync(spec, store, today, dry_run, force, only_invoices, kind, progress)


@contextmanager
def _batch_gc() -> Iterator[None]:
    """A run makes millions of short-lived objects and no cycles worth chasing: collect less
    often, and not through the (frozen) objects that were there before the run."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _sync(
    spec: PipelineSpec,
    store: StateStore,
    today: dt.date | None,
    dry_run: bool,
    force: bool,
    only_invoices: Iterable[str] | None,
    kind: str,
    progress: Progress | None,
) -> SyncStats:
    run = _Run(spec, store, today or dt.date.today(), dry_run, force, only_invoices, progress)
    run_id = store.start_run(spec.name, kind if not dry_run else f"{kind}-dry")
    run.stats.run_id = run_id
    run.run_id = run_id
    try:
        with store.lease(spec.name, holder=run_id):
            store.staging.clear(spec.name, keep_run=run_id)  # a crashed run's leftovers
            if not dry_run:
                deliver(spec, store, run_id, run.stats, progress)  # finish what was left
            cursors = run.extract()
            run.enqueue(cursors, advance_cursors=kind == "sync")
            if not dry_run:
                store.resolve_quarantine(spec.name, before_run=run_id)
                deliver(spec, store, run_id, run.stats, progress)
    except BaseException as exc:
        store.staging.clear(spec.name)
        store.finish_run(run_id, "failed", run.stats.to_dict(), error=type(exc).__name__)
        raise
    store.staging.clear(spec.name)
    store.finish_run(run_id, "succeeded", run.stats.to_dict())
    return run.stats


class _Run:
    """One run's working state: the page being staged, the counters, the washer."""

    def __init__(
        self,
        spec: PipelineSpec,
        store: StateStore,
        today: dt.date,
        dry_run: bool,
        force: bool,
        only_invoices: Iterable[str] | None,
        progress: Progress | None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.today = today
        self.dry_run = dry_run
        self.force = force
        self.only = set(only_invoices) if only_invoices is not None else None
        self.progress = progress or (lambda _stage, _n: None)
        self.washer = Washer(default_country=spec.default_country, cache_size=WASH_CACHE_SIZE)
        self.stats = SyncStats(dry_run=dry_run)
        self.run_id = ""

    # --- extract → normalize → wash → decide → stage, one page at a time ------------------

    def extract(self) -> dict[str, str | None]:
        cursors: dict[str, str | None] = {}
        source = self.spec.source
        for stream in source.streams():
            if stream.name not in SYNC_STREAMS:
                continue  # payments and credit notes are reconciliation's (own cursors)
            cursor = self.store.get_cursor(self.spec.name, stream.name)
            for page in source.read(stream, cursor):
                self._stage_page(stream, page.records)
                if page.cursor is not None:
                    cursors[stream.name] = page.cursor
        self._recheck_waiting()
        return cursors

    def _recheck_waiting(self) -> None:
        """An incremental source does not re-send an invoice that merely fell due: fetch the
        waiting claims whose wait ends today by id (costs nothing when none do)."""
        source = self.spec.source
        caps = source.capabilities
        stream = _stream(source, "invoices")
        if not (caps.incremental and caps.fetch_by_id) or stream is None:
            return
        ids = self.store.due_for_review(self.spec.name, self.today)
        for start in range(0, len(ids), FETCH_CHUNK):
            records = list(source.fetch(stream, ids[start : start + FETCH_CHUNK]))
            with self.store.begin() as conn:  # already read this run (it changed): skip it
                seen = self.store.staging.staged_invoice_numbers(
                    conn, self.run_id, [str(r.data.get(stream.primary_key, "")) for r in records]
                )
            fresh = [r for r in records if str(r.data.get(stream.primary_key, "")) not in seen]
            if fresh:
                self._stage_page(stream, fresh)

    def _stage_page(self, stream: StreamSpec, records: Sequence[RawRecord]) -> None:
        parties: list[dict[str, Any]] = []
        claims: dict[str, Claim] = {}
        rejected: list[dict[str, Any]] = []
        for record in records:
            self.stats.records_read += 1
            try:
                models = self.spec.source.normalize(stream, record)
            except RecordError as exc:
                rejected.append(_quarantine_row(stream, record, exc.reasons, exc.record_id))
                continue
            except ValidationError as exc:
                rejected.append(_quarantine_row(stream, record, _reasons(exc), ""))
                continue
            for model in models:
                if isinstance(model, Party):
                    parties.append(self._wash(model))
                elif isinstance(model, Claim):
                    number = model.invoice_number
                    if self.only is not None and number not in self.only:
                        continue
                    if number in claims:
                        rejected.append(_duplicate(stream, record.location, number))
                        continue
                    claims[number] = model
        with self.store.begin() as conn:
            if parties:
                self.store.staging.stage_parties(conn, self.run_id, parties)
            if claims:
                numbers = list(claims)
                for number in self.store.staging.staged_invoice_numbers(conn, self.run_id, numbers):
                    rejected.append(_duplicate(stream, stream.name, number))
                    del claims[number]
                self._decide_page(conn, list(claims.values()))
            if rejected and not self.dry_run:
                self.store.quarantine(
                    conn,
                    [{"pipeline": self.spec.name, "run_id": self.run_id, **r} for r in rejected],
                )
        self.stats.parties_seen += len(parties)
        self.stats.claims_seen += len(claims)
        self.stats.quarantined += len(rejected)
        self.progress("read", len(records))

    def _wash(self, party: Party) -> dict[str, Any]:
        if self.spec.wash:
            result = self.washer.wash(party)
            washed, report = result.party, result.report
        else:
            washed, report = party, _UNWASHED
        if self.spec.enricher is not None:
            washed, report = self._enrich(washed, report)
        holds = [f.code for f in report.findings if f.code in HOLD_CODES]
        return {
            "debtor_id": party.source.record_id,
            "debtor_key": washed.debtor_key(),
            "score": report.score,
            "consumer": washed.kind is PartyKind.PERSON,
            "tags": json.dumps(list(washed.tags)),
            "holds": json.dumps(holds),
            "party": washed.model_dump_json(),
            "quality": report.model_dump_json(),
        }

    def _enrich(self, party: Party, report: QualityReport) -> tuple[Party, QualityReport]:
        """Registry facts on top of washing: a filled-in address is washed and scored again;
        the registry's own findings cost their severity's points (INFO costs nothing)."""
        assert self.spec.enricher is not None
        enriched, extra = self.spec.enricher.enrich(party)
        if enriched != party:
            again = self.washer.wash(enriched)
            enriched, report = again.party, again.report
        if not extra:
            return enriched, report
        score = max(0, report.score - sum(PENALTY[f.severity] for f in extra))
        return enriched, QualityReport(score=score, findings=(*report.findings, *extra))

    def _decide_page(self, conn: Connection, claims: list[Claim]) -> None:
        """Decide while the validated claims are in hand; stage the sendable ones for grouping.

        A claim whose debtor has not been seen yet is staged undecided and decided after the
        last page (``decide_deferred``).
        """
        store = self.store
        facts = store.staging.debtor_facts(conn, self.run_id, list({c.debtor_id for c in claims}))
        known = store.known_claims(conn, self.spec.name, [c.invoice_number for c in claims])
        handed = {n: case for n, (case, _) in known.items() if case is not None}
        staged: list[dict[str, Any]] = []
        decided: list[dict[str, Any]] = []
        for claim in claims:
            debtor = facts.get(claim.debtor_id)
            row = {
                "invoice_number": claim.invoice_number,
                "debtor_id": claim.debtor_id,
                "debtor_key": None,
                "group_key": None,
                "outcome": None,
                "currency": claim.currency,
                "remaining_principal": claim.remaining_principal,
                "claim": "",
                "decision": None,
            }
            if debtor is None:
                row["claim"] = claim.model_dump_json()
                staged.append(row)
                continue
            approved_on = known.get(claim.invoice_number, (None, None))[1]
            decision = self._decide(claim, debtor, handed.get(claim.invoice_number), approved_on)
            row.update(debtor_key=debtor.debtor_key, outcome=decision.outcome.value)
            staged.append(row)
            if claim.invoice_number in handed:
                continue  # handed over: reconciliation's now
            if decision.outcome is Outcome.SEND:  # its claims row is written with its case
                row.update(
                    group_key=group_key(claim, debtor.debtor_key, self.spec.policy),
                    claim=claim.model_dump_json(),
                    decision=decision.model_dump_json(),
                )
            else:
                decided.append(self._claim_row(claim, debtor.debtor_key, decision))
        store.staging.stage_claims(conn, self.run_id, staged)
        if not self.dry_run:
            store.upsert_claims(conn, decided)

    def decide_deferred(self) -> list[dict[str, Any]]:
        """Claims staged before their debtor: decide them now, or quarantine as orphans.

        An incremental source only yields customers that changed; the debtors of changed
        invoices that were not among them are fetched by id where the source can.
        """
        orphans: list[dict[str, Any]] = []
        deferred = self.store.staging.deferred_claims(self.run_id)
        for start in range(0, len(deferred), FETCH_CHUNK):
            chunk = deferred[start : start + FETCH_CHUNK]
            self._fetch_debtors([debtor_id for _, debtor_id, _ in chunk])
            with self.store.begin() as conn:
                facts = self.store.staging.debtor_facts(conn, self.run_id, [d for _, d, _ in chunk])
                restaged: list[dict[str, Any]] = []
                decided: list[dict[str, Any]] = []
                for number, debtor_id, claim_json in chunk:
                    debtor = facts.get(debtor_id)
                    if debtor is None:
                        orphans.append(_orphan(number, debtor_id))
                        continue
                    claim = Claim.model_validate_json(claim_json)
                    handed, approved_on = self.store.known_claims(
                        conn, self.spec.name, [number]
                    ).get(number, (None, None))
                    decision = self._decide(claim, debtor, handed, approved_on)
                    send = decision.outcome is Outcome.SEND and handed is None
                    restaged.append(
                        {
                            "number": number,
                            "debtor_key": debtor.debtor_key,
                            "group_key": group_key(claim, debtor.debtor_key, self.spec.policy)
                            if send
                            else None,
                            "outcome": decision.outcome.value if send else "done",
                            "decision": decision.model_dump_json(),
                        }
                    )
                    if handed is None and not send:  # a sendable one: written with its case
                        decided.append(self._claim_row(claim, debtor.debtor_key, decision))
                self.store.staging.restage_claims(conn, self.run_id, restaged)
                if not self.dry_run:
                    self.store.upsert_claims(conn, decided)
        self.stats.quarantined += len(orphans)
        return orphans

    def _fetch_debtors(self, debtor_ids: list[str]) -> None:
        source = self.spec.source
        stream = _stream(source, "customers")
        if not source.capabilities.fetch_by_id or stream is None:
            return
        with self.store.begin() as conn:
            known = self.store.staging.debtor_facts(conn, self.run_id, debtor_ids)
        missing = sorted({d for d in debtor_ids if d not in known})
        if missing:
            records = list(source.fetch(stream, missing))
            if records:
                self._stage_page(stream, records)

    def _decide(
        self,
        claim: Claim,
        debtor: DebtorFacts,
        handed_over: str | None,
        approved_on: dt.date | None = None,
    ) -> Decision:
        decision = decide_claim(
            claim,
            today=self.today,
            settings=self.spec.policy,
            quality_score=debtor.score,
            handed_over_case=handed_over,
            force=self.force,
            debtor_tags=debtor.tags,
            consumer=debtor.consumer,
            approved_on=approved_on,
            debtor_holds=debtor.holds,
        )
        self._count(decision)
        if _limitation_on(decision) is not None:
            self.stats.limitation_near += 1
        return decision

    def _count(self, decision: Decision) -> None:
        outcome = decision.outcome
        if outcome is Outcome.SEND:
            return
        self.stats.skipped += 1
        if any(r.code == "already_handed_over" for r in decision.reasons):
            self.stats.already_handed_over += 1
        elif outcome is Outcome.WAIT:
            self.stats.waiting += 1
        elif outcome is Outcome.HOLD:
            self.stats.held += 1
        elif outcome is Outcome.PENDING_APPROVAL:
            self.stats.pending_approval += 1

    def _claim_row(self, claim: Claim, debtor_key: str, decision: Decision) -> dict[str, Any]:
        return {
            "pipeline": self.spec.name,
            "invoice_number": claim.invoice_number,
            "source_system": claim.source.system,
            "source_company": claim.source.company,
            "source_record_id": claim.source.record_id,
            "debtor_id": claim.debtor_id,
            "debtor_key": debtor_key,
            "currency": claim.currency,
            "original_amount": claim.original_amount,
            "remaining_principal": claim.remaining_principal,
            "invoice_date": claim.invoice_date,
            "due_date": claim.due_date,
            "kid": claim.kid,
            "outcome": decision.outcome.value,
            "decision": decision.model_dump_json(),
            "decided_on": self.today,
            "review_on": _review_on(decision),
            "limitation_on": _limitation_on(decision),
            "case_key": None,
            "handed_over_on": None,
            "status": "open",
            "run_id": self.run_id,
            "updated_at": dt.datetime.now(dt.UTC),
        }

    # --- group → outbox -------------------------------------------------------------------

    def enqueue(self, cursors: dict[str, str | None], *, advance_cursors: bool) -> None:
        orphans = self.decide_deferred()
        writer = CaseWriter(
            self.store,
            pipeline=self.spec.name,
            agency=self.spec.agency_name,
            creditor=self.spec.creditor,
            run_id=self.run_id,
            today=self.today,
            forced=self.force,
            dry_run=self.dry_run,
        )
        writer.quarantine.extend(orphans)
        staged = self.store.staging.iter_sendable(self.run_id)
        for count, (_key, items) in enumerate(
            itertools.groupby(staged, key=lambda s: s.group_key), start=1
        ):
            writer.add_case(list(items))
            if count % WRITE_BATCH_GROUPS == 0:
                writer.flush()
        if advance_cursors and not self.dry_run:
            writer.cursors = cursors
        writer.flush()
        self.stats.cases_queued += writer.cases_written
        self.stats.claims_queued += writer.claims_written


def _stream(source: Source, name: str) -> StreamSpec | None:
    return next((s for s in source.streams() if s.name == name), None)


def _review_on(decision: Decision) -> dt.date | None:
    """When a waiting claim should be decided again: the last of its reasons' end dates."""
    if decision.outcome is not Outcome.WAIT:
        return None
    ends = [r.until for r in decision.reasons if r.until is not None]
    return max(ends) if ends else None


def _limitation_on(decision: Decision) -> dt.date | None:
    return next((w.until for w in decision.warnings if w.code == "limitation_near"), None)


def _quarantine_row(
    stream: StreamSpec, record: RawRecord, reasons: list[str], record_id: str
) -> dict[str, Any]:
    raw_id = record.data.get(stream.primary_key) if record.data else None
    return {
        "stream": stream.name,
        "location": record.location,
        "record_id": record_id or (str(raw_id) if raw_id not in (None, "") else None),
        "reasons": reasons,
    }


def _duplicate(stream: StreamSpec, location: str, number: str) -> dict[str, Any]:
    return {
        "stream": stream.name,
        "location": location,
        "record_id": number,
        "reasons": [f"invoice {number} appears more than once"],
    }


def _orphan(number: str, debtor_id: str) -> dict[str, Any]:
    return {
        "stream": "invoices",
        "location": f"invoice {number}",
        "record_id": number,
        "reasons": [f"no customer record for debtor id {debtor_id!r}"],
    }


def _reasons(exc: ValidationError) -> list[str]:
    out = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "record"
        out.append(f"{where}: {error['msg']}")
    return out
