"""The size guard API sources run on a vendor record before mapping it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from claimbridge.connectors.accounting._records import oversized_reasons


def test_long_text_and_deep_nesting_are_named_by_path() -> None:
    record = {"name": "x" * 11, "lines": [{"text": "ok"}, {"text": "y" * 11}]}
    assert oversized_reasons(record, max_text=10, max_depth=5) == [
        "name: text longer than 10 characters",
        "lines[1].text: text longer than 10 characters",
    ]
    deep: object = "leaf"
    for _ in range(10):
        deep = {"a": deep}
    assert oversized_reasons(deep, max_text=10, max_depth=5) == ["a.a.a.a.a.a: nested too deeply"]


def test_at_most_five_reasons_whatever_the_record() -> None:
    record = {str(i): "z" * 20 for i in range(100)}
    assert len(oversized_reasons(record, max_text=10, max_depth=5)) == 5


@given(st.recursive(st.text(max_size=30), lambda c: st.lists(c) | st.dictionaries(st.text(), c)))
def test_never_raises(value: object) -> None:
    reasons = oversized_reasons(value, max_text=20, max_depth=4)
    assert len(reasons) <= 5
