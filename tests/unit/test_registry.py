"""The connector registry: entry points, failures kept, lookups that explain themselves."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import EntryPoint, distribution
from types import ModuleType
from typing import Any

import pytest

from claimbridge.connectors import registry as registry_module
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
from claimbridge.connectors.registry import GROUPS, PluginFailure, Registry, load_registry
from claimbridge.errors import ConfigError


class GoodSettings(ConnectorSettings):
    path: str = "x"


class GoodSource(Source):
    type_name = "good"
    Settings = GoodSettings

    def check(self) -> CheckResult:
        return CheckResult(self.type_name, ())

    def streams(self) -> Sequence[StreamSpec]:
        return ()

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        return iter(())

    def normalize(self, stream: StreamSpec, record: RawRecord) -> Sequence[Any]:
        return ()


class GoodAgency(Agency):
    type_name = "good_agency"
    Settings = GoodSettings

    def check(self) -> CheckResult:
        return CheckResult(self.type_name, ())

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        return []


class HalfDoneAgency(Agency):  # push() missing: abstract
    type_name = "half"
    Settings = GoodSettings

    def check(self) -> CheckResult:
        return CheckResult(self.type_name, ())


class NoSettingsSource(GoodSource):
    Settings = dict  # type: ignore[assignment]


def test_declared_builtin_entry_points() -> None:
    declared = {(ep.group, ep.name): ep.value for ep in distribution("claimbridge").entry_points}
    assert ("claimbridge.sources", "files") in declared
    assert ("claimbridge.agencies", "sandbox") in declared
    assert ("claimbridge.agencies", "file_drop") in declared


def test_installed_registry_accounts_for_every_entry_point() -> None:
    registry = load_registry()
    assert load_registry() is registry  # cached
    failed = {(f.group, f.name) for f in registry.failures}
    for kind, group in GROUPS.items():
        loaded = registry.of_kind(kind)
        for ep in distribution("claimbridge").entry_points.select(group=group):
            assert ep.name in loaded or (group, ep.name) in failed


def test_add_checks_base_class_settings_and_abstractness() -> None:
    registry = Registry()
    assert registry.add("source", "good", GoodSource)
    assert registry.add("agency", "good_agency", GoodAgency)
    assert not registry.add("source", "wrong_kind", GoodAgency)
    assert not registry.add("agency", "half", HalfDoneAgency)
    assert not registry.add("source", "nosettings", NoSettingsSource)
    assert not registry.add("source", "func", len)
    assert not registry.add("source", "good", GoodSource)  # duplicate name
    reasons = {f.name: f.reason for f in registry.failures}
    assert reasons["wrong_kind"] == "not a subclass of claimbridge.connectors.base.Source"
    assert reasons["half"] == "is abstract (does not implement: push)"
    assert "no Settings model" in reasons["nosettings"]
    assert "not a subclass" in reasons["func"]
    assert "already registered" in reasons["good"]
    assert registry.sources == {"good": GoodSource}
    assert registry.agencies == {"good_agency": GoodAgency}


def test_get_and_unknown_messages() -> None:
    registry = Registry(
        sources={"good": GoodSource, "alpha": GoodSource},
        failures=[PluginFailure("claimbridge.sources", "broken", "m:C", "ImportError: nope")],
    )
    assert registry.get("source", "good") is GoodSource
    with pytest.raises(ConfigError, match=r"unknown source type 'x' \(installed: alpha, good\)"):
        registry.get("source", "x")
    with pytest.raises(ConfigError, match="installed: none"):
        registry.get("payment_feed", "x")
    with pytest.raises(ConfigError, match="'broken' is installed but failed to load: ImportError"):
        registry.get("source", "broken")


@pytest.fixture
def plugin_module() -> Iterator[str]:
    module = ModuleType("cb_test_plugin")
    module.GoodSource = GoodSource  # type: ignore[attr-defined]
    module.NotAConnector = object  # type: ignore[attr-defined]
    sys.modules["cb_test_plugin"] = module
    yield "cb_test_plugin"
    del sys.modules["cb_test_plugin"]


def test_discover_loads_entry_points_and_keeps_failures(
    plugin_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    eps = {
        "claimbridge.sources": [
            EntryPoint("good", f"{plugin_module}:GoodSource", "claimbridge.sources"),
            EntryPoint("missing", "cb_no_such_module_xyz:Thing", "claimbridge.sources"),
            EntryPoint("wrong", f"{plugin_module}:NotAConnector", "claimbridge.sources"),
            EntryPoint("attr", f"{plugin_module}:Absent", "claimbridge.sources"),
        ]
    }

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        return eps.get(group, [])

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)
    registry = registry_module.discover()
    assert registry.sources == {"good": GoodSource}
    failures = {f.name: f for f in registry.failures}
    assert set(failures) == {"missing", "wrong", "attr"}
    assert failures["missing"].reason.startswith("ModuleNotFoundError")
    assert failures["missing"].target == "cb_no_such_module_xyz:Thing"
    assert failures["attr"].reason.startswith("AttributeError")
    assert "not a subclass" in failures["wrong"].reason
