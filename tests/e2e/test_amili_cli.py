"""``claimbridge init --agency amili|amili_se`` writes configs that ``check`` accepts, through the
CLI in-process against the fakes of Amili's APIs; ``webhooks serve`` refuses what it cannot do."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner

from claimbridge.cli import cli
from claimbridge.errors import UsageError
from claimbridge.init_template import required_environment
from tests.contract.test_amili_se_contract import PRIVATE_KEY, PUBLIC_KEY
from tests.e2e.conftest import invoke
from tests.fakes import amili as no
from tests.fakes import amili_se as se


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _init(tmp_path: Path, agency: str) -> tuple[Path, str]:
    config = tmp_path / "claimbridge.toml"
    result = CliRunner().invoke(cli, ["init", "--agency", agency, "-o", str(config)])
    assert result.exit_code == 0, result.output
    return config, config.read_text(encoding="utf-8")


def _set(text: str, key: str, value: str) -> str:
    """Set ``key`` (live or commented out) in the agency's table to a TOML string."""
    pattern = rf"^(# )?{key} = .*$"
    edited, count = re.subn(pattern, f"{key} = {json.dumps(value)}", text, count=1, flags=re.M)
    assert count == 1, key
    return edited


def _check(config: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, object]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["--config", str(config), "--json", "check"])
    report = json.loads(result.stdout)
    [agency] = [c for c in report["connectors"] if c["name"] != "ledger"]
    return {"exit": result.exit_code, "checks": agency["checks"], "output": result.output}


def test_init_amili_then_check_passes_against_amili(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mocked: responses.RequestsMock
) -> None:
    no.FakeAmili().install(mocked)
    config, text = _init(tmp_path, "amili")
    for key, value in {
        "api_url": no.API,
        "token_url": no.TOKEN_URL,
        "client_id": no.CLIENT_ID,
        "organization_id": no.ORG,
    }.items():
        text = _set(text, key, value)
    config.write_text(text, encoding="utf-8")
    assert "CLAIMBRIDGE_AMILI_CLIENT_SECRET" in required_environment(text)
    env = dict.fromkeys(required_environment(text), "x") | {
        "CLAIMBRIDGE_AMILI_CLIENT_SECRET": no.CLIENT_SECRET
    }
    (tmp_path / "ledger").mkdir()
    report = _check(config, monkeypatch, env)
    assert all(c["ok"] for c in report["checks"]), report  # type: ignore[attr-defined]
    assert no.CLIENT_SECRET not in str(report["output"])

    env["CLAIMBRIDGE_AMILI_CLIENT_SECRET"] = "wrong"
    report = _check(config, monkeypatch, env)
    failed = [c["kind"] for c in report["checks"] if not c["ok"]]  # type: ignore[attr-defined]
    assert failed == ["auth"]


def test_init_amili_se_then_check_passes_against_amili_sweden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mocked: responses.RequestsMock
) -> None:
    se.FakeAmiliSweden(public_key=PUBLIC_KEY).install(mocked)
    config, text = _init(tmp_path, "amili_se")
    key_file = tmp_path / "amili.key"
    key_file.write_text(PRIVATE_KEY, encoding="utf-8")
    key_file.chmod(0o600)
    text = _set(text, "api_url", se.API)
    text = _set(text, "account", se.ACCOUNT)
    text = _set(text, "creditor", se.CREDITOR)
    text = _set(text, "private_key", f"${{file:{key_file}}}")
    config.write_text(text, encoding="utf-8")
    env = dict.fromkeys(required_environment(text), "x") | {
        "CLAIMBRIDGE_AMILI_SE_API_CODE": se.API_CODE
    }
    report = _check(config, monkeypatch, env)
    assert all(c["ok"] for c in report["checks"]), report  # type: ignore[attr-defined]
    assert "PRIVATE KEY" not in str(report["output"])


def test_webhooks_serve_refuses_unknown_agencies_and_agencies_without_webhooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, text = _init(tmp_path, "sandbox")
    for name in required_environment(text):
        monkeypatch.setenv(name, "x")
    result = invoke("--config", str(config), "webhooks", "serve", "--agency", "nope")
    assert result.exit_code == UsageError.exit_code
    assert "no agency named nope" in result.stderr
    result = invoke("--config", str(config), "webhooks", "serve")
    assert result.exit_code == UsageError.exit_code
    assert "takes webhooks" in result.stderr
