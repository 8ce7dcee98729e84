"""Registry enrichment from Enhetsregisteret: statuses, findings, cache, a registry that is down."""

from __future__ import annotations

import json
import logging
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from claimbridge.errors import RecordError
from claimbridge.quality.registry import (
    HOLD_CODES,
    LookupStatus,
    RegistryEnricher,
    RegistryResult,
    RegistrySettings,
    parse_enhet,
)
from claimbridge.quality.registry_cache import RegistryCache
from claimbridge.schemas import Address, AddressKind, AddressState, Party, PartyKind, Severity
from tests.factories import make_party
from tests.fakes.brreg import FakeBrreg, address

ORGNR = "923609016"
OTHER = "923609024"
OWNER_NAME = "Kari Testesen"  # a sole proprietorship's name is its owner's: must never leak


class Clock:
    """Wall time and monotonic time that only move when the test says so."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
        self.seconds = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, delta: timedelta) -> None:
        self.now += delta
        self.seconds += delta.total_seconds()


@pytest.fixture
def fake() -> Iterator[tuple[FakeBrreg, responses.RequestsMock]]:
    registry = FakeBrreg()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        registry.install(rsps)
        yield registry, rsps


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_enricher(clock: Clock, **overrides: Any) -> RegistryEnricher:
    return RegistryEnricher(
        RegistrySettings(**overrides),
        clock=clock,
        monotonic=clock.monotonic,
        sleep=lambda _s: None,
    )


@pytest.fixture
def enricher(clock: Clock) -> Iterator[RegistryEnricher]:
    with make_enricher(clock) as built:
        yield built


def company(**overrides: Any) -> Party:
    fields: dict[str, Any] = {
        "kind": PartyKind.COMPANY,
        "name": "Testgata Data AS",
        "first_name": None,
        "last_name": None,
        "organization_number": ORGNR,
        "addresses": (),
    }
    fields.update(overrides)
    return make_party(**fields)


def codes(findings: list[Any]) -> list[str]:
    return [f.code for f in findings]


# --- found ----------------------------------------------------------------------------------


def test_found_company_maps_name_form_addresses_and_flags(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    registry, rsps = fake
    registry.add(
        ORGNR,
        "TESTGATA DATA AS",
        postadresse=address(["Postboks 12", "Sentrum"], "0101", "OSLO"),
    )
    result = enricher.lookup("923 609 016")
    assert result.status is LookupStatus.FOUND
    assert result.organization_number == ORGNR
    assert result.name == "TESTGATA DATA AS"
    assert result.organization_form == "AS"
    assert not result.bankrupt
    assert not result.deleted
    assert not result.under_liquidation
    assert [a.kind for a in result.addresses] == [AddressKind.REGISTERED, AddressKind.POSTAL]
    postal = result.postal_address
    assert postal is not None
    assert postal.lines == ("Postboks 12", "Sentrum")
    assert (postal.postal_code, postal.city, postal.country) == ("0101", "OSLO", "NO")
    assert rsps.calls[0].request.headers["Accept"] == "application/json"


def test_missing_address_is_filled_from_the_registry(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    registry, _ = fake
    registry.add(ORGNR, "Testgata Data AS", postadresse=address(["Postboks 12"], "0101", "OSLO"))
    party, findings = enricher.enrich(company())
    assert party.addresses[0].kind is AddressKind.POSTAL
    assert party.addresses[0].postal_code == "0101"
    assert codes(findings) == ["registry.address_filled"]
    assert findings[0].severity is Severity.INFO


def test_business_address_is_used_when_there_is_no_postal_one(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    fake[0].add(ORGNR, "Testgata Data AS")
    unknown = Address(state=AddressState.UNKNOWN)
    party, findings = enricher.enrich(company(addresses=(unknown,)))
    assert [a.kind for a in party.addresses] == [AddressKind.REGISTERED]
    assert party.addresses[0].lines == ("Testgata 1",)
    assert codes(findings) == ["registry.address_filled"]


def test_known_address_is_never_overwritten_a_mismatch_is_noted(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    fake[0].add(ORGNR, "Testgata Data AS")
    own = Address(lines=("Bryggen 3",), postal_code="5003", city="Bergen", country="NO")
    party, findings = enricher.enrich(company(addresses=(own,)))
    assert party.addresses == (own,)
    assert codes(findings) == ["registry.address_mismatch"]


def test_matching_known_address_gives_no_finding(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    fake[0].add(ORGNR, "TESTGATA DATA A/S")
    own = Address(lines=("Testgata 1",), postal_code="0150", city="Oslo")
    party, findings = enricher.enrich(company(name="Testgata  Data AS", addresses=(own,)))
    assert party.addresses == (own,)
    assert findings == []


def test_protected_address_is_left_alone(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    fake[0].add(ORGNR, "Testgata Data AS")
    protected = Address(state=AddressState.PROTECTED)
    party, findings = enricher.enrich(company(addresses=(protected,)))
    assert party.addresses == (protected,)
    assert findings == []


def test_name_mismatch_is_noted_without_either_name(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    fake[0].add(ORGNR, OWNER_NAME, orgform="ENK")
    party, findings = enricher.enrich(company(name="Kari T. Consulting"))
    assert "registry.name_mismatch" in codes(findings)
    for finding in findings:
        dumped = finding.model_dump_json()
        assert OWNER_NAME not in dumped
        assert "Kari T. Consulting" not in dumped
        assert "Testgata" not in dumped
    assert party.name == "Kari T. Consulting"


# --- status flags ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "code", "severity"),
    [
        ({"konkurs": True}, "registry.bankrupt", Severity.ERROR),
        ({"slettedato": "2024-11-30"}, "registry.deleted", Severity.ERROR),
        ({"underAvvikling": True}, "registry.under_liquidation", Severity.WARNING),
        (
            {"underTvangsavviklingEllerTvangsopplosning": True},
            "registry.forced_liquidation",
            Severity.WARNING,
        ),
    ],
)
def test_status_flags_become_findings_the_policy_can_hold_on(
    fake: tuple[FakeBrreg, responses.RequestsMock],
    enricher: RegistryEnricher,
    fields: dict[str, Any],
    code: str,
    severity: Severity,
) -> None:
    fake[0].add(ORGNR, "Testgata Data AS", **fields)
    _, findings = enricher.enrich(company())
    status = [f for f in findings if f.field == "organization_number"]
    assert [(f.code, f.severity) for f in status] == [(code, severity)]
    assert code in HOLD_CODES


def test_deleted_carries_its_date(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    fake[0].add(ORGNR, "Testgata Data AS", slettedato="2024-11-30", konkurs=True)
    result = enricher.lookup(ORGNR)
    assert result.deleted
    assert result.bankrupt
    assert result.deleted_on == date(2024, 11, 30)


# --- 404 and 410 ----------------------------------------------------------------------------


def test_not_found_is_a_warning_and_cached(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    _, rsps = fake
    party = company()
    same, findings = enricher.enrich(party)
    assert same == party
    assert [(f.code, f.severity) for f in findings] == [("registry.not_found", Severity.WARNING)]
    assert enricher.lookup(ORGNR).status is LookupStatus.NOT_FOUND
    assert len(rsps.calls) == 1


def test_not_found_with_an_unexpected_body_is_still_not_found(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    fake[0].serve_raw(ORGNR, b'{"status":404,"error":"Not Found"}', status=404)
    assert enricher.lookup(ORGNR).status is LookupStatus.NOT_FOUND


def test_removed_for_legal_reasons(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    fake[0].remove_for_legal_reasons(ORGNR)
    party, findings = enricher.enrich(company())
    assert party == company()
    assert codes(findings) == ["registry.removed"]
    assert enricher.lookup(ORGNR).status is LookupStatus.REMOVED
    assert len(fake[1].calls) == 1


def test_missing_answers_live_shorter_than_found_ones(
    fake: tuple[FakeBrreg, responses.RequestsMock], clock: Clock
) -> None:
    registry, rsps = fake
    with make_enricher(clock, ttl_days=7, missing_ttl_days=1) as enricher:
        registry.add(OTHER, "Other AS")
        enricher.lookup(ORGNR)
        enricher.lookup(OTHER)
        clock.advance(timedelta(days=2))
        enricher.lookup(ORGNR)  # 404 expired: asked again
        enricher.lookup(OTHER)  # found: still cached
    assert [str(c.request.url).rsplit("/", 1)[1] for c in rsps.calls] == [ORGNR, OTHER, ORGNR]


# --- a registry that is down ----------------------------------------------------------------


@pytest.mark.parametrize("failure", ["refused", "timeout", "503", "500"])
def test_registry_down_never_blocks_the_case(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher, failure: Any
) -> None:
    registry, _ = fake
    registry.add(ORGNR, "Testgata Data AS", konkurs=True)
    registry.down = failure
    party = company()
    same, findings = enricher.enrich(party)
    assert same == party
    assert [(f.code, f.severity) for f in findings] == [("registry.unavailable", Severity.INFO)]
    result = enricher.lookup(ORGNR)
    assert result.status is LookupStatus.UNAVAILABLE
    assert result.reason
    assert len(enricher.cache) == 0  # never cached
    registry.down = None
    assert enricher.lookup(ORGNR).bankrupt  # back up: asked again


def test_an_html_error_page_is_unavailable(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    fake[0].serve_raw(ORGNR, b"<html>Service Unavailable</html>", "text/html", status=503)
    result = enricher.lookup(ORGNR)
    assert result.status is LookupStatus.UNAVAILABLE
    assert result.reason is not None
    assert "HTTP 503" in result.reason


def test_a_retry_rescues_a_single_503(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    registry, rsps = fake
    registry.add(ORGNR, "Testgata Data AS")
    registry.fail("503")
    assert enricher.lookup(ORGNR).status is LookupStatus.FOUND
    assert len(rsps.calls) == 2


def test_repeated_failures_pause_lookups_for_a_while(
    fake: tuple[FakeBrreg, responses.RequestsMock], clock: Clock
) -> None:
    registry, rsps = fake
    registry.down = "refused"
    with make_enricher(clock, max_retries=0, failures_before_pause=3, pause_seconds=60) as enricher:
        numbers = ["923609008", ORGNR, OTHER, "923609032", "923609040"]
        results = [enricher.lookup(n) for n in numbers]
        assert {r.status for r in results} == {LookupStatus.UNAVAILABLE}
        assert len(rsps.calls) == 3
        assert results[-1].reason == "registry paused after repeated failures"
        registry.down = None
        registry.add(ORGNR, "Testgata Data AS")
        clock.advance(timedelta(seconds=61))
        assert enricher.lookup(ORGNR).status is LookupStatus.FOUND


def test_disabled_registry_makes_no_request(
    fake: tuple[FakeBrreg, responses.RequestsMock], clock: Clock
) -> None:
    with make_enricher(clock, enabled=False) as enricher:
        assert enricher.enrich(company()) == (company(), [])
        assert enricher.lookup(ORGNR).status is LookupStatus.UNAVAILABLE
    assert len(fake[1].calls) == 0


# --- who is looked up -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "party",
    [
        make_party(),  # a person
        company(organization_number=None),
        company(organization_number="923609017"),  # bad check digit
        company(organization_number="5560360793", id_country="SE"),
    ],
)
def test_only_norwegian_companies_with_valid_numbers_are_looked_up(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher, party: Party
) -> None:
    assert enricher.enrich(party) == (party, [])
    assert len(fake[1].calls) == 0


def test_lookup_of_an_invalid_number_is_a_record_error(enricher: RegistryEnricher) -> None:
    with pytest.raises(RecordError, match="organization_number"):
        enricher.lookup("12345")


# --- the cache ------------------------------------------------------------------------------


def test_cache_hit_makes_no_request_and_ttl_expiry_refetches(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher, clock: Clock
) -> None:
    registry, rsps = fake
    registry.add(ORGNR, "Testgata Data AS")
    first = enricher.lookup(ORGNR)
    clock.advance(timedelta(days=6, hours=23))
    assert enricher.lookup(ORGNR) == first
    assert len(rsps.calls) == 1
    registry.add(ORGNR, "Testgata Data AS", konkurs=True)
    clock.advance(timedelta(hours=2))
    assert enricher.lookup(ORGNR).bankrupt
    assert len(rsps.calls) == 2


def test_cache_file_survives_the_process_and_is_private(
    fake: tuple[FakeBrreg, responses.RequestsMock], clock: Clock, tmp_path: Path
) -> None:
    registry, rsps = fake
    registry.add(ORGNR, "Testgata Data AS")
    path = tmp_path / "cache" / "registry.sqlite"
    with make_enricher(clock, cache_path=path) as enricher:
        first = enricher.lookup(ORGNR)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with make_enricher(clock, cache_path=path) as enricher:
        assert enricher.lookup(ORGNR) == first
    assert len(rsps.calls) == 1


def test_a_corrupt_cache_entry_is_looked_up_again(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    fake[0].add(ORGNR, "Testgata Data AS")
    enricher.cache.put(ORGNR, '{"not": "a result"}', timedelta(days=1))
    assert enricher.lookup(ORGNR).status is LookupStatus.FOUND
    assert len(fake[1].calls) == 1


def test_cache_is_bounded_evicting_the_oldest(clock: Clock) -> None:
    with RegistryCache(max_entries=3, clock=clock) as cache:
        for n in range(5):
            cache.put(f"k{n}", f"v{n}", timedelta(days=1))
            clock.advance(timedelta(seconds=1))
        assert len(cache) == 3
        assert cache.get("k0") is None
        assert cache.get("k1") is None
        entry = cache.get("k4")
        assert entry is not None
        assert entry.payload == "v4"


def test_cache_expiry_removes_the_entry(clock: Clock) -> None:
    with RegistryCache(clock=clock) as cache:
        cache.put("k", "v", timedelta(hours=1))
        clock.advance(timedelta(hours=1))
        assert cache.get("k") is None
        assert len(cache) == 0


def test_cache_is_thread_safe(clock: Clock, tmp_path: Path) -> None:
    errors: list[BaseException] = []
    with RegistryCache(tmp_path / "c.sqlite", max_entries=50, clock=clock) as cache:

        def work(worker: int) -> None:
            try:
                for n in range(200):
                    cache.put(f"{worker}-{n}", "x" * 50, timedelta(days=1))
                    cache.get(f"{worker}-{n // 2}")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(cache) == 50


def test_cache_rejects_a_nonsense_bound() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        RegistryCache(max_entries=0)


# --- hostile answers ------------------------------------------------------------------------


HOSTILE: list[tuple[bytes, str, str]] = [
    (b'{"organisasjonsnummer": "923609016", "navn": "X"', "application/json", "at 'body'"),
    (b"not json at all", "application/json", "json_invalid"),
    (b"[1, 2, 3]", "application/json", "model_type"),
    (b'{"organisasjonsnummer": "923609016", "navn": 42}', "application/json", "'navn'"),
    (
        b'{"organisasjonsnummer": "923609016", "navn": "X", "konkurs": "Kari Testesen"}',
        "application/json",
        "'konkurs'",
    ),
    (b'{"organisasjonsnummer": "923609016", "navn": null}', "application/json", "'navn'"),
    (
        b'{"organisasjonsnummer": "923609024", "navn": "Kari Testesen"}',
        "application/json",
        "another organization number",
    ),
    (
        b'{"organisasjonsnummer": "923609016", "navn": "X", "forretningsadresse": '
        b'{"adresse": "Kari Testesen gate 1"}}',
        "application/json",
        "forretningsadresse.adresse",
    ),
    (b"<html>Kari Testesen</html>", "text/html", "not JSON"),
    (
        b'{"organisasjonsnummer": "923609016", "navn": "' + b"A" * 2_000_000 + b'"}',
        "application/json",
        "larger than",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "reason"), HOSTILE)
def test_hostile_answers_are_unavailable_with_a_clear_reason(
    fake: tuple[FakeBrreg, responses.RequestsMock],
    enricher: RegistryEnricher,
    body: bytes,
    content_type: str,
    reason: str,
) -> None:
    fake[0].serve_raw(ORGNR, body, content_type)
    result = enricher.lookup(ORGNR)
    assert result.status is LookupStatus.UNAVAILABLE
    assert result.reason is not None
    assert reason in result.reason
    assert OWNER_NAME not in result.reason
    assert len(enricher.cache) == 0


def test_an_address_with_an_unknown_country_is_dropped_not_fatal(
    fake: tuple[FakeBrreg, responses.RequestsMock], enricher: RegistryEnricher
) -> None:
    fake[0].add(ORGNR, "Testgata Data AS", postadresse=address(["Box 1"], "1", "X", landkode="ZZ"))
    result = enricher.lookup(ORGNR)
    assert result.status is LookupStatus.FOUND
    assert [a.kind for a in result.addresses] == [AddressKind.REGISTERED]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_parse_never_fails_other_than_value_error_on_bytes(body: bytes) -> None:
    try:
        parse_enhet(body, ORGNR, datetime(2025, 1, 1, tzinfo=UTC))
    except ValueError as exc:
        message = str(exc)
    else:
        return
    assert message.startswith(("unexpected registry answer", "the registry answered for"))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"organisasjonsnummer": st.just(ORGNR), "navn": st.text(min_size=1, max_size=30)},
        optional={
            "konkurs": _json_values,
            "slettedato": _json_values,
            "postadresse": _json_values,
            "forretningsadresse": _json_values,
            "organisasjonsform": _json_values,
        },
    )
)
def test_parse_of_any_json_shape_gives_a_result_or_a_value_error(body: dict[str, Any]) -> None:
    try:
        result = parse_enhet(json.dumps(body).encode(), ORGNR, datetime(2025, 1, 1, tzinfo=UTC))
    except ValueError:
        return
    assert isinstance(result, RegistryResult)
    assert result.status is LookupStatus.FOUND


def test_logs_carry_no_names(
    fake: tuple[FakeBrreg, responses.RequestsMock],
    enricher: RegistryEnricher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry, _ = fake
    registry.add(ORGNR, OWNER_NAME, orgform="ENK")
    registry.serve_raw(OTHER, b'{"navn": "Kari Testesen", "konkurs": "x"}')
    with caplog.at_level(logging.DEBUG):
        enricher.enrich(company(name=OWNER_NAME))
        enricher.enrich(company(organization_number=OTHER, name=OWNER_NAME))
        registry.down = "503"
        enricher.enrich(company(organization_number="923609008", name=OWNER_NAME))
    assert caplog.records
    assert OWNER_NAME not in caplog.text
