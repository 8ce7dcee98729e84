"""Hostile answers to the booking lookups: whatever a ledger sends back where claimbridge looks
for an earlier booking, ``find_booking`` answers an id, None, or a claimbridge error, never a
traceback of internals. Each source is driven through its own fake, with the lookup's answer
replaced by generated JSON shaped like (and unlike) the vendor's envelope."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimbridge.errors import ClaimbridgeError
from tests.fakes.fiken import FikenFake
from tests.fakes.fortnox import FortnoxFake
from tests.fakes.poweroffice import FakePowerOffice
from tests.fakes.tripletex import FakeTripletex
from tests.fakes.visma import VismaFake
from tests.unit import test_fiken as fiken
from tests.unit import test_poweroffice as poweroffice
from tests.unit import test_tripletex as tripletex
from tests.unit.test_fortnox_booking import Sources as FortnoxSources
from tests.unit.test_visma_vouchers import Sources as VismaSources

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["cb:settlement-1", "[cb:settlement-1]", "claimbridge-settlement-1"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=25,
)
KEYS = [
    "id",
    "Id",
    "externalVoucherNumber",
    "description",
    "Description",
    "VoucherText",
    "journalEntryId",
    "ExternalImportReference",
    "VoucherId",
    "VoucherSeries",
    "VoucherNumber",
    "Year",
    "FromDate",
    "ToDate",
]
ROWS = st.lists(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6) | JSON, max_size=5)
HOSTILE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def survives(lookup: Callable[[], str | None]) -> None:
    try:
        found = lookup()
    except ClaimbridgeError:
        return
    assert found is None or isinstance(found, str)


def reply(body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    return 200, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body)


@HOSTILE
@given(st.one_of(JSON, st.fixed_dictionaries({"values": ROWS})))
def test_tripletex_lookup(body: Any) -> None:
    fake = FakeTripletex(today=tripletex.TODAY)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        source = tripletex.make_source()
        assert source.find_booking("warm-up") is None  # the session exists from here on
        fake.injected.append(reply(body))
        survives(lambda: source.find_booking("settlement-1"))


@HOSTILE
@given(st.one_of(JSON, ROWS))
def test_fiken_lookup(body: Any) -> None:
    fake = FikenFake(today=fiken.TODAY)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        fake.failures.append(reply(body, {"Fiken-Api-Page-Count": "1"}))
        survives(lambda: fiken.make_source(fake).find_booking("settlement-1"))


@HOSTILE
@given(st.one_of(JSON, ROWS))
def test_poweroffice_lookup(body: Any) -> None:
    go = FakePowerOffice()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        go.install(rsps)
        go.fail_next = (200, body)
        survives(lambda: poweroffice.make_source().find_booking("settlement-1"))


@HOSTILE
@given(
    st.one_of(JSON, st.fixed_dictionaries({"FinancialYears": ROWS})),
    st.one_of(JSON, st.fixed_dictionaries({"Vouchers": ROWS})),
)
def test_fortnox_lookup(years: Any, vouchers: Any) -> None:
    fake = FortnoxFake()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        fake.failures += [reply(years), reply(vouchers)]
        survives(lambda: FortnoxSources(fake)().find_booking("settlement-1"))


@HOSTILE
@given(
    st.one_of(
        JSON,
        st.fixed_dictionaries(
            {"Meta": st.fixed_dictionaries({"TotalNumberOfPages": JSON}), "Data": ROWS}
        ),
    )
)
def test_visma_lookup(body: Any) -> None:
    fake = VismaFake()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        fake.failures.append(reply(body))
        survives(lambda: VismaSources(fake)().find_booking("settlement-1"))
