"""``claimbridge`` that kills itself with SIGKILL at a chosen point of a reconcile run.

Test code, never shipped: ``CB_CRASH_AT=<point>:<n>`` wraps one function of the real code so
that the process dies (no cleanup, no finally, no atexit) right after (or, for ``mark`` and
``finish``, right before) the n-th call. The rest is the real command line, run as
``python tests/e2e/crashing_cli.py <claimbridge arguments>``.

Points, in the order a run meets them:

- ``updates``: after the n-th chunk of agency updates was committed with its cursor
- ``mark``: settlement lines marked ``booking``, before the n-th line reaches the ledger
- ``journal``: the n-th booking is in the ledger (journal fsynced), the state store not told
- ``finish``: a line's ledger ids are committed, before the line is marked booked
- ``report``: corrections are in the outbox, nothing delivered
- ``correct``: the agency took the corrections, their outcome never recorded
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _after(func: Callable[..., Any], nth: int) -> Callable[..., Any]:
    calls = 0

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = func(*args, **kwargs)
        calls += 1
        if calls == nth:
            _die()
        return result

    return wrapper


def _before(func: Callable[..., Any], nth: int) -> Callable[..., Any]:
    calls = 0

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == nth:
            _die()
        return func(*args, **kwargs)

    return wrapper


def install(point: str, nth: int) -> None:
    from claimbridge.connectors.accounting import journal
    from claimbridge.connectors.agencies.sandbox import SandboxAgency
    from claimbridge.reconcile import booking, corrections, runner, updates

    updates.UPDATES_CHUNK = 5  # several chunks, so a crash can fall between two
    if point == "updates":
        updates.apply_updates = _after(updates.apply_updates, nth)  # type: ignore[assignment]
    elif point == "mark":
        booking._book = _before(booking._book, nth)  # type: ignore[assignment]
    elif point == "journal":
        journal.BookingsJournal._book = _after(journal.BookingsJournal._book, nth)  # type: ignore[method-assign]
    elif point == "finish":
        booking._finish = _before(booking._finish, nth)  # type: ignore[assignment]
    elif point == "report":
        wrapped = _after(corrections.report_corrections, nth)
        runner.STEPS = tuple(
            (name, needs, wrapped if step is corrections.report_corrections else step)
            for name, needs, step in runner.STEPS
        )
    elif point == "correct":
        SandboxAgency.correct = _after(SandboxAgency.correct, nth)  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown crash point {point!r}")


if __name__ == "__main__":
    point, _, nth = os.environ["CB_CRASH_AT"].partition(":")
    install(point, int(nth or "1"))
    from claimbridge.cli import main

    main(sys.argv[1:])
