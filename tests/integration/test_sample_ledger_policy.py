"""The sample ledger's promise, kept by the real components: read through the open-items file
source, washed, and judged by the Norwegian default policy, exactly the invoices the summary
calls due are sent."""

from __future__ import annotations

from datetime import date

import pytest

from claimbridge.connectors.accounting.files import OpenItemsFileSource, OpenItemsSettings
from claimbridge.connectors.base import ConnectorContext
from claimbridge.errors import RecordError
from claimbridge.policy import PolicySettings, decide_claim
from claimbridge.quality.wash import Washer
from claimbridge.sandbox.ledger import Category, LedgerSummary, generate_sample_ledger
from claimbridge.schemas import Claim, Party

TODAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> LedgerSummary:
    return generate_sample_ledger(tmp_path_factory.mktemp("ledger"), today=TODAY)


@pytest.fixture(scope="module")
def read_back(ledger: LedgerSummary) -> tuple[dict[str, Party], list[Claim], list[RecordError]]:
    settings = OpenItemsSettings(invoices=ledger.invoices_path, customers=ledger.customers_path)
    source = OpenItemsFileSource(settings, ConnectorContext(name="ledger", today=TODAY))
    parties: dict[str, Party] = {}
    claims: list[Claim] = []
    quarantined: list[RecordError] = []
    for stream in source.streams():
        for page in source.read(stream, None):
            for record in page.records:
                try:
                    models = source.normalize(stream, record)
                except RecordError as exc:
                    quarantined.append(exc)
                    continue
                for model in models:
                    if isinstance(model, Party):
                        parties[model.customer_number] = model
                    elif isinstance(model, Claim):
                        claims.append(model)
    return parties, claims, quarantined


def test_policy_sends_exactly_the_expected_invoices(
    ledger: LedgerSummary,
    read_back: tuple[dict[str, Party], list[Claim], list[RecordError]],
) -> None:
    parties, claims, _ = read_back
    assert len(claims) == ledger.invoice_count
    expected_due = set(ledger.expected_due)
    washer = Washer()
    sent: set[str] = set()
    judged: set[str] = set()
    due_debtors: set[str] = set()
    for claim in claims:
        party = parties.get(claim.debtor_id)
        if party is None:
            continue  # quarantined: test_every_customer_is_read says which
        washed = washer.wash(party)
        decision = decide_claim(
            claim, today=TODAY, settings=PolicySettings(), quality_score=washed.report.score
        )
        judged.add(claim.invoice_number)
        if decision.outcome == "send":
            sent.add(claim.invoice_number)
        if claim.invoice_number in expected_due:
            due_debtors.add(washed.party.debtor_key())
    # With no quality minimum (the default) the policy may let the unreachable debtor's claim
    # through; the agency is who rejects a debtor it cannot reach.
    sent -= set(ledger.invoices_in(Category.UNREACHABLE))
    assert sent == expected_due & judged
    assert len(sent) > ledger.invoice_count / 2
    unread = {c.debtor_id for c in claims if c.invoice_number in expected_due - judged}
    assert len(due_debtors) == ledger.expected_debtors - len(unread)


def test_every_customer_is_read(
    ledger: LedgerSummary,
    read_back: tuple[dict[str, Party], list[Claim], list[RecordError]],
) -> None:
    parties, _, quarantined = read_back
    assert not quarantined
    assert len(parties) == ledger.customer_count
