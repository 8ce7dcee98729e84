"""Reconciliation: money, status and corrections flow back (see docs/reconciliation.md).

:func:`reconcile` runs one pipeline's reconciliation; the modules are its steps:
``lifecycle`` (the case state machine), ``updates`` (agency updates into the store),
``booking`` (settlement lines into the ledger), ``payments`` (ledger payments, credit notes and
bank feeds into the store), ``corrections`` (direct payments and credit notes to the agency),
``runner`` (the order of the steps).
"""

from __future__ import annotations

from claimbridge.reconcile.context import ReconcileSpec, ReconcileStats
from claimbridge.reconcile.runner import reconcile
from claimbridge.reconcile.settings import ReconcileSettings

__all__ = ["ReconcileSettings", "ReconcileSpec", "ReconcileStats", "reconcile"]
