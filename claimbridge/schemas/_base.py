"""Shared building blocks of the canonical models: the base class, money and codes."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Annotated

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class CanonicalModel(BaseModel):
    """Base of every canonical record: strict about unknown fields, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


@lru_cache(maxsize=1)
def _currency_codes() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def _check_currency(value: str) -> str:
    code = value.upper()
    if code not in _currency_codes():
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


def _check_country(value: str) -> str:
    code = value.upper()
    if code not in _country_codes():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


Currency = Annotated[str, AfterValidator(_check_currency), Field(min_length=3, max_length=3)]
"""ISO 4217 code, upper case."""

Country = Annotated[str, AfterValidator(_check_country), Field(min_length=2, max_length=2)]
"""ISO 3166-1 alpha-2 code, upper case."""

Amount = Annotated[Decimal, Field(decimal_places=2, allow_inf_nan=False)]
"""A money amount in major units (kroner, not øre), at most two decimals, finite; never a float
internally (validated natively by pydantic-core, which matters at 100,000s of records)."""

NonNegativeAmount = Annotated[Decimal, Field(decimal_places=2, allow_inf_nan=False, ge=0)]
PositiveAmount = Annotated[Decimal, Field(decimal_places=2, allow_inf_nan=False, gt=0)]


class Money(CanonicalModel):
    """An amount with its currency, for places where one record mixes currencies."""

    amount: Amount
    currency: Currency


class SourceRef(CanonicalModel):
    """Where a record came from, so anything can be traced back to the ledger."""

    system: str = Field(min_length=1, description="connector name, e.g. 'tripletex' or 'files'")
    company: str = Field(default="", description="the creditor company id in that system")
    record_id: str = Field(min_length=1, description="the record's own id in that system")
    record_type: str = Field(default="", description="invoice, customer, payment, …")
