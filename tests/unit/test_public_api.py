"""The package's public surface is a decision: this test pins it."""

from __future__ import annotations

import importlib

import pytest

import claimbridge

PUBLIC = [
    "Case",
    "Claim",
    "ClaimbridgeError",
    "ConfigError",
    "ConnectorError",
    "CreditNote",
    "Creditor",
    "DataError",
    "LeaseHeldError",
    "Party",
    "Payment",
    "PipelineSpec",
    "PolicySettings",
    "Settlement",
    "StateStore",
    "SyncStats",
    "__version__",
    "load_config",
    "pipeline_spec",
    "sync",
]


def test_all_is_pinned() -> None:
    assert claimbridge.__all__ == PUBLIC


@pytest.mark.parametrize("name", [n for n in PUBLIC if n != "__version__"])
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(claimbridge, name)
    assert value is not None
    assert value is getattr(importlib.import_module(value.__module__), value.__name__)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = claimbridge.nope  # type: ignore[attr-defined]


def test_error_tree_exit_codes_are_distinct_where_documented() -> None:
    from claimbridge import errors

    assert errors.ConfigError.exit_code == 3
    assert errors.LeaseHeldError.exit_code == 11
    assert errors.PolicyError.exit_code == 12
    assert errors.UnreachableError.retryable is True
    assert errors.ParseError("x").retryable is False
