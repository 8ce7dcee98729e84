"""Postal addresses: care-of lines, postal-code formats, countries, unknown/protected states.

Ledgers put everything into address lines: ``c/o Hansen``, ``0150 Oslo``, ``Norge``. Washing
moves each part to its field and writes postal codes the way the country's post does (NO and DK
four digits, SE and FI five, SE as ``123 45``). ``unknown`` and ``protected`` are valid states
of a debtor's address, so they give INFO findings, never errors.

Whether a postal code exists, and in which city, is for a postal register
(:mod:`claimbridge.quality.postal` ships one for NO, SE and DK); a caller may pass any object
with the :class:`PostalRegister` shape. The register's city is reported, never written in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from claimbridge.schemas.party import Address, AddressState
from claimbridge.schemas.quality import QualityFinding, Severity

__all__ = ["AddressWash", "PostalRegister", "normalize_postal_code", "wash_address"]


class PostalRegister(Protocol):
    """A postal register: the city of a postal code, or None if the code does not exist."""

    def covers(self, country: str) -> bool:
        """True if the register holds ``country``'s codes (else none is called unknown)."""
        ...

    def lookup(self, country: str, postal_code: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class AddressWash:
    address: Address
    findings: tuple[QualityFinding, ...]
    usable: bool  # a letter can reach the debtor (protected counts: the agency gets it by law)


_CODE_RULES: dict[str, tuple[int, str]] = {
    "NO": (4, "N"),
    "DK": (4, "DK"),
    "SE": (5, "S"),
    "FI": (5, "FI"),
}
_CARE_OF = re.compile(r"^\s*(?:c/o|co/|v/)[\s:.]*(?P<rest>.*)$", re.IGNORECASE)
_CODE_AND_CITY = re.compile(r"^(?:[A-Z]{1,2}-)?(?P<code>\d{3}\s?\d{1,2})\s+(?P<city>\D.*)$")
_COUNTRY_NAMES: dict[str, str] = {
    "NORGE": "NO",
    "NOREG": "NO",
    "NORWAY": "NO",
    "SVERIGE": "SE",
    "SWEDEN": "SE",
    "DANMARK": "DK",
    "DENMARK": "DK",
    "SUOMI": "FI",
    "FINLAND": "FI",
}


def normalize_postal_code(code: str, country: str) -> str | None:
    """``code`` in its country's written form, or None if it does not fit the format.

    For a country without rules the code comes back stripped, unchanged.
    """
    rule = _CODE_RULES.get(country)
    text = code.strip().upper()
    if rule is None:
        return text or None
    length, prefix = rule
    for p in (f"{country}-", f"{prefix}-"):
        if text.startswith(p):
            text = text[len(p) :]
    digits = text.replace(" ", "")
    if len(digits) != length or not (digits.isascii() and digits.isdigit()):
        return None
    return f"{digits[:3]} {digits[3:]}" if country == "SE" else digits


def _finding(
    path: str, code: str, severity: Severity, message: str, **values: str | None
) -> QualityFinding:
    return QualityFinding(field=path, code=code, severity=severity, message=message, **values)


def wash_address(
    address: Address,
    *,
    path: str,
    default_country: str,
    register: PostalRegister | None = None,
) -> AddressWash:
    """Wash one address; ``path`` (``addresses[0]``) names it in findings."""
    if address.state is AddressState.UNKNOWN:
        info = _finding(path, "address.unknown", Severity.INFO, "the debtor's address is unknown")
        return AddressWash(address, (info,), usable=False)
    if address.state is AddressState.PROTECTED:
        info = _finding(
            path,
            "address.protected",
            Severity.INFO,
            "the address is protected; sent only where needed",
        )
        return AddressWash(address, (info,), usable=True)

    findings: list[QualityFinding] = []
    lines = list(address.lines)
    care_of, postal_code, city, country = (
        address.care_of,
        address.postal_code,
        address.city,
        address.country,
    )
    # A line is moved out only when something else keeps the address a known one.
    if (
        lines[-1:]
        and lines[-1].strip().upper() in _COUNTRY_NAMES
        and (lines[1:] or postal_code or city)
    ):
        named = _COUNTRY_NAMES[lines.pop().strip().upper()]
        if country is None:
            country = named
        findings.append(
            _finding(
                f"{path}.lines",
                "address.country_line",
                Severity.INFO,
                "country line moved to the country field",
            )
        )
    if country is None:
        country = default_country
        findings.append(
            _finding(
                f"{path}.country",
                "address.country_assumed",
                Severity.INFO,
                f"no country given; assumed {country}",
            )
        )
    if care_of is None:
        for i, line in enumerate(lines):
            match = _CARE_OF.match(line)
            if match and match["rest"] and (lines[1:] or postal_code or city):
                care_of = match["rest"].strip()
                del lines[i]
                findings.append(
                    _finding(
                        f"{path}.lines[{i}]",
                        "address.care_of_moved",
                        Severity.INFO,
                        "care-of line moved to the care-of field",
                    )
                )
                break
    if postal_code is None and city is None and lines:
        match = _CODE_AND_CITY.match(lines[-1].strip())
        if match and normalize_postal_code(match["code"], country) is not None:
            lines.pop()
            postal_code, city = match["code"], match["city"].strip()
            findings.append(
                _finding(
                    f"{path}.lines",
                    "address.postal_line_split",
                    Severity.INFO,
                    "postal code and city taken from the last address line",
                )
            )

    usable = bool(lines or care_of) and bool(postal_code or city)
    if postal_code is not None:
        written = normalize_postal_code(postal_code, country)
        if written is None:
            usable = False
            findings.append(
                _finding(
                    f"{path}.postal_code",
                    "address.postal_code_invalid",
                    Severity.ERROR,
                    f"postal code does not fit the format used in {country}",
                )
            )
        elif written != postal_code:
            findings.append(
                _finding(
                    f"{path}.postal_code",
                    "address.postal_code_normalized",
                    Severity.INFO,
                    "postal code rewritten in its country's form",
                    original=postal_code,
                    changed_to=written,
                )
            )
            postal_code = written
        if written is not None and register is not None:
            findings.extend(_check_register(register, path, country, written, city))
    if not usable:
        findings.append(
            _finding(
                path,
                "address.incomplete",
                Severity.WARNING,
                "the address lacks a street line or a postal code and city",
            )
        )
    update = {
        "lines": tuple(lines),
        "care_of": care_of,
        "postal_code": postal_code,
        "city": city,
        "country": country,
    }
    if all(getattr(address, name) == value for name, value in update.items()):
        return AddressWash(address, tuple(findings), usable)
    return AddressWash(address.model_copy(update=update), tuple(findings), usable)


def _city_key(city: str) -> str:
    """A city name as compared: case, hyphens and runs of spaces do not matter."""
    return " ".join(city.replace("-", " ").split()).casefold()


def _check_register(
    register: PostalRegister, path: str, country: str, code: str, city: str | None
) -> list[QualityFinding]:
    if not register.covers(country):
        return []
    known_city = register.lookup(country, code)
    if known_city is None:
        return [
            _finding(
                f"{path}.postal_code",
                "address.postal_code_unknown",
                Severity.WARNING,
                "the postal register does not know this postal code",
            )
        ]
    if city is not None and _city_key(city) != _city_key(known_city):
        # The register's city is public reference data, not the debtor's: it may be named.
        return [
            _finding(
                f"{path}.city",
                "address.city_mismatch",
                Severity.WARNING,
                f"the postal register names {known_city} for this postal code; not changed",
                original=city,
            )
        ]
    return []
