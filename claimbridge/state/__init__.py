"""The state store: SQLAlchemy Core over SQLite (default) or PostgreSQL, migrated by Alembic."""

from __future__ import annotations

from claimbridge.state.lease import Lease
from claimbridge.state.staging import DebtorFacts, StagedClaim
from claimbridge.state.store import OutboxItem, StateStore

__all__ = ["DebtorFacts", "Lease", "OutboxItem", "StagedClaim", "StateStore"]
