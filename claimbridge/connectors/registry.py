"""The connector registry: entry points in three groups, loaded once, failures kept.

Built-in connectors are registered exactly like third-party ones, so a plugin that fails to
import (a missing dependency, a typo in its entry point) must not take the program down: it is
listed in ``Registry.failures`` with the reason, and ``claimbridge plugins`` shows it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Literal

from claimbridge.connectors.base import Agency, Connector, ConnectorSettings, PaymentFeed, Source
from claimbridge.errors import ConfigError

__all__ = [
    "GROUPS",
    "Kind",
    "PluginFailure",
    "Registry",
    "load_registry",
]

Kind = Literal["source", "agency", "payment_feed"]

GROUPS: dict[Kind, str] = {
    "source": "claimbridge.sources",
    "agency": "claimbridge.agencies",
    "payment_feed": "claimbridge.payment_feeds",
}
BASES: dict[Kind, type] = {
    "source": Source,
    "agency": Agency,
    "payment_feed": PaymentFeed,
}
_LABELS: dict[Kind, str] = {"source": "source", "agency": "agency", "payment_feed": "payment feed"}


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """A plugin that could not be used, and why (shown by ``claimbridge plugins``)."""

    group: str
    name: str
    target: str  # the entry point's value, ``package.module:Class``
    reason: str


@dataclass(slots=True)
class Registry:
    """Connector classes by kind and type name. Tests build one by hand."""

    sources: dict[str, type[Source]] = field(default_factory=dict)
    agencies: dict[str, type[Agency]] = field(default_factory=dict)
    payment_feeds: dict[str, type[PaymentFeed]] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def of_kind(self, kind: Kind) -> dict[str, type[Connector]]:
        """The name → class table for one kind."""
        tables: dict[Kind, dict[str, type[Connector]]] = {
            "source": dict(self.sources),
            "agency": dict(self.agencies),
            "payment_feed": dict(self.payment_feeds),
        }
        return tables[kind]

    def get(self, kind: Kind, name: str) -> type[Connector]:
        """The class registered as ``name``; a ``ConfigError`` that lists what is installed."""
        found = self.of_kind(kind).get(name)
        if found is not None:
            return found
        raise ConfigError(self.unknown_message(kind, name))

    def unknown_message(self, kind: Kind, name: str) -> str:
        label = _LABELS[kind]
        for failure in self.failures:
            if failure.group == GROUPS[kind] and failure.name == name:
                return f"{label} type {name!r} is installed but failed to load: {failure.reason}"
        installed = ", ".join(sorted(self.of_kind(kind))) or "none"
        return f"unknown {label} type {name!r} (installed: {installed})"

    def add(self, kind: Kind, name: str, cls: object, *, target: str = "") -> bool:
        """Register ``cls`` as ``name`` if it is a usable connector; else record a failure."""
        group = GROUPS[kind]
        reason = _unusable(kind, cls)
        if reason is None and name in self.of_kind(kind):
            reason = "another plugin already registered this name"
        if reason is not None:
            self.failures.append(PluginFailure(group, name, target or repr(cls), reason))
            return False
        table: dict[str, type[Connector]] = getattr(self, _ATTRS[kind])
        table[name] = cls  # type: ignore[assignment]  # checked by _unusable
        return True


_ATTRS: dict[Kind, str] = {
    "source": "sources",
    "agency": "agencies",
    "payment_feed": "payment_feeds",
}


def _unusable(kind: Kind, cls: object) -> str | None:
    """Why ``cls`` cannot serve as a connector of ``kind``, or None when it can."""
    base = BASES[kind]
    if not (isinstance(cls, type) and issubclass(cls, base)):
        return f"not a subclass of {base.__module__}.{base.__qualname__}"
    settings = getattr(cls, "Settings", None)
    if not (isinstance(settings, type) and issubclass(settings, ConnectorSettings)):
        return "has no Settings model (a ConnectorSettings subclass)"
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        return f"is abstract (does not implement: {missing})"
    return None


def _load_entry_point(registry: Registry, kind: Kind, ep: EntryPoint) -> None:
    try:
        loaded = ep.load()
    except Exception as exc:  # any import-time failure of third-party code
        registry.failures.append(
            PluginFailure(GROUPS[kind], ep.name, ep.value, f"{type(exc).__name__}: {exc}")
        )
        return
    registry.add(kind, ep.name, loaded, target=ep.value)


def discover() -> Registry:
    """A fresh registry from the installed entry points (uncached)."""
    registry = Registry()
    for kind, group in GROUPS.items():
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            _load_entry_point(registry, kind, ep)
    return registry


@cache
def load_registry() -> Registry:
    """The registry of installed connectors, loaded once per process."""
    return discover()
