"""`claimbridge init`: the rendered starter config is commented, secret-free and loads."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from pydantic import Field, SecretStr

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
from claimbridge.errors import ConfigError
from claimbridge.init_template import env_var_name, render_config, required_environment
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


def test_builtin_combinations_load(tmp_path: Path) -> None:
    registry = load_registry()
    combos = [(s, a) for s in ("files",) for a in ("sandbox", "file_drop")]
    loaded = [(s, a) for s, a in combos if s in registry.sources and a in registry.agencies]
    for source, agency in loaded:
        directory = tmp_path / f"{source}-{agency}"
        directory.mkdir()
        text = render_config(source, agency, registry=registry)
        config = write_and_load(directory, text, registry)
        assert config.pipeline(None).agency.type_name == agency
    broken = {f.name for f in registry.failures}
    assert {name for pair in combos for name in pair} <= (
        set(registry.sources) | set(registry.agencies) | broken
    )
