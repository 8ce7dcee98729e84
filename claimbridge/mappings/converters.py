"""Named value converters that mapping files chain together (``convert = ["strip", "date"]``).

A converter takes one present value (never ``None`` or blank text: the engine handles missing
values before and after the chain) and returns the converted value, or raises
:class:`ConversionError` with a short reason. Reasons echo the value only for dates and amounts,
and then truncated: free text may be personal data.

Converters live in a registry so a connector can add its own with :func:`register_converter`.
A converter that takes an argument (``"date:%d.%m.%Y"``, ``"split:,"``) is registered as a
factory: it receives the argument text once, when the mapping is compiled, and returns the
converter.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import pycountry

__all__ = [
    "ConversionError",
    "Converter",
    "ConverterFactory",
    "build_converter",
    "converter_names",
    "register_converter",
]

Converter = Callable[[Any], Any]
ConverterFactory = Callable[[str | None], Converter]

MAX_NUMBER_LENGTH = 64  # longer "numbers" are rejected before any parsing


class ConversionError(ValueError):
    """A value could not be converted. ``reason`` is safe to log: it never holds free text.

    A ``ValueError`` so converters can also serve as pydantic validators; the mapping engine
    turns it into a ``RecordError`` reason naming the field.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _show(value: object, limit: int = 24) -> str:
    """A short, quoted rendering of an amount for an error reason (never of a date or text,
    which may be personal data)."""
    text = str(value)
    text = text if len(text) <= limit else text[:limit] + "…"
    # Unprintable characters would come out as long escapes (and are no use in a log line).
    return repr("".join(c if c.isprintable() else "?" for c in text))


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    raise ConversionError(f"expected text for {what}, got {type(value).__name__}")


# --- dates --------------------------------------------------------------------------------

_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_from_iso = dt.date.fromisoformat


def _to_date(value: Any) -> dt.date:
    """ISO ``2026-03-31``, Nordic ``31.03.2026`` or compact ``20260331``; nothing else."""
    if type(value) is str and len(value) == 10 and value[4] == "-":
        try:  # the common case first: an unpadded ISO date
            return _from_iso(value)
        except ValueError:
            pass  # the careful path below gives the reason
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value, "a date").strip()
    try:
        if len(text) == 10 and text[4] == "-":
            return dt.date.fromisoformat(text)
        if match := _DOTTED_DATE.fullmatch(text):
            day, month, year = match.groups()
            return dt.date(int(year), int(month), int(day))
        if match := _COMPACT_DATE.fullmatch(text):
            year, month, day = match.groups()
            return dt.date(int(year), int(month), int(day))
    except ValueError:
        pass
    # The value itself is not repeated: a date may be a birth date (personal data).
    raise ConversionError("not a valid date (expected YYYY-MM-DD, DD.MM.YYYY or YYYYMMDD)")


def _date_factory(fmt: str | None) -> Converter:
    if fmt is None:
        return _to_date

    def convert(value: Any) -> dt.date:
        if isinstance(value, dt.date):
            return value.date() if isinstance(value, dt.datetime) else value
        text = _text(value, "a date").strip()
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            raise ConversionError(f"not a valid date (expected {fmt})") from None

    return convert


