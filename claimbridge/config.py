"""The TOML config: ``${…}`` references, then validation in two passes.

Pass 1 checks the envelope — ``state``, ``creditor``, ``log``, each connector table's ``type``
and the names pipelines refer to. Pass 2 validates each connector table against the ``Settings``
model of the plugin its ``type`` names, and each pipeline's ``policy`` table against
``PolicySettings``. A third-party connector's settings are thus checked exactly like a
built-in's. Every problem from both passes is collected, with its dotted path in the file, and
raised as one ``ConfigError``, so an admin fixes the file in one go. The file format is
described in ``docs/configuration.md``.
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from claimbridge.connectors.base import Connector, ConnectorContext, ConnectorSettings
from claimbridge.connectors.registry import Kind, Registry, load_registry
from claimbridge.errors import ConfigError, ConfigProblem, SecretError
from claimbridge.logs import redact
from claimbridge.quality.registry import RegistrySettings
from claimbridge.schemas import Creditor
from claimbridge.secrets import (
    ConfigPath,
    Interpolation,
    format_path,
    interpolate,
    is_secret_annotation,
)

if TYPE_CHECKING:
    from claimbridge.policy import PolicySettings
    from claimbridge.reconcile.settings import ReconcileSettings

__all__ = [
    "DEFAULT_STATE_URL",
    "Config",
    "ConnectorConfig",
    "LogSettings",
    "PipelineConfig",
    "StateSettings",
    "config_from_dict",
    "load_config",
    "policy_settings_model",
]

DEFAULT_STATE_URL = "sqlite:///claimbridge.db"
MAX_CONFIG_BYTES = 1024 * 1024
SECTIONS: dict[str, Kind] = {
    "sources": "source",
    "agencies": "agency",
    "payment_feeds": "payment_feed",
}
_WRITE_AS_REFERENCE = (
    "a secret must not be written in the config file: write secrets as ${ENV_VAR} or ${file:…}"
)

_M = TypeVar("_M", bound=BaseModel)

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
"""Source, agency and pipeline names: they appear in logs, state rows and command lines."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogSettings(_Strict):
    """``[log]``: how lines look and how many there are."""

    format: Literal["text", "json"] = Field(
        default="text", description="text for people, json for schedulers"
    )
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class StateSettings(_Strict):
    """``[state]``: where runs, cursors and the outbox are kept."""

    url: str = Field(default=DEFAULT_STATE_URL, description="SQLAlchemy URL of the state store")

    @field_validator("url")
    @classmethod
    def _normalize(cls, value: str, info: ValidationInfo) -> str:
        """Resolve relative SQLite paths against the config's directory, not the cwd.

        A scheduler runs in whatever directory it likes; the state must not move with it.
        """
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL (e.g. sqlite:///claimbridge.db)") from None
        backend = url.get_backend_name()
        if backend == "sqlite":
            database = url.database or ""
            in_memory = database in ("", ":memory:") or database.startswith("file:")
            if not in_memory and not url.query.get("uri"):
                path = Path(database).expanduser()
                base = (info.context or {}).get("config_dir")
                if not path.is_absolute() and base is not None:
                    url = url.set(database=str(Path(base) / path))
                    return url.render_as_string(hide_password=False)
            return value
        if backend == "postgresql":
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")
                return url.render_as_string(hide_password=False)
            if url.get_driver_name() != "psycopg":
                raise ValueError("PostgreSQL is used through psycopg 3: postgresql+psycopg://…")
            return value
        raise ValueError(f"unsupported database {backend!r} (use sqlite or postgresql+psycopg)")


class QualitySettings(_Strict):
    """``[quality]``: enrichment beyond washing. ``[quality.registry]`` turns on
    Brønnøysund lookups (network calls to the public registry, cached)."""

    registry: RegistrySettings | None = None


class _ConnectorEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Annotated[str, StringConstraints(min_length=1)]


class _PipelineEnvelope(_Strict):
    source: str
    agency: str
    payment_feeds: list[str] = []
    policy: dict[str, Any] = {}
    reconcile: dict[str, Any] = {}


class _Envelope(_Strict):
    state: StateSettings = StateSettings()
    creditor: Creditor
    log: LogSettings = LogSettings()
    quality: QualitySettings = QualitySettings()
    sources: dict[Name, _ConnectorEnvelope] = {}
    agencies: dict[Name, _ConnectorEnvelope] = {}
    payment_feeds: dict[Name, _ConnectorEnvelope] = {}
    pipelines: dict[Name, _PipelineEnvelope] = {}


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    """One configured connector: its instance name, plugin class and validated settings."""

    name: str
    kind: Kind
    type_name: str
    cls: type[Connector]
    settings: ConnectorSettings
    directory: Path  # the config's directory: relative paths in settings mean this

    def create(self, context: ConnectorContext | None = None) -> Connector:
        """An instance of the connector, working in the config's directory by default."""
        return self.cls(self.settings, context or ConnectorContext(self.name, self.directory))


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """One path: a source, through a policy, to an agency (plus optional payment feeds)."""

    name: str
    source: ConnectorConfig
    agency: ConnectorConfig
    policy: PolicySettings
    payment_feeds: tuple[ConnectorConfig, ...] = ()
    reconcile: ReconcileSettings = field(default_factory=lambda: reconcile_settings_model()())


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded, fully validated config. Secrets in it are already registered for redaction."""

    path: Path | None
    directory: Path
    state_url: str
    creditor: Creditor
    log: LogSettings
    quality: QualitySettings = field(default_factory=lambda: QualitySettings())
    sources: dict[str, ConnectorConfig] = field(default_factory=dict)
    agencies: dict[str, ConnectorConfig] = field(default_factory=dict)
    payment_feeds: dict[str, ConnectorConfig] = field(default_factory=dict)
    pipelines: dict[str, PipelineConfig] = field(default_factory=dict)

    def pipeline(self, name: str | None = None) -> PipelineConfig:
        """The pipeline called ``name``; with None, the only one there is."""
        names = ", ".join(sorted(self.pipelines)) or "none"
        if name is None:
            if len(self.pipelines) == 1:
                return next(iter(self.pipelines.values()))
            if not self.pipelines:
                raise ConfigError(f"{self._label}: no pipelines are configured")
            raise ConfigError(f"{self._label}: several pipelines, name one of: {names}")
        try:
            return self.pipelines[name]
        except KeyError:
            raise ConfigError(
                f"{self._label}: no pipeline {name!r} (configured: {names})"
            ) from None

    @property
    def _label(self) -> str:
        return str(self.path) if self.path else "config"


def policy_settings_model() -> type[PolicySettings]:
    """``claimbridge.policy.PolicySettings``, imported late: policy builds on this package."""
    from claimbridge.policy import PolicySettings

    return PolicySettings


def reconcile_settings_model() -> type[ReconcileSettings]:
    """``claimbridge.reconcile.settings.ReconcileSettings``, imported late like the policy's."""
    from claimbridge.reconcile.settings import ReconcileSettings

    return ReconcileSettings


def load_config(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    registry: Registry | None = None,
) -> Config:
    """Read, interpolate and validate the config file at ``path``.

    Raises ``ConfigError`` listing every problem (``SecretError`` when a secret could not be
    resolved); relative paths in the file mean the file's own directory.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: config file is larger than {MAX_CONFIG_BYTES} bytes")
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return config_from_dict(
        data,
        base_dir=path.resolve().parent,
        environ=environ,
        registry=registry,
        path=path,
    )


def config_from_dict(
    data: Mapping[str, Any],
    *,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    registry: Registry | None = None,
    path: Path | None = None,
) -> Config:
    """Validate a config given as a dict (as TOML would parse it); see ``load_config``."""
    base_dir = Path(base_dir).resolve()
    interp = interpolate(
        data, environ=os.environ if environ is None else environ, base_dir=base_dir
    )
    check = _Checker(interp, base_dir, registry or load_registry())
    config = check.run(path)
    if config is None:
        label = str(path) if path else "config"
        count = len(check.problems)
        message = f"{label}: {count} problem{'s' if count != 1 else ''} in the configuration"
        secret = any(isinstance(e, SecretError) for e in interp.failed.values())
        raise (SecretError if secret else ConfigError)(message, check.problems)
    return config


class _Checker:
    """One validation of one config tree, collecting problems from both passes."""

    def __init__(
        self,
        interp: Interpolation,
        base_dir: Path,
        registry: Registry,
    ) -> None:
        self.interp = interp
        self.data = interp.data
        self.base_dir = base_dir
        self.registry = registry
        self.context = {"config_dir": base_dir}
        self.problems: list[ConfigProblem] = [
            ConfigProblem(format_path(p), e.message) for p, e in interp.failed.items()
        ]
        self.error_paths: list[ConfigPath] = []  # every validation error, reported or not
        self.bad_envelope: list[ConfigPath] = []

    def run(self, path: Path | None) -> Config | None:
        envelope = self._validate(_Envelope, self.data, ())
        self.bad_envelope = list(self.error_paths)
        connectors = {
            section: self._connectors(section, kind) for section, kind in SECTIONS.items()
        }
        pipelines = self._pipelines(connectors)
        if self.problems or envelope is None:
            return None
        return Config(
            path=path,
            directory=self.base_dir,
            state_url=envelope.state.url,
            creditor=envelope.creditor,
            log=envelope.log,
            quality=envelope.quality,
            sources=connectors["sources"],
            agencies=connectors["agencies"],
            payment_feeds=connectors["payment_feeds"],
            pipelines=pipelines,
        )

    # --- helpers ------------------------------------------------------------------------

    def _validate(self, model: type[_M], raw: Any, prefix: ConfigPath) -> _M | None:
        """``model`` validated from ``raw``, or None with its errors added under ``prefix``."""
        try:
            return model.model_validate(raw, context=self.context)
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False):
                loc = (*prefix, *(p for p in error["loc"] if p != "[key]"))
                self.error_paths.append(loc)
                if any(_is_under(loc, failed) for failed in self.interp.failed):
                    continue  # already reported: the reference could not be resolved
                message = str(error["msg"]).removeprefix("Value error, ")
                if "[key]" in error["loc"]:
                    message = f"invalid name: {message}"
                self.problems.append(ConfigProblem(format_path(loc), redact(message)))
            return None

    def _envelope_ok(self, prefix: ConfigPath) -> bool:
        return not any(_is_under(loc, prefix) for loc in self.bad_envelope)

    def _connectors(self, section: str, kind: Kind) -> dict[str, ConnectorConfig]:
        result: dict[str, ConnectorConfig] = {}
        tables = self.data.get(section)
        if not isinstance(tables, dict):
            return result
        for name, table in tables.items():
            prefix: ConfigPath = (section, name)
            if not isinstance(table, dict) or not self._envelope_ok(prefix):
                continue
            if (*prefix, "type") in self.interp.failed:
                continue  # reported: its reference could not be resolved
            type_name = table["type"]
            try:
                cls = self.registry.get(kind, type_name)
            except ConfigError as exc:
                self.problems.append(ConfigProblem(format_path((*prefix, "type")), exc.message))
                continue
            raw = {k: v for k, v in table.items() if k != "type"}
            for secret_path in _secret_fields(cls.Settings, raw, prefix):
                if secret_path not in self.interp.referenced:
                    self.problems.append(
                        ConfigProblem(format_path(secret_path), _WRITE_AS_REFERENCE)
                    )
            settings = self._validate(cls.Settings, raw, prefix)
            if settings is not None:
                result[name] = ConnectorConfig(name, kind, type_name, cls, settings, self.base_dir)
        return result

    def _pipelines(
        self, connectors: dict[str, dict[str, ConnectorConfig]]
    ) -> dict[str, PipelineConfig]:
        result: dict[str, PipelineConfig] = {}
        tables = self.data.get("pipelines")
        if not isinstance(tables, dict):
            return result
        for name, table in tables.items():
            prefix: ConfigPath = ("pipelines", name)
            if not isinstance(table, dict):
                continue
            refs = self._references(prefix, table)
            policy = None
            if self._envelope_ok((*prefix, "policy")):
                policy = self._validate(
                    policy_settings_model(), table.get("policy", {}), (*prefix, "policy")
                )
            reconcile = None
            if self._envelope_ok((*prefix, "reconcile")):
                reconcile = self._validate(
                    reconcile_settings_model(), table.get("reconcile", {}), (*prefix, "reconcile")
                )
            if refs is None or policy is None or reconcile is None or not self._envelope_ok(prefix):
                continue
            source, agency, feeds = refs
            built = connectors["payment_feeds"]
            if (
                source in connectors["sources"]
                and agency in connectors["agencies"]
                and all(f in built for f in feeds)
            ):
                result[name] = PipelineConfig(
                    name=name,
                    source=connectors["sources"][source],
                    agency=connectors["agencies"][agency],
                    policy=policy,
                    payment_feeds=tuple(built[f] for f in feeds),
                    reconcile=reconcile,
                )
        return result

    def _references(
        self, prefix: ConfigPath, table: dict[str, Any]
    ) -> tuple[str, str, list[str]] | None:
        """Check that a pipeline's source, agency and feeds name configured connectors."""
        ok = True
        wanted: list[tuple[ConfigPath, str, str]] = []
        for key, section in (("source", "sources"), ("agency", "agencies")):
            if isinstance(table.get(key), str):
                wanted.append(((*prefix, key), section, table[key]))
        feeds = table.get("payment_feeds", [])
        if isinstance(feeds, list):
            for i, feed in enumerate(feeds):
                if isinstance(feed, str):
                    wanted.append(((*prefix, "payment_feeds", i), "payment_feeds", feed))
        for loc, section, target in wanted:
            configured = self.data.get(section)
            names = list(configured) if isinstance(configured, dict) else []
            if target not in names:
                ok = False
                label = SECTIONS[section].replace("_", " ")
                listed = ", ".join(sorted(names)) or "none"
                message = f"no {label} named {target!r} (configured: {listed})"
                self.problems.append(ConfigProblem(format_path(loc), message))
        if not ok or not self._envelope_ok(prefix):
            return None
        return table["source"], table["agency"], list(feeds)


def _is_under(path: ConfigPath, prefix: ConfigPath) -> bool:
    return path[: len(prefix)] == prefix


def _nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _nested_models(arg)


def _secret_fields(
    model: type[BaseModel], raw: Mapping[str, Any], prefix: ConfigPath
) -> Iterator[ConfigPath]:
    """Paths in ``raw`` of every value that fills a ``SecretStr``/``SecretBytes`` field."""
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in raw:
            continue
        value, path = raw[key], (*prefix, key)
        if is_secret_annotation(info.annotation):
            if isinstance(value, list):
                yield from ((*path, i) for i in range(len(value)))
            else:
                yield path
            continue
        if isinstance(value, Mapping):
            for nested in _nested_models(info.annotation):
                yield from _secret_fields(nested, value, path)
