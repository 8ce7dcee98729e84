"""The "changed since" cursor of Fiken, Fortnox and Visma: round trips, and anything that is
not one of ours is a ParseError naming the vendor — never another exception."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimbridge.connectors.accounting import fiken, fortnox, visma
from claimbridge.errors import ParseError

SOURCES: list[tuple[Any, Any, str]] = [
    (fiken, dt.date(2026, 3, 31), "Fiken"),
    (fortnox, dt.datetime(2026, 3, 31, 9, 15), "Fortnox"),
    (visma, dt.datetime(2026, 3, 31, 9, 15, 7, tzinfo=dt.UTC), "Visma"),
]


@pytest.mark.parametrize(("module", "moment", "vendor"), SOURCES)
def test_a_cursor_reads_back_its_moment(module: Any, moment: Any, vendor: str) -> None:
    assert module.parse_cursor(None) is None
    assert module.parse_cursor(module.make_cursor(moment)) == moment
    assert module.make_cursor(moment).startswith('{"v":1,"since":')


@pytest.mark.parametrize(("module", "moment", "vendor"), SOURCES)
@pytest.mark.parametrize(
    "bad",
    [
        "",
        "{}",
        "[]",
        "null",
        '{"v":2,"since":"2026-03-31"}',
        '{"v":1}',
        '{"v":1,"since":"x"}',
        "[" * 100_000,
    ],
)
def test_anything_else_is_a_parse_error(module: Any, moment: Any, vendor: str, bad: str) -> None:
    with pytest.raises(ParseError, match=f"not a {vendor} cursor"):
        module.parse_cursor(bad)


def test_visma_wants_the_offset() -> None:
    with pytest.raises(ParseError):
        visma.parse_cursor('{"v":1,"since":"2026-03-31T09:15:07"}')


@settings(max_examples=80, deadline=None)
@given(text=st.text(max_size=60))
def test_hostile_text_is_a_parse_error_or_a_moment(text: str) -> None:
    parsers: list[Callable[[str], object]] = [m.parse_cursor for m, _, _ in SOURCES]
    for parse in parsers:
        with contextlib.suppress(ParseError):
            parse(text)
