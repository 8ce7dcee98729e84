"""Phone numbers: E.164 and mobile/fixed, from the forms people actually type.

Ledgers hold numbers as typed: ``912 34 567``, ``+47 912 34 567``, ``0047 91234567``, Swedish
``070-123 45 67`` or ``08-123 456 78``. phonenumbers parses them against a default region (the
party's country); its metadata decides validity and type. A number without a ``+`` that is not
valid in the region but becomes valid when read as international (``47 91234567``) is accepted
only when that reading is the single valid one, and the result says so.

The ``(0)`` people copy from international letterheads (``+47 (0)22 12 34 56``) is dropped when
the number is not valid with it. A field holding two numbers (``912 34 567 / 22 12 34 56``) or
a number with words around it (``91234567 (mobil)``) is read with phonenumbers' matcher:
:func:`split_phones` gives every number in the field, so none is silently lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from claimbridge.quality._cache import WASH_CACHE
from claimbridge.schemas.party import PhoneType

__all__ = ["PhoneResult", "normalize_phone", "split_phones"]

_MAX_INPUT = 64  # longer than any phone number plus spacing; refuse before parsing
_MAX_FIELD = 128  # a field with a few numbers and words in it; the matcher is not run beyond
_TRUNK_ZERO = re.compile(r"\(\s*0\s*\)")
_NOT_ONE_NUMBER = re.compile(r"[^\d\s+\-.()]")  # a letter or separator: maybe words or two numbers
_WITHOUT_PLUS = phonenumbers.CountryCodeSource.FROM_NUMBER_WITHOUT_PLUS_SIGN
_TYPES = {
    PhoneNumberType.MOBILE: PhoneType.MOBILE,
    PhoneNumberType.FIXED_LINE: PhoneType.FIXED,
}


@dataclass(frozen=True, slots=True)
class PhoneResult:
    """What washing learned about one number. ``number`` is E.164 when valid, else as given."""

    number: str
    type: PhoneType
    valid: bool
    assumed_country_code: bool = False  # '47 912…' read as '+47 912…'


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(text, region, keep_raw_input=True)
    except NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


def _result(parsed: phonenumbers.PhoneNumber, *, assumed: bool = False) -> PhoneResult:
    assumed = assumed or parsed.country_code_source == _WITHOUT_PLUS
    kind = _TYPES.get(phonenumbers.number_type(parsed), PhoneType.UNKNOWN)
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    return PhoneResult(e164, kind, True, assumed)


@lru_cache(maxsize=WASH_CACHE)
def normalize_phone(raw: str, *, region: str = "NO") -> PhoneResult:
    """Normalize ``raw`` to E.164, reading national forms in ``region`` (ISO 3166 alpha-2).

    Never raises: an unusable number comes back as given (stripped) with ``valid=False``.
    """
    text = raw.strip()
    region = region.upper()
    if not text or len(text) > _MAX_INPUT:
        return PhoneResult(text, PhoneType.UNKNOWN, False)
    parsed = _parse(text, region)
    if parsed is None and "(" in text:
        parsed = _parse(_TRUNK_ZERO.sub(" ", text), region)
    if parsed is not None:
        return _result(parsed)
    if text[0].isdigit() and not text.startswith("0"):
        international = _parse("+" + text, region)
        if international is not None:
            return _result(international, assumed=True)
    return PhoneResult(text, PhoneType.UNKNOWN, False)


@lru_cache(maxsize=WASH_CACHE)
def split_phones(raw: str, *, region: str = "NO") -> tuple[PhoneResult, ...]:
    """Every number in ``raw``: one result for a plain number, several for a shared field.

    Plain input (digits, spaces, ``+-.()``) is one number and costs no more than
    :func:`normalize_phone`. Otherwise phonenumbers' matcher looks for valid numbers in the
    text; two or more come back separately, a single one is used when the whole field is not
    a valid number on its own. Never raises.
    """
    whole = normalize_phone(raw, region=region)
    text = raw.strip()
    if not _NOT_ONE_NUMBER.search(text) or len(text) > _MAX_FIELD:
        return (whole,)
    found = tuple(
        _result(match.number)
        for match in phonenumbers.PhoneNumberMatcher(
            text, region.upper(), leniency=phonenumbers.Leniency.VALID
        )
    )
    if len(found) > 1 or (found and not whole.valid):
        return found
    return (whole,)
