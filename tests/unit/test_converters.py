"""The named converters: accepted forms, refused forms, and no surprises on arbitrary text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimbridge.mappings.converters import (
    ConversionError,
    build_converter,
    converter_names,
    register_converter,
)


def convert(spec: str, value: object) -> object:
    return build_converter(spec)(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-31", dt.date(2026, 3, 31)),
        ("31.03.2026", dt.date(2026, 3, 31)),
        ("1.3.2026", dt.date(2026, 3, 1)),
        ("20260331", dt.date(2026, 3, 31)),
        (" 2026-03-31 ", dt.date(2026, 3, 31)),
    ],
)
def test_date_accepts_iso_nordic_and_compact(text: str, expected: dt.date) -> None:
    assert convert("date", text) == expected


@pytest.mark.parametrize("text", ["31.02.2026", "2026-13-01", "03/31/2026", "2026331", "tomorrow"])
def test_date_refuses_impossible_or_ambiguous(text: str) -> None:
    with pytest.raises(ConversionError, match="not a valid date"):
        convert("date", text)


def test_date_with_explicit_format() -> None:
    assert convert("date:%d/%m/%Y", "05/01/2026") == dt.date(2026, 1, 5)
    with pytest.raises(ConversionError):
        convert("date:%d/%m/%Y", "2026-01-05")


def test_date_reason_truncates_long_values() -> None:
    with pytest.raises(ConversionError) as caught:
        convert("date", "9" * 5000)
    assert len(caught.value.reason) < 80


def test_datetime() -> None:
    assert convert("datetime", "2026-03-31T12:30:00+02:00").hour == 12
    with pytest.raises(ConversionError):
        convert("datetime", "soon")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.50", "1234.50"),
        ("1 234,50", "1234.50"),
        ("1\u00a0234,50", "1234.50"),
        ("1,234.50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1.234.567", "1234567"),
        ("1,234,567.89", "1234567.89"),
        ("-50,5", "-50.5"),
        ("0,125", "0.125"),
        ("0.125", "0.125"),
        ("12,50", "12.50"),
        ("1234", "1234"),
    ],
)
def test_decimal_accepts_unambiguous_forms(text: str, expected: str) -> None:
    assert convert("decimal", text) == Decimal(expected)


@pytest.mark.parametrize("text", ["1,234", "1.234", "-12,345"])
def test_decimal_refuses_ambiguous_values_with_reason(text: str) -> None:
    with pytest.raises(ConversionError, match="ambiguous"):
        convert("decimal", text)


def test_decimal_with_explicit_separator_resolves_ambiguity() -> None:
    assert convert("decimal:,", "1.234") == Decimal("1234")
    assert convert("decimal:,", "1,234") == Decimal("1.234")
    assert convert("decimal:.", "1,234") == Decimal("1234")


@pytest.mark.parametrize(
    "text", ["NaN", "Infinity", "1e5", "12,34,5", "1.2.3,4,5", "abc", "--1", "1 2 3 4", "9" * 100]
)
def test_decimal_refuses_garbage(text: str) -> None:
    with pytest.raises(ConversionError):
        convert("decimal", text)


def test_decimal_passes_numbers_but_not_floats_nan() -> None:
    assert convert("decimal", 12) == Decimal(12)
    assert convert("decimal", Decimal("1.5")) == Decimal("1.5")
    assert convert("decimal", 0.1) == Decimal("0.1")
    with pytest.raises(ConversionError):
        convert("decimal", float("nan"))
    with pytest.raises(ConversionError):
        convert("decimal", True)


def test_minor_units() -> None:
    assert convert("minor_units", "12345") == Decimal("123.45")
    assert convert("minor_units", 5) == Decimal("0.05")
    with pytest.raises(ConversionError):
        convert("minor_units", "12.5")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ja", True), ("Nei", False), ("x", True), ("1", True), ("0", False), ("YES", True)],
)
def test_bool(text: str, expected: bool) -> None:
    assert convert("bool", text) is expected


def test_bool_refuses_without_echoing() -> None:
    with pytest.raises(ConversionError) as caught:
        convert("bool", "secret-value")
    assert "secret-value" not in caught.value.reason


def test_text_converters() -> None:
    assert convert("upper", "nok") == "NOK"
    assert convert("lower", "NB") == "nb"
    assert convert("strip", "  a ") == "a"
    assert convert("phone_raw", " 912 34 567 ") == "912 34 567"
    assert convert("digits", "0001-0001 12") == "0001000112"
    assert convert("empty_to_none", "   ") is None
    assert convert("split", "a; b;;c") == ["a", "b", "c"]
    assert convert("split:,", "a,b") == ["a", "b"]
    assert convert("int", " 42 ") == 42
    with pytest.raises(ConversionError):
        convert("int", "4.2")
    with pytest.raises(ConversionError):
        convert("upper", {"a": 1})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NO", "NO"),
        ("no", "NO"),
        ("Norway", "NO"),
        ("Norge", "NO"),
        ("SWE", "SE"),
        ("Sverige", "SE"),
    ],
)
def test_country(text: str, expected: str) -> None:
    assert convert("country", text) == expected


def test_country_unknown() -> None:
    with pytest.raises(ConversionError, match="invalid country"):
        convert("country", "Atlantis")


def test_unknown_converter_and_bad_argument() -> None:
    with pytest.raises(KeyError):
        build_converter("nope")
    with pytest.raises(ValueError, match="argument"):
        build_converter("upper:x")
    with pytest.raises(ValueError, match="separator"):
        build_converter("decimal:;")


def test_register_converter_plain_and_factory() -> None:
    register_converter("test_reverse", lambda v: str(v)[::-1])
    register_converter(
        "test_pad", lambda arg: lambda v: str(v).rjust(int(arg or 0), "0"), takes_argument=True
    )
    assert convert("test_reverse", "abc") == "cba"
    assert convert("test_pad:5", "42") == "00042"
    assert "test_reverse" in converter_names()
    with pytest.raises(ValueError, match="identifier"):
        register_converter("bad name", str)


SAFE = [
    "date",
    "datetime",
    "decimal",
    "minor_units",
    "int",
    "bool",
    "upper",
    "lower",
    "strip",
    "empty_to_none",
    "country",
    "phone_raw",
    "split",
    "digits",
    "decimal:,",
    "date:%d.%m.%Y",
]


@given(st.text(max_size=200), st.sampled_from(SAFE))
def test_converters_raise_only_conversion_error(text: str, spec: str) -> None:
    """Anything but ConversionError escapes and fails; reasons stay short (no long echoes)."""
    reason = ""
    try:
        convert(spec, text)
    except ConversionError as exc:
        reason = exc.reason
    assert len(reason) < 120


@given(st.dates())
def test_date_round_trips(day: dt.date) -> None:
    assert convert("date", day.isoformat()) == day
    assert convert("date", day.strftime("%d.%m.") + f"{day.year:04d}") == day


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False))
def test_decimal_round_trips_in_every_accepted_form(value: Decimal) -> None:
    plain = f"{value:.2f}"
    assert convert("decimal", plain) == value
    assert convert("decimal", plain.replace(".", ",")) == value
    assert convert("decimal", f"{value:,.2f}") == value
    assert convert("decimal", f"{value:,.2f}".replace(",", " ").replace(".", ",")) == value


class _Text(str):
    """A str subclass: the converters' exact-``str`` fast paths never take it, so it shows what
    the careful parsers say about the same text."""

    __slots__ = ()


def _outcome(spec: str, value: object) -> object:
    try:
        return convert(spec, value)
    except ConversionError as exc:
        return ("refused", exc.reason)


NUMBERISH = st.text(alphabet="0123456789.,+- \u00a0e", max_size=24) | st.from_regex(
    r"\A[+-]?[0-9]{1,70}(\.[0-9]{1,4})?\Z"
)


@pytest.mark.parametrize("spec", ["decimal", "decimal:.", "decimal:,"])
@given(text=NUMBERISH)
def test_decimal_fast_path_agrees_with_the_careful_parser(spec: str, text: str) -> None:
    assert _outcome(spec, text) == _outcome(spec, _Text(text))


DATEISH = st.text(alphabet="0123456789-.W ", max_size=12) | st.dates().map(str)


@given(text=DATEISH)
def test_date_fast_path_agrees_with_the_careful_parser(text: str) -> None:
    assert _outcome("date", text) == _outcome("date", _Text(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1931.32", "1931.32"), ("-5", "-5"), ("+7.5", "7.5"), ("0.05", "0.05")],
)
def test_plain_amounts_take_the_fast_path(text: str, expected: str) -> None:
    assert convert("decimal", text) == Decimal(expected)


def test_over_long_plain_numbers_are_still_refused() -> None:
    with pytest.raises(ConversionError, match="too long"):
        convert("decimal", "1" * 65)
