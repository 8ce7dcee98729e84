"""`claimbridge init`: the rendered starter config is commented, secret-free and loads."""

from __future__ import annotations

import json
import re
import socket
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from click.testing import CliRunner
from pydantic import Field, SecretStr

from claimbridge.cli import cli
from claimbridge.config import load_config
from claimbridge.connectors.base import (
    Agency,
    CheckResult,
    ConnectorSettings,
    Delivery,
    Page,
    PushOutcome,
    RawRecord,
    Source,
    StreamSpec,
)
from claimbridge.connectors.registry import Registry, load_registry
from claimbridge.errors import AuthError, ConfigError, UnreachableError
from claimbridge.init_template import (
    PLACEHOLDER_URL,
    env_var_name,
    render_config,
    required_environment,
)
from claimbridge.logs import get_redactor


class ExportSettings(ConnectorSettings):
    invoices: Path = Field(description="The invoices export, relative to the config")
    page_size: int = Field(default=500, description="Records per page")
    encoding: str = "utf-8"
    company: str | None = None
    mode: Literal["csv", "jsonl"] = "csv"


class ExportSource(Source):
    """Invoices from an export file."""

    type_name = "export"
    Settings = ExportSettings

    def check(self) -> CheckResult:
        return CheckResult(self.type_name, ())

    def streams(self) -> Sequence[StreamSpec]:
        return ()

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        return iter(())

    def normalize(self, stream: StreamSpec, record: RawRecord) -> Sequence[Any]:
        return ()


class RestSettings(ConnectorSettings):
    url: str = Field(description="Base URL of the agency API", examples=["https://api.agency.test"])
    token: SecretStr = Field(description="API token")
    retries: int
    webhook_secret: SecretStr | None = None


class RestAgency(Agency):
    """An agency with a REST API."""

    type_name = "rest"
    Settings = RestSettings

    def check(self) -> CheckResult:
        return CheckResult(self.type_name, ())

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        return []


class DropAgency(RestAgency):
    """An agency that takes files."""

    type_name = "drop"
    config_example: ClassVar[str] = (
        "# Base URL of the agency.\n"
        'url = "https://drop.agency.test"\n'
        "# Token (secret).\n"
        'token = "${DROP_TOKEN}"\n'
        "# How often to retry.\n"
        "retries = 3\n"
    )


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    yield
    get_redactor().clear()  # loading registered the placeholder secrets process-wide


REGISTRY = Registry(
    sources={"export": ExportSource}, agencies={"rest": RestAgency, "drop": DropAgency}
)


def write_and_load(tmp_path: Path, text: str, registry: Registry) -> Any:
    path = tmp_path / "claimbridge.toml"
    path.write_text(text, encoding="utf-8")
    env = {name: f"value-of-{name.lower()}" for name in required_environment(text)}
    return load_config(path, environ=env, registry=registry)


def test_generated_blocks_load(tmp_path: Path) -> None:
    text = render_config("export", "rest", creditor_name='Demo "Q" AS', registry=REGISTRY)
    config = write_and_load(tmp_path, text, REGISTRY)
    assert config.creditor.name == 'Demo "Q" AS'
    pipeline = config.pipeline(None)
    assert pipeline.source.type_name == "export"
    assert pipeline.agency.type_name == "rest"
    assert pipeline.agency.settings.url == "https://api.agency.test"
    assert pipeline.agency.settings.token.get_secret_value() == "value-of-claimbridge_rest_token"
    assert pipeline.policy.country == "NO"


def test_generated_block_content() -> None:
    text = render_config("export", "rest", registry=REGISTRY)
    assert 'token = "${CLAIMBRIDGE_REST_TOKEN}"' in text
    assert '# webhook_secret = "${CLAIMBRIDGE_REST_WEBHOOK_SECRET}"' in text
    assert "# Set before running: CLAIMBRIDGE_REST_TOKEN" in text
    assert "# page_size = 500" in text
    assert "retries = 0" in text
    assert 'invoices = "CHANGE-ME"' in text
    assert "# company =" in text
    assert 'mode = "csv"' not in text.replace("# mode", "")


def test_connector_example_block_is_used(tmp_path: Path) -> None:
    text = render_config("export", "drop", registry=REGISTRY)
    assert 'url = "https://drop.agency.test"' in text
    assert "CLAIMBRIDGE_DROP_TOKEN" not in text
    assert required_environment(text) == ["DROP_TOKEN"]
    config = write_and_load(tmp_path, text, REGISTRY)
    assert config.agencies["drop"].settings.retries == 3


def test_every_setting_line_is_explained() -> None:
    text = render_config("export", "rest", registry=REGISTRY)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[i - 1].startswith("#"), f"line {i + 1} has no comment: {line!r}"
    tomllib.loads(text)


def test_unknown_types_list_installed() -> None:
    with pytest.raises(ConfigError, match=r"unknown agency type 'nope' \(installed: drop, rest\)"):
        render_config("export", "nope", registry=REGISTRY)
    with pytest.raises(ConfigError, match="unknown source type"):
        render_config("tripletx", "rest", registry=REGISTRY)


