"""Enrichment of company debtors from Brønnøysund's Enhetsregisteret (the Norwegian register).

A case against a company goes better with the company's official name and postal address, and
must not go at all if the company is bankrupt or deleted: a bankrupt company's debts are claimed
from the estate. :class:`RegistryEnricher` looks an organization number up in the open data API
(``GET /enhetsregisteret/api/enheter/{organisasjonsnummer}``, no authentication), keeps the
answer in a :class:`~claimbridge.quality.registry_cache.RegistryCache`, and turns it into
quality findings the policy can hold a case on.

A registry that is down never blocks a case: :meth:`RegistryEnricher.lookup` never raises for
network trouble, a 5xx or an unreadable answer; it answers ``unavailable`` with the reason, and
:meth:`~RegistryEnricher.enrich` notes that as an INFO finding. After a few failures in a row
the registry is left alone for a cool-down, so 40,000 debtors do not each wait for a timeout.

Findings never contain names or addresses (a sole proprietorship's name is its owner's name);
the registered values are in the :class:`RegistryResult` for a caller that needs them.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from claimbridge.errors import ConnectorError, RecordError, RemoteError, StateError
from claimbridge.quality.ids import IdKind, normalize_id
from claimbridge.quality.registry_cache import RegistryCache
from claimbridge.schemas.party import Address, AddressKind, AddressState, Party, PartyKind
from claimbridge.schemas.quality import QualityFinding, Severity
from claimbridge.transport.http import HttpClient, HttpSettings, check_base_url

__all__ = [
    "DEFAULT_BASE_URL",
    "HOLD_CODES",
    "LookupStatus",
    "RegistryEnricher",
    "RegistryResult",
    "RegistrySettings",
    "parse_enhet",
]

log = logging.getLogger("claimbridge.registry")

DEFAULT_BASE_URL = "https://data.brreg.no"
ENHET_PATH = "enhetsregisteret/api/enheter/{orgnr}"
# One of the two media types the OpenAPI document gives for a unit; the plain one is answered
# whatever the service's current major version is.
ACCEPT = "application/json"
_JSON_TYPES = frozenset({"application/json", "application/vnd.enhetsregisteret.enhet.v1+json"})

HOLD_CODES = frozenset(
    {
        "registry.bankrupt",
        "registry.deleted",
        "registry.under_liquidation",
        "registry.forced_liquidation",
        "registry.removed",
    }
)
"""Finding codes a collection policy may hold a case on."""


class LookupStatus(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"  # 404: no main unit with this number (a sub-unit's, or a typo)
    REMOVED = "removed"  # 410: removed from the open data for legal reasons
    UNAVAILABLE = "unavailable"  # network, 5xx, timeout, unreadable answer: never cached


class RegistrySettings(BaseModel):
    """The ``[quality.registry]`` settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    base_url: str = DEFAULT_BASE_URL
    ttl_days: float = Field(default=7, gt=0, description="how long a found company is reused")
    missing_ttl_days: float = Field(default=1, gt=0, description="the same for 404 and 410")
    cache_path: Path | None = Field(default=None, description="SQLite file; None = in memory")
    cache_max_entries: int = Field(default=100_000, ge=1)
    timeout: float = Field(default=5, gt=0, description="seconds to connect and to answer")
    max_retries: int = Field(default=1, ge=0, le=5)
    max_body_bytes: int = Field(default=1_000_000, ge=1_000)
    failures_before_pause: int = Field(default=3, ge=1)
    pause_seconds: float = Field(default=300, ge=0, description="cool-down after failures")

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        return check_base_url(value)

    def http_settings(self) -> HttpSettings:
        return HttpSettings(
            base_url=self.base_url,
            timeout_connect=self.timeout,
            timeout_read=self.timeout,
            max_retries=self.max_retries,
            backoff_max=2,
            retry_after_cap=5,
        )


