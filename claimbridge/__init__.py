"""claimbridge: overdue receivables from accounting systems to collection agencies and back.

The library surface is small: run a pipeline (:func:`sync` with a :class:`PipelineSpec`, or
:func:`load_config` + :func:`pipeline_spec`), the state store, the canonical models and the
errors. Everything else is internal and free to change. Names load on first use, so
``import claimbridge`` stays cheap for the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "sync": "claimbridge.pipeline",
    "PipelineSpec": "claimbridge.pipeline",
    "SyncStats": "claimbridge.pipeline",
    "pipeline_spec": "claimbridge.build",
    "load_config": "claimbridge.config",
    "StateStore": "claimbridge.state",
    "PolicySettings": "claimbridge.policy",
    "Case": "claimbridge.schemas",
    "Claim": "claimbridge.schemas",
    "CreditNote": "claimbridge.schemas",
    "Creditor": "claimbridge.schemas",
    "Party": "claimbridge.schemas",
    "Payment": "claimbridge.schemas",
    "Settlement": "claimbridge.schemas",
    "ClaimbridgeError": "claimbridge.errors",
    "ConfigError": "claimbridge.errors",
    "ConnectorError": "claimbridge.errors",
    "DataError": "claimbridge.errors",
    "LeaseHeldError": "claimbridge.errors",
}

__all__ = [
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'claimbridge' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from claimbridge.build import pipeline_spec
    from claimbridge.config import load_config
    from claimbridge.errors import (
        ClaimbridgeError,
        ConfigError,
        ConnectorError,
        DataError,
        LeaseHeldError,
    )
    from claimbridge.pipeline import PipelineSpec, SyncStats, sync
    from claimbridge.policy import PolicySettings
    from claimbridge.schemas import (
        Case,
        Claim,
        CreditNote,
        Creditor,
        Party,
        Payment,
        Settlement,
    )
    from claimbridge.state import StateStore
