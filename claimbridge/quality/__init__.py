"""Contact-data washing: phones, e-mails, id numbers, payment references and addresses.

Every function here is pure (no I/O unless a caller asks for an e-mail DNS check) and never
raises on bad input: what is wrong becomes a finding in the :class:`QualityReport`.
"""

from __future__ import annotations

from claimbridge.quality.address import (
    AddressWash,
    PostalRegister,
    normalize_postal_code,
    wash_address,
)
from claimbridge.quality.email import EmailResult, normalize_email, suggest_domain
from claimbridge.quality.ids import IdKind, IdResult, normalize_id
from claimbridge.quality.phone import PhoneResult, normalize_phone
from claimbridge.quality.reference import (
    kid_is_valid,
    make_kid_mod10,
    make_kid_mod11,
    make_ocr,
    ocr_is_valid,
)
from claimbridge.quality.wash import Washer, WashResult, score, wash_party

__all__ = [
    "AddressWash",
    "EmailResult",
    "IdKind",
    "IdResult",
    "PhoneResult",
    "PostalRegister",
    "WashResult",
    "Washer",
    "kid_is_valid",
    "make_kid_mod10",
    "make_kid_mod11",
    "make_ocr",
    "normalize_email",
    "normalize_id",
    "normalize_phone",
    "normalize_postal_code",
    "ocr_is_valid",
    "score",
    "suggest_domain",
    "wash_address",
    "wash_party",
]
