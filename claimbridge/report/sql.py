"""The SQL pieces the reports are built from, spoken the same way by SQLite and PostgreSQL.

Reports aggregate in the database and bring back only grouped rows, so a store with a million
claims reports in seconds with flat memory. Three things differ between the two databases and
are hidden here:

- **Money sums.** SQLite keeps ``Numeric`` columns as binary floats, so ``SUM`` over many rows
  can drift by cents. Every amount is summed as whole cents (``CAST(ROUND(x * 100))``), which
  is exact on both databases, and turned back into ``Decimal`` by :func:`money`.
- **Days between two dates** (``julianday`` arithmetic on SQLite, ``date - date`` on
  PostgreSQL): :class:`days_between`.
- **Calendar day and month of a date or timestamp** as ``YYYY-MM-DD`` / ``YYYY-MM`` text
  (timestamps in UTC): :class:`day_of`, :class:`month_of`. Comparing those strings is how
  periods are filtered on both databases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    String,
    case,
    cast,
    func,
)
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

__all__ = [
    "DEFAULT_AGE_EDGES",
    "NOT_DUE",
    "AgeBucket",
    "age_buckets",
    "bucket_by_days",
    "bucket_by_due_date",
    "cents",
    "day_of",
    "days_between",
    "money",
    "month_of",
]

CENT = Decimal("0.01")
DEFAULT_AGE_EDGES = (30, 60, 90, 180, 365)
NOT_DUE = "not due"


def cents(amount: ColumnElement[Any]) -> ColumnElement[int]:
    """An amount as whole cents: exact to sum on SQLite, where ``Numeric`` is a float."""
    return cast(func.round(amount * 100), BigInteger)


def money(total_cents: object) -> Decimal:
    """A sum of cents (int on SQLite, Decimal on PostgreSQL, None for no rows) as money."""
    if total_cents is None:
        return Decimal("0.00")
    return Decimal(int(total_cents)).scaleb(-2)  # type: ignore[call-overload]


# --- dialect-specific expressions ---------------------------------------------------------


class days_between(FunctionElement[int]):
    """``later - earlier`` in whole days, for two ``Date`` columns."""

    type = Integer()
    name = "days_between"
    inherit_cache = True


class day_of(FunctionElement[str]):
    """The calendar day of a ``Date`` or ``DateTime`` column as ``YYYY-MM-DD`` (UTC)."""

    type = String()
    name = "day_of"
    inherit_cache = True


class month_of(FunctionElement[str]):
    """The calendar month of a ``Date`` or ``DateTime`` column as ``YYYY-MM`` (UTC)."""

    type = String()
    name = "month_of"
    inherit_cache = True


def _arguments(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _arguments(element, compiler, **kw)
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


@compiles(days_between, "postgresql")
def _days_between_postgresql(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _arguments(element, compiler, **kw)
    return f"({later} - {earlier})"


def _prefix_sqlite(width: int) -> Any:
    def compile_(element: FunctionElement[str], compiler: SQLCompiler, **kw: Any) -> str:
        # SQLite keeps dates as 'YYYY-MM-DD' and timestamps as 'YYYY-MM-DD HH:MM:SS…' (UTC).
        (value,) = _arguments(element, compiler, **kw)
        return f"substr({value}, 1, {width})"

    return compile_


def _to_char_postgresql(pattern: str) -> Any:
    def compile_(element: FunctionElement[str], compiler: SQLCompiler, **kw: Any) -> str:
        (clause,) = element.clauses
        (value,) = _arguments(element, compiler, **kw)
        if isinstance(getattr(clause, "type", None), DateTime):
            value = f"({value} AT TIME ZONE 'UTC')"
        return f"to_char({value}, '{pattern}')"

    return compile_


compiles(day_of, "sqlite")(_prefix_sqlite(10))
compiles(month_of, "sqlite")(_prefix_sqlite(7))
compiles(day_of, "postgresql")(_to_char_postgresql("YYYY-MM-DD"))
compiles(month_of, "postgresql")(_to_char_postgresql("YYYY-MM"))


@compiles(days_between)
@compiles(day_of)
@compiles(month_of)
def _unsupported(element: FunctionElement[Any], compiler: SQLCompiler, **_: Any) -> str:
    raise CompileError(f"reports support SQLite and PostgreSQL, not {compiler.dialect.name}")


# --- age buckets --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgeBucket:
    """Days past due from ``first_day`` to ``last_day`` inclusive (None: open-ended)."""

    label: str
    first_day: int | None
    last_day: int | None


def age_buckets(edges: Sequence[int] = DEFAULT_AGE_EDGES) -> tuple[AgeBucket, ...]:
    """Buckets ``not due``, ``0-30``, ``31-60``, …, ``>365`` from the upper edges given."""
    if not edges:
        raise ValueError("name at least one bucket edge (days past due)")
    if any(edge < 0 for edge in edges) or list(edges) != sorted(set(edges)):
        raise ValueError(f"bucket edges must be increasing whole days ≥ 0, got {list(edges)}")
    buckets = [AgeBucket(NOT_DUE, None, -1)]
    first = 0
    for edge in edges:
        buckets.append(AgeBucket(f"{first}-{edge}", first, edge))
        first = edge + 1
    buckets.append(AgeBucket(f">{edges[-1]}", first, None))
    return tuple(buckets)


def bucket_by_due_date(
    due_date: ColumnElement[dt.date], as_of: dt.date, buckets: Sequence[AgeBucket]
) -> ColumnElement[str]:
    """The bucket label of a claim's age on ``as_of``, as date comparisons (no date maths)."""
    whens: list[tuple[ColumnElement[bool], str]] = [(due_date > as_of, NOT_DUE)]
    for bucket in buckets[1:-1]:
        assert bucket.last_day is not None
        whens.append((due_date >= as_of - dt.timedelta(days=bucket.last_day), bucket.label))
    return case(*whens, else_=buckets[-1].label)


def bucket_by_days(days: ColumnElement[int], buckets: Sequence[AgeBucket]) -> ColumnElement[str]:
    """The bucket label of a number of days past due."""
    whens: list[tuple[ColumnElement[bool], str]] = [(days < 0, NOT_DUE)]
    for bucket in buckets[1:-1]:
        whens.append((days <= bucket.last_day, bucket.label))
    return case(*whens, else_=buckets[-1].label)
