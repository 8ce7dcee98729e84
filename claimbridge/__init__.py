"""claimbridge: overdue receivables from accounting systems to collection agencies and back."""

from __future__ import annotations

__version__ = "0.1.0"