class RegistryResult(BaseModel):
    """What the registry said about one organization number."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organization_number: str
    status: LookupStatus
    fetched_at: datetime
    reason: str | None = Field(default=None, description="why unavailable; no personal data")
    name: str | None = None
    organization_form: str | None = Field(default=None, description="e.g. AS, ENK, NUF")
    addresses: tuple[Address, ...] = ()
    bankrupt: bool = False
    under_liquidation: bool = False
    forced_liquidation: bool = False
    deleted: bool = False
    deleted_on: date | None = None

    @property
    def postal_address(self) -> Address | None:
        """Where letters go: the postal address, else the business address."""
        by_kind = {a.kind: a for a in self.addresses}
        return by_kind.get(AddressKind.POSTAL) or by_kind.get(AddressKind.REGISTERED)


# --- the answer body ------------------------------------------------------------------------


class _Wire(BaseModel):
    # Strict types: a "konkurs": "no" is a broken answer, not a False.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class _Adresse(_Wire):
    adresse: list[str] = Field(default_factory=list, max_length=10)
    postnummer: str | None = Field(default=None, max_length=20)
    poststed: str | None = Field(default=None, max_length=200)
    landkode: str | None = Field(default=None, max_length=2)


class _Organisasjonsform(_Wire):
    kode: str = Field(max_length=20)


class _Enhet(_Wire):
    organisasjonsnummer: str = Field(max_length=20)
    navn: str = Field(min_length=1, max_length=500)
    organisasjonsform: _Organisasjonsform | None = None
    forretningsadresse: _Adresse | None = None
    postadresse: _Adresse | None = None
    konkurs: bool = False
    underAvvikling: bool = False
    underTvangsavviklingEllerTvangsopplosning: bool = False
    slettedato: date | None = None


def _address(wire: _Adresse | None, kind: AddressKind) -> Address | None:
    if wire is None:
        return None
    try:
        return Address(
            kind=kind,
            state=AddressState.KNOWN,
            lines=tuple(line for line in wire.adresse if line.strip()),
            postal_code=wire.postnummer or None,
            city=wire.poststed or None,
            country=wire.landkode or None,
        )
    except ValidationError:
        return None  # empty or with a country code we do not know: not worth failing over


def parse_enhet(body: bytes, orgnr: str, fetched_at: datetime) -> RegistryResult:
    """Read one ``Enhet`` body; :class:`ValueError` (without the body's values) if unusable."""
    try:
        enhet = _Enhet.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ValueError(f"unexpected registry answer at {where!r} ({first['type']})") from None
    if enhet.organisasjonsnummer != orgnr:
        raise ValueError("the registry answered for another organization number")
    addresses = (
        _address(enhet.forretningsadresse, AddressKind.REGISTERED),
        _address(enhet.postadresse, AddressKind.POSTAL),
    )
    return RegistryResult(
        organization_number=orgnr,
        status=LookupStatus.FOUND,
        fetched_at=fetched_at,
        name=enhet.navn.strip(),
        organization_form=enhet.organisasjonsform.kode if enhet.organisasjonsform else None,
        addresses=tuple(a for a in addresses if a is not None),
        bankrupt=enhet.konkurs,
        under_liquidation=enhet.underAvvikling,
        forced_liquidation=enhet.underTvangsavviklingEllerTvangsopplosning,
        deleted=enhet.slettedato is not None,
        deleted_on=enhet.slettedato,
    )


# --- the enricher ---------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RegistryEnricher:
    """Looks companies up in Enhetsregisteret, with a cache; see the module docstring.

    ``client`` and ``cache`` are built from the settings unless given; ``clock`` (wall time, for
    the cache) and ``monotonic`` (for the cool-down) are injectable for tests.
    """

    def __init__(
        self,
        settings: RegistrySettings | None = None,
        *,
        client: HttpClient | None = None,
        cache: RegistryCache | None = None,
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or RegistrySettings()
        self._clock = clock
        self._monotonic = monotonic
        self._client = client or HttpClient(
            self.settings.http_settings(), name="brreg", sleep=sleep
        )
        self.cache = cache or RegistryCache(
            self.settings.cache_path, max_entries=self.settings.cache_max_entries, clock=clock
        )
        self._lock = threading.Lock()
        self._failures = 0
        self._paused_until = 0.0

    # lookups ---------------------------------------------------------------------------

    def lookup(self, orgnr: str) -> RegistryResult:
        """The registry's answer for a Norwegian organization number; never raises for a
        registry that is down. An invalid number is the caller's error (:class:`RecordError`).
        """
        checked = normalize_id(orgnr, country="NO", kind=IdKind.ORGANIZATION)
        if not checked.valid:
            raise RecordError(
                ["not a valid Norwegian organization number"], location="organization_number"
            )
        number = checked.number
        if not self.settings.enabled:
            return self._unavailable(number, "registry lookups are disabled", quiet=True)
        cached = self._cached(number)
        if cached is not None:
            return cached
        if self._paused():
            return self._unavailable(number, "registry paused after repeated failures", quiet=True)
        result = self._fetch(number)
        self._count(result)
        if result.status is not LookupStatus.UNAVAILABLE:
            self._store(result)
        return result

    def _fetch(self, number: str) -> RegistryResult:
        now = self._clock()
        try:
            response = self._client.get(ENHET_PATH.format(orgnr=number), headers={"Accept": ACCEPT})
        except RemoteError as exc:
            if exc.status == 404:
                return RegistryResult(
                    organization_number=number, status=LookupStatus.NOT_FOUND, fetched_at=now
                )
            if exc.status == 410:
                return RegistryResult(
                    organization_number=number, status=LookupStatus.REMOVED, fetched_at=now
                )
            return self._unavailable(number, str(exc))
        except ConnectorError as exc:  # unreachable, timeout, rate limit, refused
            return self._unavailable(number, str(exc))
        problem = self._unreadable(response)
        if problem:
            return self._unavailable(number, problem)
        try:
            return parse_enhet(response.content, number, now)
        except ValueError as exc:
            return self._unavailable(number, str(exc))

    def _unreadable(self, response: requests.Response) -> str | None:
        if response.status_code != 200:
            return f"unexpected HTTP {response.status_code} from the registry"
        media = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media not in _JSON_TYPES:
            return "the registry answered with a content type that is not JSON"
        if len(response.content) > self.settings.max_body_bytes:
            return f"the registry's answer is larger than {self.settings.max_body_bytes} bytes"
        return None

    def _unavailable(self, number: str, reason: str, *, quiet: bool = False) -> RegistryResult:
        if not quiet:  # a pause is logged once when it starts, not for every debtor
            log.warning("registry lookup unavailable: %s", reason)
        return RegistryResult(
            organization_number=number,
            status=LookupStatus.UNAVAILABLE,
            fetched_at=self._clock(),
            reason=reason,
        )

    # the cache (a broken cache is a slower run, not a failed one) ----------------------

    def _cached(self, number: str) -> RegistryResult | None:
        try:
            entry = self.cache.get(number)
            return None if entry is None else RegistryResult.model_validate_json(entry.payload)
        except (StateError, ValidationError) as exc:
            log.warning("registry cache unreadable, looking up again (%s)", type(exc).__name__)
            return None

    def _store(self, result: RegistryResult) -> None:
        days = (
            self.settings.ttl_days
            if result.status is LookupStatus.FOUND
            else self.settings.missing_ttl_days
        )
        try:
            self.cache.put(
                result.organization_number, result.model_dump_json(), timedelta(days=days)
            )
        except StateError as exc:
            log.warning("registry answer not cached (%s)", exc)

    # the cool-down ---------------------------------------------------------------------

    def _paused(self) -> bool:
        with self._lock:
            return self._monotonic() < self._paused_until

    def _count(self, result: RegistryResult) -> None:
        with self._lock:
            if result.status is not LookupStatus.UNAVAILABLE:
                self._failures = 0
                return
            self._failures += 1
            if self._failures >= self.settings.failures_before_pause:
                self._failures = 0
                self._paused_until = self._monotonic() + self.settings.pause_seconds
                log.warning(
                    "registry failed %d times in a row; pausing lookups for %.0f s",
                    self.settings.failures_before_pause,
                    self.settings.pause_seconds,
                )

    # enrichment ------------------------------------------------------------------------

    def enrich(self, party: Party) -> tuple[Party, list[QualityFinding]]:
        """Fill a company's missing postal address from the registry and report its status.

        Persons, companies without a valid Norwegian organization number and a disabled
        registry give the party back unchanged with no findings. A known address is never
        overwritten; a difference from the registry is a finding instead.
        """
        number = _norwegian_orgnr(party) if self.settings.enabled else None
        if number is None:
            return party, []
        result = self.lookup(number)
        findings = _status_findings(result)
        if result.status is not LookupStatus.FOUND:
            return party, findings
        if result.name and _comparable(result.name) != _comparable(party.name):
            findings.append(
                _finding(
                    "name",
                    "registry.name_mismatch",
                    Severity.INFO,
                    "the name differs from the name registered in Enhetsregisteret",
                )
            )
        party, address_findings = _merge_address(party, result)
        return party, findings + address_findings

    def close(self) -> None:
        self._client.close()
        self.cache.close()

    def __enter__(self) -> RegistryEnricher:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _norwegian_orgnr(party: Party) -> str | None:
    if party.kind is not PartyKind.COMPANY or not party.organization_number:
        return None
    if party.id_country not in (None, "NO"):
        return None
    checked = normalize_id(party.organization_number, country="NO", kind=IdKind.ORGANIZATION)
    return checked.number if checked.valid else None


def _finding(field: str, code: str, severity: Severity, message: str) -> QualityFinding:
    return QualityFinding(field=field, code=code, severity=severity, message=message)


_STATUS_FINDINGS: dict[LookupStatus, tuple[str, Severity, str]] = {
    LookupStatus.UNAVAILABLE: (
        "registry.unavailable",
        Severity.INFO,
        "Enhetsregisteret could not be asked; the company was not checked against it",
    ),
    LookupStatus.NOT_FOUND: (
        "registry.not_found",
        Severity.WARNING,
        "no main unit with this organization number in Enhetsregisteret "
        "(a sub-unit's number, or a mistyped one)",
    ),
    LookupStatus.REMOVED: (
        "registry.removed",
        Severity.WARNING,
        "the unit was removed from Enhetsregisteret's open data for legal reasons",
    ),
}

_FLAG_FINDINGS: tuple[tuple[str, str, Severity, str], ...] = (
    ("deleted", "registry.deleted", Severity.ERROR, "the company is deleted from the register"),
    ("bankrupt", "registry.bankrupt", Severity.ERROR, "the company is bankrupt (konkurs)"),
    (
        "under_liquidation",
        "registry.under_liquidation",
        Severity.WARNING,
        "the company is under liquidation (under avvikling)",
    ),
    (
        "forced_liquidation",
        "registry.forced_liquidation",
        Severity.WARNING,
        "the company is under forced liquidation or dissolution",
    ),
)


def _status_findings(result: RegistryResult) -> list[QualityFinding]:
    if result.status in _STATUS_FINDINGS:
        code, severity, message = _STATUS_FINDINGS[result.status]
        return [_finding("organization_number", code, severity, message)]
    return [
        _finding("organization_number", code, severity, message)
        for flag, code, severity, message in _FLAG_FINDINGS
        if getattr(result, flag)
    ]


def _merge_address(party: Party, result: RegistryResult) -> tuple[Party, list[QualityFinding]]:
    registered = result.postal_address
    if registered is None:
        return party, []
    if any(a.state is not AddressState.UNKNOWN for a in party.addresses):
        known = {
            a.postal_code.replace(" ", "")
            for a in party.addresses
            if a.state is AddressState.KNOWN and a.postal_code
        }
        codes = {a.postal_code for a in result.addresses if a.postal_code}
        if known and codes and not known & codes:
            return party, [
                _finding(
                    "addresses",
                    "registry.address_mismatch",
                    Severity.INFO,
                    "no address has a postal code registered in Enhetsregisteret",
                )
            ]
        return party, []
    # No address, or only "unknown" placeholders: the registry's one takes their place.
    filled = party.model_copy(update={"addresses": (registered,)})
    return filled, [
        _finding(
            "addresses[0]",
            "registry.address_filled",
            Severity.INFO,
            f"{registered.kind} address taken from Enhetsregisteret",
        )
    ]


_NOT_WORD = re.compile(r"[\W_]+")


def _comparable(name: str) -> str:
    """Case, punctuation and spacing do not make two names different (A/S = AS)."""
    return _NOT_WORD.sub("", name.casefold())
