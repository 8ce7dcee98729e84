"""The quality report: what washing found and changed in a debtor's contact data."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from claimbridge.schemas._base import CanonicalModel


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class QualityFinding(CanonicalModel):
    field: str = Field(description="dotted path in the party, e.g. 'phones[0]'")
    code: str = Field(description="stable machine code, e.g. 'phone.invalid'")
    severity: Severity
    message: str = Field(description="plain words; never contains the value itself")
    original: str | None = Field(default=None, description="value before washing, if changed")
    changed_to: str | None = None


class QualityReport(CanonicalModel):
    score: int = Field(ge=0, le=100)
    findings: tuple[QualityFinding, ...] = ()

    @property
    def errors(self) -> tuple[QualityFinding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)
