"""`claimbridge init --agency riverty` writes a config that `check` and `sync` work with, against
the fake Riverty collection API (in-process, through ``responses``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from claimbridge.init_template import required_environment
from claimbridge.sandbox.ledger import generate_sample_ledger
from tests.fakes.riverty import AUDIENCE, BASE_URL, CLIENT_ID, CLIENT_SECRET, TOKEN_URL, RivertyFake

from .conftest import TODAY, TODAY_ARG, invoke, one_json


@pytest.fixture
def fake() -> Iterator[RivertyFake]:
    fake = RivertyFake()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake


def edit(text: str, key: str, value: str, section: str) -> str:
    """Set ``key`` (live or commented out) to ``value``, first occurrence after ``section``."""
    start = text.index(section)
    edited, count = re.subn(
        rf"^(# )?{key} =.*$", f'{key} = "{value}"', text[start:], count=1, flags=re.MULTILINE
    )
    assert count == 1, key
    return text[:start] + edited


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "claimbridge.toml"
    result = invoke("init", "--source", "files", "--agency", "riverty", "-o", str(path))
    assert result.exit_code == 0, result.output
    text = path.read_text(encoding="utf-8")
    assert required_environment(text) == ["CLAIMBRIDGE_RIVERTY_CLIENT_SECRET"]
    assert CLIENT_SECRET not in text
    generate_sample_ledger(tmp_path / "ledger", today=TODAY)
    text = edit(text, "invoices", "ledger/invoices.csv", "[sources.ledger]")
    text = edit(text, "customers", "ledger/customers.csv", "[sources.ledger]")
    for key, value in {
        "url": BASE_URL,
        "client_id": CLIENT_ID,
        "token_url": TOKEN_URL,
        "audience": AUDIENCE,
    }.items():
        text = edit(text, key, value, "[agencies.riverty]")
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CLAIMBRIDGE_RIVERTY_CLIENT_SECRET", CLIENT_SECRET)
    return path


def checks(output: str) -> list[tuple[str, bool]]:
    report = one_json(output)
    [riverty] = [c for c in report["connectors"] if c["name"] == "riverty"]
    return [(c["kind"], c["ok"]) for c in riverty["checks"]]


def test_init_then_check_and_sync_with_riverty(
    config: Path, fake: RivertyFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = invoke("--config", str(config), "--json", "check")
    assert result.exit_code == 0, result.output
    assert checks(result.stdout) == [
        ("config", True),
        ("auth", True),
        ("reachability", True),
        ("auth", True),
    ]

    result = invoke("--config", str(config), *TODAY_ARG, "--json", "sync")
    stats = one_json(result.stdout)
    assert stats["cases_sent"] == len(fake.claims) > 0, result.output
    contracts = [c.contract_numbers[0] for c in fake.claims.values()]
    assert len(set(contracts)) == len(contracts)
    again = invoke("--config", str(config), *TODAY_ARG, "--json", "sync")
    assert one_json(again.stdout)["cases_sent"] == 0
    assert len(fake.claims) == stats["cases_sent"]

    monkeypatch.setenv("CLAIMBRIDGE_RIVERTY_CLIENT_SECRET", "not-the-secret")
    refused = invoke("--config", str(config), "--json", "check")
    assert ("auth", False) in checks(refused.stdout)
    assert "not-the-secret" not in refused.output
