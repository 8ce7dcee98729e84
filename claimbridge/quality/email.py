"""E-mail addresses: syntax and normalization, and a warning for misspelt common domains.

email-validator does the syntax and normalization (it lower-cases the domain and IDNA-encodes
it where needed). Deliverability (a DNS look-up) is off unless the caller asks for it: washing
runs for every debtor and must not wait on the network.

A domain one keystroke away from a common mail domain (``gmial.com``, ``gmail.con``,
``outlook.co``) is almost always a typo. Washing never changes it — a person's address is theirs
— but reports the likely intended domain so someone can ask the debtor.

What is only packaging is taken off before validation, because it can never be part of an
address: a ``mailto:`` prefix, a ``Name <address>`` wrapper, a sentence's trailing dot and
spaces around ``@`` or a dot. A field holding several addresses (``a@x.no; b@y.no``) is split
by :func:`split_emails`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from claimbridge.quality._cache import WASH_CACHE

__all__ = ["COMMON_DOMAINS", "EmailResult", "normalize_email", "split_emails", "suggest_domain"]

_MAX_INPUT = 320  # RFC 5321: 64 local + @ + 255 domain
_MAX_FIELD = 1024
_MAILTO = re.compile(r"^mailto:\s*", re.IGNORECASE)
_WRAPPED = re.compile(r"^[^<>@]*<\s*([^<>\s]+@[^<>\s]+)\s*>$")
_SPACE_AROUND = re.compile(r"\s*([@.])\s*")
_SEPARATORS = re.compile(r"[;,\s]+")

COMMON_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "googlemail.com",
    "hotmail.com",
    "hotmail.no",
    "hotmail.se",
    "outlook.com",
    "outlook.no",
    "live.com",
    "live.no",
    "live.se",
    "msn.com",
    "yahoo.com",
    "yahoo.no",
    "yahoo.se",
    "icloud.com",
    "me.com",
    "online.no",
    "frisurf.no",
    "broadpark.no",
    "altibox.no",
    "getmail.no",
    "telia.com",
    "telia.no",
    "telenor.no",
    "bredband.net",
    "spray.se",
    "protonmail.com",
    "proton.me",
)
"""Domains a typo is checked against, most used first (the first close one is suggested)."""

_KNOWN_GOOD = frozenset(COMMON_DOMAINS) | {"mail.com", "ymail.com", "gmx.com", "live.dk"}


@dataclass(frozen=True, slots=True)
class EmailResult:
    """``address`` is the normalized form when valid, else the input as given (stripped)."""

    address: str
    valid: bool
    suggestion: str | None = None  # a likely intended domain, for a WARNING finding


def _one_edit_apart(a: str, b: str) -> bool:
    """True if one insertion, deletion, substitution or swap of neighbours turns a into b."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long, strict=False)) if x != y), len(short))
    return short[i:] == long[i + 1 :]


@lru_cache(maxsize=4096)
def suggest_domain(domain: str) -> str | None:
    """The common domain ``domain`` is probably a typo of, or None."""
    domain = domain.lower()
    if domain in _KNOWN_GOOD:
        return None
    return next((d for d in COMMON_DOMAINS if _one_edit_apart(domain, d)), None)


@lru_cache(maxsize=WASH_CACHE)
def normalize_email(raw: str, *, check_deliverability: bool = False) -> EmailResult:
    """Validate and normalize ``raw``. Never raises; an invalid address comes back as given."""
    text = raw.strip()
    if not text or len(text) > _MAX_INPUT:
        return EmailResult(text, False)
    bare = _unwrapped(text)
    if bare != text:
        cleaned = normalize_email(bare, check_deliverability=check_deliverability)
        return cleaned if cleaned.valid else EmailResult(text, False)
    try:
        info = validate_email(text, check_deliverability=check_deliverability)
    except EmailNotValidError:
        return EmailResult(text, False)
    return EmailResult(info.normalized, True, suggest_domain(info.ascii_domain))


def _unwrapped(text: str) -> str:
    """``text`` without the packaging that can never belong to an address."""
    text = _MAILTO.sub("", text)
    wrapped = _WRAPPED.match(text)
    if wrapped:
        text = wrapped[1]
    text = _SPACE_AROUND.sub(r"\1", text)
    return text.rstrip(".").strip()


@lru_cache(maxsize=WASH_CACHE)
def split_emails(raw: str, *, check_deliverability: bool = False) -> tuple[EmailResult, ...]:
    """Every address in ``raw``: several when a field holds a list (``a@x.no; b@y.no``).

    The field is split only when each part is a valid address; otherwise it is one (invalid)
    address, kept whole. Never raises.
    """
    whole = normalize_email(raw, check_deliverability=check_deliverability)
    text = raw.strip()
    if whole.valid or text.count("@") < 2 or len(text) > _MAX_FIELD:
        return (whole,)
    parts = [p for p in _SEPARATORS.split(text) if p]
    found = tuple(normalize_email(p, check_deliverability=check_deliverability) for p in parts)
    return found if found and all(r.valid for r in found) else (whole,)