def _datetime_factory(fmt: str | None) -> Converter:
    def convert(value: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        text = _text(value, "a timestamp").strip()
        try:
            if fmt is None:
                return dt.datetime.fromisoformat(text)
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            raise ConversionError("not a valid timestamp") from None

    return convert


# --- numbers ------------------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_PLAIN_AMOUNT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]{1,2})?").fullmatch
_PLAIN_INTEGER = re.compile(r"[+-]?[0-9]+").fullmatch
_GROUPED = re.compile(r"[+-]?\d+(?:[.,]\d+)*")
_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009'")
_SPACE_GROUPED = re.compile(r"[+-]?\d{1,3}(?:[ \u00a0\u202f\u2009']\d{3})+(?:[.,]\d+)?")


def _grouping_ok(integer_part: str, sep: str) -> bool:
    """``1,234,567`` style: a first group of 1-3 digits, then groups of exactly three."""
    groups = integer_part.lstrip("+-").split(sep)
    return 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


def _parse_decimal(text: str, decimal_sep: str | None) -> Decimal:
    """Accept ``1234.50``, ``1 234,50``, ``1,234.50``, ``1.234,50``; refuse what is ambiguous."""
    if len(text) > MAX_NUMBER_LENGTH:
        raise ConversionError("amount is too long")
    if _PLAIN_NUMBER.fullmatch(text) and decimal_sep != ",":
        if decimal_sep is None and _looks_grouped(text, "."):
            raise ConversionError(f"{_show(text)} is ambiguous: '.' may group thousands")
        return Decimal(text)
    compact = text.strip().translate(_SPACES)
    if len(compact) != len(text.strip()) and not _SPACE_GROUPED.fullmatch(text.strip()):
        raise ConversionError(f"{_show(text)} has misplaced thousands separators")
    if not _GROUPED.fullmatch(compact):
        raise ConversionError(f"{_show(text)} is not a valid amount")
    if decimal_sep is None:
        decimal_sep = _guess_decimal_separator(compact, text)
    group_sep = "." if decimal_sep == "," else ","
    integer_part, _, fraction = compact.rpartition(decimal_sep)
    if decimal_sep not in compact:
        integer_part, fraction = compact, ""
    elif decimal_sep in integer_part or group_sep in fraction:
        raise ConversionError(f"{_show(text)} is not a valid amount")
    if group_sep in integer_part:
        if not _grouping_ok(integer_part, group_sep):
            raise ConversionError(f"{_show(text)} has misplaced thousands separators")
        integer_part = integer_part.replace(group_sep, "")
    number = f"{integer_part}.{fraction}" if fraction else integer_part
    try:
        return Decimal(number)
    except InvalidOperation:  # pragma: no cover - the patterns above admit only numbers
        raise ConversionError(f"{_show(text)} is not a valid amount") from None


def _looks_grouped(text: str, sep: str) -> bool:
    """One separator, 1-3 leading digits (not a lone 0) and exactly three after it."""
    head, _, tail = text.lstrip("+-").partition(sep)
    return len(tail) == 3 and 1 <= len(head) <= 3 and head != "0"


def _guess_decimal_separator(compact: str, shown: str) -> str:
    has_comma, has_dot = "," in compact, "." in compact
    if has_comma and has_dot:
        return "," if compact.rfind(",") > compact.rfind(".") else "."
    sep = "," if has_comma else "."
    if not (has_comma or has_dot):
        return sep
    if compact.count(sep) > 1:
        return "." if sep == "," else ","  # repeated: it groups thousands
    if _looks_grouped(compact, sep):
        raise ConversionError(f"{_show(shown)} is ambiguous: {sep!r} may group thousands")
    return sep


def _decimal_factory(sep: str | None) -> Converter:
    if sep not in (None, ",", "."):
        raise ValueError("decimal separator must be ',' or '.'")

    # Text that is plainly a number whatever the separator setting: digits with at most two
    # decimals after a '.' (never a thousands group), or, with ',' as the separator, digits only.
    plain = _PLAIN_INTEGER if sep == "," else _PLAIN_AMOUNT

    def convert(value: Any) -> Decimal:
        if type(value) is str and len(value) <= MAX_NUMBER_LENGTH and plain(value):
            return Decimal(value)
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ConversionError("amount must be a finite number")
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise ConversionError("amount must be a finite number")
            return Decimal(repr(value))
        return _parse_decimal(_text(value, "an amount").strip(), sep)

    return convert


_INTEGER = re.compile(r"[+-]?\d+")


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    text = _text(value, "a whole number").strip()
    if len(text) > MAX_NUMBER_LENGTH or not _INTEGER.fullmatch(text):
        raise ConversionError(f"{_show(text)} is not a whole number")
    return int(text)


def _minor_units(value: Any) -> Decimal:
    """Øre/cents as a whole number → major units with two decimals (12345 → 123.45)."""
    try:
        return Decimal(_to_int(value)).scaleb(-2)
    except ConversionError:
        raise ConversionError(f"{_show(value)} is not a whole number of minor units") from None


# --- flags, text, codes -------------------------------------------------------------------

_TRUE = frozenset({"true", "yes", "ja", "j", "y", "1", "x", "t"})
_FALSE = frozenset({"false", "no", "nei", "n", "0", "f", "-"})


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = _text(value, "a yes/no flag").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConversionError("invalid yes/no flag (use true/false, yes/no, ja/nei, 1/0 or x)")


def _upper(value: Any) -> str:
    return _text(value, "text").upper()


def _lower(value: Any) -> str:
    return _text(value, "text").lower()


def _strip(value: Any) -> str:
    return _text(value, "text").strip()


def _empty_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _digits(value: Any) -> str:
    return "".join(ch for ch in _text(value, "text") if ch.isascii() and ch.isdigit())


def _split_factory(sep: str | None) -> Converter:
    separator = sep or ";"

    def convert(value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            return [str(part).strip() for part in value if str(part).strip()]
        return [part.strip() for part in _text(value, "a list").split(separator) if part.strip()]

    return convert


# Common local names pycountry does not know (it holds English names and codes).
_LOCAL_COUNTRY_NAMES = {
    "norge": "NO",
    "noreg": "NO",
    "sverige": "SE",
    "danmark": "DK",
    "suomi": "FI",
    "tyskland": "DE",
    "storbritannia": "GB",
    "england": "GB",
    "nederland": "NL",
    "island": "IS",
    "usa": "US",
}


@lru_cache(maxsize=512)
def _lookup_country(text: str) -> str | None:
    local = _LOCAL_COUNTRY_NAMES.get(text.lower())
    if local:
        return local
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        return None


def _country(value: Any) -> str:
    text = _text(value, "a country").strip()
    code = _lookup_country(text) if len(text) <= 64 else None
    if code is None:
        raise ConversionError("invalid country (use an ISO 3166 code or English name)")
    return code


# --- registry -----------------------------------------------------------------------------


def _plain(converter: Converter) -> ConverterFactory:
    def factory(argument: str | None) -> Converter:
        if argument is not None:
            raise ValueError("takes no argument")
        return converter

    return factory


_REGISTRY: dict[str, ConverterFactory] = {
    "date": _date_factory,
    "datetime": _datetime_factory,
    "decimal": _decimal_factory,
    "split": _split_factory,
    "minor_units": _plain(_minor_units),
    "int": _plain(_to_int),
    "bool": _plain(_to_bool),
    "upper": _plain(_upper),
    "lower": _plain(_lower),
    "strip": _plain(_strip),
    "phone_raw": _plain(_strip),
    "empty_to_none": _plain(_empty_to_none),
    "country": _plain(_country),
    "digits": _plain(_digits),
}


def register_converter(name: str, fn: Converter, *, takes_argument: bool = False) -> None:
    """Add a converter. With ``takes_argument``, ``fn`` is a factory: ``fn(arg) -> converter``.

    Registering an existing name replaces it, so a connector can refine a built-in.
    """
    if not name.isidentifier():
        raise ValueError(f"converter name {name!r} must be an identifier")
    _REGISTRY[name] = fn if takes_argument else _plain(fn)


def converter_names() -> list[str]:
    return sorted(_REGISTRY)


def build_converter(spec: str) -> Converter:
    """``"date"`` or ``"date:%d.%m.%Y"`` → the converter. ``KeyError``/``ValueError`` if bad."""
    name, colon, argument = spec.partition(":")
    factory = _REGISTRY.get(name.strip())
    if factory is None:
        raise KeyError(name)
    return factory(argument if colon else None)