def test_env_var_name() -> None:
    assert env_var_name("file-drop", "sftp.key") == "CLAIMBRIDGE_FILE_DROP_SFTP_KEY"


INSTALLED = load_registry()
AGENCIES = ("sandbox", "file_drop", "amili", "amili_se", "riverty")
COMBINATIONS = [(s, a) for s in sorted(INSTALLED.sources) for a in AGENCIES]


def uncomment_settings(text: str) -> str:
    """Every commented-out line that is a TOML key or table on its own, made live."""
    lines = []
    for line in text.splitlines():
        candidate = line.removeprefix("# ")
        if candidate != line and ("=" in candidate or candidate.startswith("[")):
            try:
                tomllib.loads(candidate)
            except tomllib.TOMLDecodeError:
                pass  # prose, or a key shown without a value
            else:
                line = candidate
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_every_builtin_connector_is_installed() -> None:
    assert not INSTALLED.failures
    assert {"files", "saft", "ubl", "tripletex", "fiken", "poweroffice"} <= set(INSTALLED.sources)
    assert set(AGENCIES) <= set(INSTALLED.agencies)


@pytest.mark.parametrize(("source", "agency"), COMBINATIONS)
def test_builtin_combination_loads(tmp_path: Path, source: str, agency: str) -> None:
    text = render_config(source, agency, registry=INSTALLED)
    config = write_and_load(tmp_path, text, INSTALLED)
    pipeline = config.pipeline(None)
    assert (pipeline.source.type_name, pipeline.agency.type_name) == (source, agency)
    for name in required_environment(text):
        assert name.isupper()
        assert name.replace("_", "").isalnum()
    if required_environment(text):  # the secrets it names really are needed
        with pytest.raises(ConfigError):
            load_config(tmp_path / "claimbridge.toml", environ={}, registry=INSTALLED)


@pytest.mark.parametrize(("source", "agency"), COMBINATIONS)
def test_builtin_commented_settings_are_valid_when_uncommented(
    tmp_path: Path, source: str, agency: str
) -> None:
    text = uncomment_settings(render_config(source, agency, registry=INSTALLED))
    config = write_and_load(tmp_path, text, INSTALLED)
    assert config.pipeline(None).source.type_name == source


def test_uncommenting_helper_leaves_prose_and_empty_keys() -> None:
    text = "# Some prose = words here.\n# key =\n# page_size = 5\n# [a.b]\n"
    assert uncomment_settings(text) == "# Some prose = words here.\n# key =\npage_size = 5\n[a.b]\n"


def test_nested_settings_become_a_commented_table_after_the_keys() -> None:
    text = render_config("files", "sandbox", registry=INSTALLED)
    block = text[text.index("[agencies.sandbox]") : text.index("[pipelines.main]")]
    assert "# [agencies.sandbox.http]" in block
    assert block.index("# batch_size") < block.index("# [agencies.sandbox.http]")
    assert "# client_cert =\n" in block
    assert "None" not in block


# --- through the CLI ------------------------------------------------------------------------


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_init_then_check_reaches_the_network(
    tmp_path: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "claimbridge.toml"
    runner = CliRunner()
    result = runner.invoke(cli, ["init", "--source", "tripletex", "-o", str(config)])
    assert result.exit_code == 0, result.output
    text = config.read_text(encoding="utf-8")
    # the TOML edit: point the commented-out base_url at a dead loopback port, fail fast
    edited, count = re.subn(
        r"^# base_url = .*$",
        f'base_url = "http://127.0.0.1:{closed_port}/v2"',
        text,
        count=1,
        flags=re.MULTILINE,
    )
    assert count == 1
    edited = edited.replace(f'url = "{PLACEHOLDER_URL}"', f'url = "http://127.0.0.1:{closed_port}"')
    edited += "\n[sources.ledger.http]\nmax_retries = 0\ntimeout_connect = 2\n"
    assert tomllib.loads(edited)["sources"]["ledger"]["base_url"].endswith(f":{closed_port}/v2")
    config.write_text(edited, encoding="utf-8")
    env = dict.fromkeys(required_environment(edited), "dummy-value")
    assert env  # the tokens come from the environment, never from the file
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CLAIMBRIDGE_SANDBOX_TOKEN", "dummy-value")
    result = runner.invoke(cli, ["--config", str(config), "--json", "check"])
    assert result.exit_code in (AuthError.exit_code, UnreachableError.exit_code), result.output
    assert result.exit_code != ConfigError.exit_code
    report = json.loads(result.stdout)
    [ledger] = [c for c in report["connectors"] if c["name"] == "ledger"]
    failed = [c["kind"] for c in ledger["checks"] if not c["ok"]]
    assert failed == ["reachability"]
    assert "dummy-value" not in result.output
    assert "agency.example" not in edited  # nothing in the test leaves the machine
