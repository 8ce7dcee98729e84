"""Payment feeds from bank files: Nets OCR giro, Bankgirot BgMax and ISO 20022 camt.054.

Each parser streams canonical :class:`~claimbridge.schemas.Payment` records (kind ``bank``) and
checks the file's own control totals; bad input raises one ``ParseError`` naming file and line.
"""

from __future__ import annotations

from claimbridge.connectors.banks.camt054 import CamtSummary, CamtTransaction
from claimbridge.connectors.banks.feed import (
    FORMATS,
    BankFileFeed,
    BankFileSettings,
    detect_format,
    iter_payment_file,
    parse_payment_file,
)

__all__ = [
    "FORMATS",
    "BankFileFeed",
    "BankFileSettings",
    "CamtSummary",
    "CamtTransaction",
    "detect_format",
    "iter_payment_file",
    "parse_payment_file",
]
