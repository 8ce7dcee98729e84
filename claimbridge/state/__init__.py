"""The state store: SQLAlchemy Core over SQLite (default) or PostgreSQL, migrated by Alembic."""

from __future__ import annotations

from claimbridge.state.lease import Lease
from claimbridge.state.store import DebtorFacts, OutboxItem, StagedClaim, StateStore

__all__ = ["DebtorFacts", "Lease", "OutboxItem", "StagedClaim", "StateStore"]
