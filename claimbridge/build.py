"""Turn a validated config into live objects: the state store, connectors, pipeline specs."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from claimbridge.connectors.base import Agency, Connector, ConnectorContext, PaymentFeed, Source
from claimbridge.credentials import FileCredentialStore
from claimbridge.errors import ConfigError
from claimbridge.pipeline import PipelineSpec
from claimbridge.quality.registry import RegistryEnricher
from claimbridge.state import StateStore

if TYPE_CHECKING:
    from claimbridge.config import Config, ConnectorConfig
    from claimbridge.reconcile import ReconcileSpec


CREDENTIALS_DIR = ".claimbridge-credentials"  # beside the config file, mode 0700


def open_store(config: Config) -> StateStore:
    return StateStore.open(config.state_url)


def connector(config: Config, entry: ConnectorConfig, today: dt.date) -> Connector:
    """An instance of a configured connector, working in the config file's directory."""
    context = ConnectorContext(
        name=entry.name,
        workdir=config.directory,
        today=today,
        credentials=FileCredentialStore(config.directory / CREDENTIALS_DIR),
    )
    return entry.cls(entry.settings, context)


def source(config: Config, entry: ConnectorConfig, today: dt.date) -> Source:
    instance = connector(config, entry, today)
    if not isinstance(instance, Source):
        raise ConfigError(f"{entry.name}: type {entry.type_name!r} is not a source")
    return instance


def agency(config: Config, entry: ConnectorConfig, today: dt.date) -> Agency:
    instance = connector(config, entry, today)
    if not isinstance(instance, Agency):
        raise ConfigError(f"{entry.name}: type {entry.type_name!r} is not an agency")
    return instance


def pipeline_spec(config: Config, name: str | None, *, today: dt.date) -> PipelineSpec:
    pipeline = config.pipeline(name)
    source_ = source(config, pipeline.source, today)
    agency_ = agency(config, pipeline.agency, today)
    registry = config.quality.registry
    enricher = None
    if registry is not None and registry.enabled:
        cache = registry.cache_path
        if cache is not None and not cache.is_absolute():
            registry = registry.model_copy(update={"cache_path": config.directory / cache})
        enricher = RegistryEnricher(registry)
    return PipelineSpec(
        name=pipeline.name,
        source=source_,
        agency=agency_,
        creditor=config.creditor,
        policy=pipeline.policy,
        default_country=config.creditor.country,
        enricher=enricher,
    )


def payment_feed(config: Config, entry: ConnectorConfig, today: dt.date) -> PaymentFeed:
    instance = connector(config, entry, today)
    if not isinstance(instance, PaymentFeed):
        raise ConfigError(f"{entry.name}: type {entry.type_name!r} is not a payment feed")
    return instance


def reconcile_spec(config: Config, name: str | None, *, today: dt.date) -> ReconcileSpec:
    """The pipeline's connectors plus its reconcile settings and bank payment feeds."""
    from claimbridge.reconcile import ReconcileSpec

    pipeline = config.pipeline(name)
    spec = pipeline_spec(config, pipeline.name, today=today)
    feeds = tuple((f.name, payment_feed(config, f, today)) for f in pipeline.payment_feeds)
    return ReconcileSpec(spec, settings=pipeline.reconcile, payment_feeds=feeds)
