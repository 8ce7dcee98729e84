"""Reconciliation: money, status and corrections flow back (see docs/reconciliation.md)."""
