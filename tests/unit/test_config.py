"""Config loading: interpolation, secret files, two-pass validation, state URL resolution."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, SecretStr

from claimbridge.config import Config, config_from_dict, load_config
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
from claimbridge.connectors.registry import Registry
from claimbridge.errors import ConfigError, SecretError
from claimbridge.logs import get_redactor, redact
from claimbridge.policy import PolicySettings
from claimbridge.secrets import expand, format_path, references

# --- test-local connectors ---------------------------------------------------------------


class LedgerSettings(ConnectorSettings):
    invoices: Path = Field(description="the invoices export")
    page_size: int = 500


class LedgerSource(Source):
    type_name = "ledger_files"
    Settings = LedgerSettings

    def check(self) -> CheckResult:
        return CheckResult(self.type_name, ())

    def streams(self) -> Sequence[StreamSpec]:
        return ()

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        return iter(())

    def normalize(self, stream: StreamSpec, record: RawRecord) -> Sequence[Any]:
        return ()


class OAuth(BaseModel):
    client_id: str
    client_secret: SecretStr


class ApiSettings(ConnectorSettings):
    url: str
    token: SecretStr
    timeout: float = 10.0
    oauth: OAuth | None = None


class ApiAgency(Agency):
    type_name = "api"
    Settings = ApiSettings

    def check(self) -> CheckResult:
        return CheckResult(self.type_name, ())

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        return []


REGISTRY = Registry(sources={"ledger_files": LedgerSource}, agencies={"api": ApiAgency})
ENV = {"API_TOKEN": "tok-4f1c9a7e-secret", "CLIENT_SECRET": "cs-77aa31bd"}


def base_config(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "creditor": {"name": "Demo AS", "organization_number": "923609016", "country": "NO"},
        "sources": {"ledger": {"type": "ledger_files", "invoices": "ledger/invoices.csv"}},
        "agencies": {"agency": {"type": "api", "url": "https://a.test", "token": "${API_TOKEN}"}},
        "pipelines": {"main": {"source": "ledger", "agency": "agency"}},
    }
    data.update(overrides)
    return data


def load(data: dict[str, Any], tmp_path: Path, env: dict[str, str] | None = None) -> Config:
    return config_from_dict(
        data, base_dir=tmp_path, environ=ENV if env is None else env, registry=REGISTRY
    )


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return {p.path: p.message for p in exc.value.problems}


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    get_redactor().clear()
    yield
    get_redactor().clear()


# --- a good config -----------------------------------------------------------------------


def test_valid_config_builds_connectors_and_pipeline(tmp_path: Path) -> None:
    config = load(base_config(), tmp_path)
    pipeline = config.pipeline(None)
    assert pipeline.name == "main"
    assert pipeline.source.cls is LedgerSource
    assert pipeline.source.type_name == "ledger_files"
    assert isinstance(pipeline.source.settings, LedgerSettings)
    assert pipeline.agency.settings.token.get_secret_value() == ENV["API_TOKEN"]  # type: ignore[attr-defined]
    assert isinstance(pipeline.policy, PolicySettings)
    assert config.creditor.organization_number == "923609016"
    assert config.log.format == "text"
    assert config.directory == tmp_path.resolve()
    agency = pipeline.agency.create()
    assert agency.context.name == "agency"
    assert agency.context.workdir == tmp_path.resolve()


def test_load_config_reads_toml_and_resolves_relative_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "claimbridge.toml"
    path.parent.mkdir()
    path.write_text(
        """
