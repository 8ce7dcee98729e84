"""Organization numbers and national identity numbers of the Nordic countries.

One debtor must get one key however the ledger wrote the number (``923 609 016`` or
``923609016``), so every valid number is put in one compact canonical form. Validation and birth
dates come from python-stdnum:

======  ==============================  =====================================  ===============
country organization                    person                                 canonical person
======  ==============================  =====================================  ===============
NO      ``stdnum.no.orgnr``             ``stdnum.no.fodselsnummer`` (+ D-nr)   11 digits
SE      ``stdnum.se.orgnr``             ``stdnum.se.personnummer``             12 digits
DK      ``stdnum.dk.cvr``               ``stdnum.dk.cpr``                      10 digits
FI      ``stdnum.fi.ytunnus``           ``stdnum.fi.hetu``                     ``DDMMYYCZZZQ``
======  ==============================  =====================================  ===============

A Swedish personnummer is written with 12 digits (century included) so that ``880320-0016`` and
``19880320-0016`` are one person; the century of a 10-digit form is the one stdnum derives.
Ledgers also write the forms around the number: Norwegian ``NO 923 609 016 MVA`` (the VAT
form) or ``Org.nr. 923.609.016``, Swedish ``SE556677889901`` (VAT) or ``16556677-8899`` (the
century-style prefix 16 the Swedish tax agency gives organizations). These wrappings are taken
off before the number is checked; the check itself is always python-stdnum's.

An invalid number is kept with its spaces, dots and dashes removed, so the same wrong number
still gives one debtor key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from types import ModuleType

from stdnum.dk import cpr, cvr
from stdnum.exceptions import ValidationError
from stdnum.fi import hetu, ytunnus
from stdnum.no import fodselsnummer, orgnr
from stdnum.se import orgnr as se_orgnr
from stdnum.se import personnummer

from claimbridge.quality._cache import WASH_CACHE

__all__ = ["SUPPORTED_COUNTRIES", "IdKind", "IdResult", "normalize_id"]

_MAX_INPUT = 40


class IdKind(StrEnum):
    ORGANIZATION = "organization"
    PERSON = "person"


@dataclass(frozen=True, slots=True)
class IdResult:
    """A washed id number. ``supported`` is False for a country we have no rules for."""

    number: str
    valid: bool
    country: str
    kind: IdKind
    supported: bool = True
    birth_date: date | None = None
    d_number: bool = False  # Norwegian D-number (first digit raised by 4)


@dataclass(frozen=True, slots=True)
class _Rules:
    module: ModuleType
    canonical: Callable[[str], str]
    birth_date: Callable[[str], date] | None = None


def _se_person(number: str) -> str:
    digits = number.replace("-", "").replace("+", "")
    if len(digits) == 12:
        return digits
    return f"{personnummer.get_birth_date(number).year // 100}{digits}"


_RULES: dict[tuple[str, IdKind], _Rules] = {
    ("NO", IdKind.ORGANIZATION): _Rules(orgnr, orgnr.compact),
    ("NO", IdKind.PERSON): _Rules(
        fodselsnummer, fodselsnummer.compact, fodselsnummer.get_birth_date
    ),
    ("SE", IdKind.ORGANIZATION): _Rules(se_orgnr, se_orgnr.compact),
    ("SE", IdKind.PERSON): _Rules(personnummer, _se_person, personnummer.get_birth_date),
    ("DK", IdKind.ORGANIZATION): _Rules(cvr, cvr.compact),
    ("DK", IdKind.PERSON): _Rules(cpr, cpr.compact, cpr.get_birth_date),
    ("FI", IdKind.ORGANIZATION): _Rules(ytunnus, ytunnus.compact),
    ("FI", IdKind.PERSON): _Rules(hetu, hetu.compact),
}

SUPPORTED_COUNTRIES = frozenset(country for country, _ in _RULES)


def _stripped(text: str) -> str:
    return "".join(c for c in text if c not in ".-" and not c.isspace()).upper()


_LABEL = re.compile(r"^(?:ORG(?:ANISASJONS)?\.?\s*NR\.?|ORGNO|ORG\.?\s*NO\.?)\s*:?\s*", re.I)


def _unwrapped(text: str, country: str, kind: IdKind) -> str:
    """The number without the wrappings ledgers put around it (separators, labels, VAT form)."""
    if kind is IdKind.PERSON:
        # A Swedish '+' and a Finnish century sign carry meaning; Norway's separators do not.
        return _stripped(text) if country == "NO" else text
    compact = _stripped(_LABEL.sub("", text))
    if country == "NO":
        compact = compact.removeprefix("NO").removesuffix("MVA")
    elif country == "SE":
        if len(compact) == 14 and compact.startswith("SE") and compact.endswith("01"):
            compact = compact[2:-2]
        elif len(compact) == 12 and compact.startswith("16"):
            compact = compact[2:]
    return compact if compact.isdigit() else text


@lru_cache(maxsize=WASH_CACHE)
def normalize_id(raw: str, *, country: str, kind: IdKind) -> IdResult:
    """Validate ``raw`` as an id of ``kind`` in ``country``. Never raises."""
    country = country.upper()
    text = raw.strip()
    rules = _RULES.get((country, kind))
    if rules is None:
        return IdResult(_stripped(text), False, country, kind, supported=False)
    if not text or len(text) > _MAX_INPUT:
        return IdResult(_stripped(text), False, country, kind)
    try:
        checked: str = rules.module.validate(_unwrapped(text, country, kind))
        number = rules.canonical(checked)
    except (ValidationError, ValueError):
        return IdResult(_stripped(text), False, country, kind)
    birth: date | None = None
    if rules.birth_date is not None:
        try:
            birth = rules.birth_date(checked)
        except (ValidationError, ValueError):
            birth = None
    d_number = country == "NO" and kind is IdKind.PERSON and number[0] in "4567"
    return IdResult(number, True, country, kind, birth_date=birth, d_number=d_number)