[state]
url = "sqlite:///data/state.db"
[creditor]
name = "Demo AS"
organization_number = "923609016"
[log]
format = "json"
level = "DEBUG"
[sources.ledger]
type = "ledger_files"
invoices = "x.csv"
[agencies.agency]
type = "api"
url = "https://a.test"
token = "Bearer ${API_TOKEN}"
[pipelines.main]
source = "ledger"
agency = "agency"
[pipelines.main.policy]
country = "SE"
days_past_due = 20
""",
        encoding="utf-8",
    )
    config = load_config(path, environ=ENV, registry=REGISTRY)
    assert config.path == path
    assert config.state_url == f"sqlite:///{path.parent.resolve()}/data/state.db"
    assert config.log.format == "json"
    assert config.log.level == "debug"
    token = config.agencies["agency"].settings.token  # type: ignore[attr-defined]
    assert token.get_secret_value() == f"Bearer {ENV['API_TOKEN']}"
    policy = config.pipeline("main").policy
    assert (policy.country, policy.days_past_due) == ("SE", 20)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("sqlite://", "sqlite://"),
        ("sqlite:////var/lib/cb.db", "sqlite:////var/lib/cb.db"),
        ("postgresql://u@db/cb", "postgresql+psycopg://u@db/cb"),
        ("postgresql+psycopg://u@db/cb", "postgresql+psycopg://u@db/cb"),
    ],
)
def test_state_urls(tmp_path: Path, url: str, expected: str) -> None:
    assert load(base_config(state={"url": url}), tmp_path).state_url == expected


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "postgresql+psycopg2://h/db"])
def test_unsupported_state_urls(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(base_config(state={"url": url}), tmp_path)
    assert set(problems(exc)) == {"state.url"}


# --- interpolation -----------------------------------------------------------------------


def test_missing_variable_names_variable_and_path(tmp_path: Path) -> None:
    with pytest.raises(SecretError) as exc:
        load(base_config(), tmp_path, env={})
    assert problems(exc) == {
        "agencies.agency.token": "environment variable API_TOKEN is not set",
    }
    assert "agencies.agency.token: environment variable API_TOKEN is not set" in str(exc.value)


def test_escape_and_embedded_references(tmp_path: Path) -> None:
    env = {"A": "alpha", "B": "beta"}
    assert expand("x-${A}-${B}", environ=env, base_dir=tmp_path) == "x-alpha-beta"
    assert expand("$${A} costs $5", environ=env, base_dir=tmp_path) == "${A} costs $5"
    assert expand("$${A}${B}", environ=env, base_dir=tmp_path) == "${A}beta"


@pytest.mark.parametrize("text", ["${", "abc ${A", "${not valid}", "${}", "${file:}"])
def test_malformed_references(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        expand(text, environ={"A": "x"}, base_dir=tmp_path)


def test_interpolation_in_lists_and_nested_tables(tmp_path: Path) -> None:
    data = base_config()
    data["agencies"]["agency"]["oauth"] = {
        "client_id": "cid",
        "client_secret": "${CLIENT_SECRET}",
    }
    config = load(data, tmp_path)
    oauth = config.agencies["agency"].settings.oauth  # type: ignore[attr-defined]
    assert oauth.client_secret.get_secret_value() == ENV["CLIENT_SECRET"]


def test_resolved_values_are_registered_for_redaction(tmp_path: Path) -> None:
    load(base_config(), tmp_path)
    assert redact(f"header: Bearer {ENV['API_TOKEN']}") == "header: Bearer ***"


@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=50))
def test_text_without_references_is_unchanged(text: str) -> None:
    assert expand(text, environ={}, base_dir=Path("/")) == text
    assert references(text) == []


def test_format_path_quotes_unusual_keys() -> None:
    assert format_path(("sources", "a b", "files", 0)) == 'sources."a b".files[0]'


# --- secret files ------------------------------------------------------------------------


def secret_file(tmp_path: Path, mode: int, content: str = "s3cr3t-from-file\n") -> Path:
    path = tmp_path / "secrets" / "token"
    path.parent.mkdir(exist_ok=True)
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_secret_file_private_modes_accepted(tmp_path: Path, mode: int) -> None:
    secret_file(tmp_path, mode)
    data = base_config()
    data["agencies"]["agency"]["token"] = "${file:secrets/token}"  # relative to base_dir
    config = load(data, tmp_path)
    token = config.agencies["agency"].settings.token  # type: ignore[attr-defined]
    assert token.get_secret_value() == "s3cr3t-from-file"  # one trailing newline stripped
    assert redact("s3cr3t-from-file") == "***"


def test_secret_file_strips_only_one_newline(tmp_path: Path) -> None:
    path = secret_file(tmp_path, 0o600, "abcd\n\n")
    assert expand(f"${{file:{path}}}", environ={}, base_dir=tmp_path) == "abcd\n"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_secret_file_readable_by_others_refused(tmp_path: Path, mode: int) -> None:
    path = secret_file(tmp_path, mode)
    data = base_config()
    data["agencies"]["agency"]["token"] = f"${{file:{path}}}"
    with pytest.raises(SecretError) as exc:
        load(data, tmp_path)
    message = problems(exc)["agencies.agency.token"]
    assert str(path) in message
    assert f"{mode:04o}" in message
    assert "s3cr3t" not in str(exc.value)


def test_secret_file_missing(tmp_path: Path) -> None:
    data = base_config()
    data["agencies"]["agency"]["token"] = "${file:nowhere/token}"
    with pytest.raises(SecretError, match="does not exist"):
        load(data, tmp_path)


def test_secret_file_must_be_regular_file(tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)
    with pytest.raises(SecretError, match="not a regular file"):
        expand(f"${{file:{directory}}}", environ={}, base_dir=tmp_path)


def test_secret_file_fifo_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(SecretError, match="not a regular file"):
        expand(f"${{file:{fifo}}}", environ={}, base_dir=tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_secret_file_owned_by_someone_else_refused(tmp_path: Path) -> None:
    path = secret_file(tmp_path, 0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(SecretError, match="not owned by the current user"):
        expand(f"${{file:{path}}}", environ={}, base_dir=tmp_path)


def test_secret_file_symlink_to_private_file_accepted(tmp_path: Path) -> None:
    target = secret_file(tmp_path, 0o400)
    link = tmp_path / "link"
    link.symlink_to(target)
    assert expand("${file:link}", environ={}, base_dir=tmp_path) == "s3cr3t-from-file"


def test_secret_file_huge_refused(tmp_path: Path) -> None:
    path = secret_file(tmp_path, 0o600, "x" * 100_000)
    with pytest.raises(SecretError, match="larger than"):
        expand("${file:" + str(path) + "}", environ={}, base_dir=tmp_path)


def test_literal_secret_refused(tmp_path: Path) -> None:
    data = base_config()
    data["agencies"]["agency"]["token"] = "hunter2-literal"
    data["agencies"]["agency"]["oauth"] = {"client_id": "c", "client_secret": "literal-too"}
    with pytest.raises(ConfigError) as exc:
        load(data, tmp_path)
    found = problems(exc)
    assert set(found) == {"agencies.agency.token", "agencies.agency.oauth.client_secret"}
    assert "${ENV_VAR}" in found["agencies.agency.token"]
    assert "hunter2" not in str(exc.value)


# --- two-pass validation -----------------------------------------------------------------


def test_all_errors_from_both_passes_at_once(tmp_path: Path) -> None:
    data = base_config(log={"format": "xml"})
    data["creditor"] = {"name": "Demo AS"}
    data["sources"]["ledger"]["page_size"] = "many"
    data["sources"]["other"] = {"type": "tripletx"}
    data["agencies"]["agency"]["colour"] = "red"
    data["pipelines"]["main"]["policy"] = {"days_past_due": "soon"}
    data["pipelines"]["second"] = {"source": "nope", "agency": "agency", "extra": 1}
    with pytest.raises(ConfigError) as exc:
        load(data, tmp_path)
    found = problems(exc)
    assert found["creditor.organization_number"] == "Field required"
    assert found["log.format"].startswith("Input should be 'text' or 'json'")
    assert found["sources.ledger.page_size"].startswith("Input should be a valid integer")
    assert found["sources.other.type"] == (
        "unknown source type 'tripletx' (installed: ledger_files)"
    )
    assert found["agencies.agency.colour"] == "Extra inputs are not permitted"
    assert found["pipelines.main.policy.days_past_due"].startswith("Input should be a valid")
    assert found["pipelines.second.source"] == "no source named 'nope' (configured: ledger, other)"
    assert found["pipelines.second.extra"] == "Extra inputs are not permitted"
    assert len(found) == 8
    assert "8 problems" in str(exc.value)


def test_missing_type_and_bad_names_are_envelope_errors(tmp_path: Path) -> None:
    data = base_config()
    data["sources"]["no type"] = {"invoices": "x"}
    data["sources"]["typeless"] = {"invoices": "x"}
    with pytest.raises(ConfigError) as exc:
        load(data, tmp_path)
    found = problems(exc)
    assert found['sources."no type"'].startswith("invalid name")
    assert found["sources.typeless.type"] == "Field required"


def test_unknown_top_level_section_and_wrong_shapes(tmp_path: Path) -> None:
    data = base_config(sorces={}, pipelines={"main": "ledger"})
    with pytest.raises(ConfigError) as exc:
        load(data, tmp_path)
    assert set(problems(exc)) == {"sorces", "pipelines.main"}


def test_pipeline_reference_errors(tmp_path: Path) -> None:
    data = base_config()
    data["pipelines"]["main"] = {"source": "ledger", "agency": "agnecy", "payment_feeds": ["bank"]}
    with pytest.raises(ConfigError) as exc:
        load(data, tmp_path)
    assert problems(exc) == {
        "pipelines.main.agency": "no agency named 'agnecy' (configured: agency)",
        "pipelines.main.payment_feeds[0]": "no payment feed named 'bank' (configured: none)",
    }


def test_plugin_that_failed_to_load_is_explained(tmp_path: Path) -> None:
    from claimbridge.connectors.registry import PluginFailure

    registry = Registry(
        sources={"ledger_files": LedgerSource},
        failures=[PluginFailure("claimbridge.agencies", "api", "x:Y", "ImportError: no x")],
    )
    with pytest.raises(ConfigError) as exc:
        config_from_dict(base_config(), base_dir=tmp_path, environ=ENV, registry=registry)
    assert "failed to load: ImportError: no x" in problems(exc)["agencies.agency.type"]


def test_pipeline_selection(tmp_path: Path) -> None:
    data = base_config()
    data["pipelines"]["other"] = {"source": "ledger", "agency": "agency"}
    config = load(data, tmp_path)
    assert config.pipeline("other").name == "other"
    with pytest.raises(ConfigError, match="several pipelines, name one of: main, other"):
        config.pipeline(None)
    with pytest.raises(ConfigError, match="no pipeline 'x'"):
        config.pipeline("x")
    empty = load(base_config(pipelines={}), tmp_path)
    with pytest.raises(ConfigError, match="no pipelines"):
        empty.pipeline(None)


# --- bad files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[state\nurl = 1", "not valid TOML"),
        (b"\xff\xfe[state]", "not UTF-8|not valid TOML"),
        (b"a = 'unterminated", "not valid TOML"),
    ],
)
def test_malformed_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=expected):
        load_config(path, environ=ENV, registry=REGISTRY)


def test_missing_and_huge_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", registry=REGISTRY)
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, registry=REGISTRY)
    huge = tmp_path / "huge.toml"
    huge.write_text("# x\n" * 300_000, encoding="utf-8")
    with pytest.raises(ConfigError, match="larger than"):
        load_config(huge, registry=REGISTRY)


def test_environ_defaults_to_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "from-os-environ")
    config = config_from_dict(base_config(), base_dir=tmp_path, registry=REGISTRY)
    token = config.agencies["agency"].settings.token  # type: ignore[attr-defined]
    assert token.get_secret_value() == "from-os-environ"
