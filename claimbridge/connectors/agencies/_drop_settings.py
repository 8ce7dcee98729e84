"""Settings of the file-drop agency: the drop directory, the profile, SFTP and PGP."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from claimbridge.connectors.base import ConnectorSettings
from claimbridge.errors import ConfigError
from claimbridge.transport.pgp import normalize_fingerprint
from claimbridge.transport.sftp import SftpSettings

__all__ = ["FileDropSettings", "PgpSettings"]


class PgpSettings(BaseModel):
    """Both keys pinned by full fingerprint; the passphrase unlocks our signing key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path  # the private keyring (GNUPGHOME); relative paths are under the work directory
    recipient_fingerprint: str  # the agency's key: files are encrypted to it
    signing_fingerprint: str  # our key: files are signed with it
    passphrase: SecretStr | None = None
    return_signer_fingerprint: str | None = None  # who signs return files; default: recipient
    gpg_binary: str = "gpg"

    @field_validator("recipient_fingerprint", "signing_fingerprint", "return_signer_fingerprint")
    @classmethod
    def _full_fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_fingerprint(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @property
    def return_signer(self) -> str:
        return self.return_signer_fingerprint or self.recipient_fingerprint


class FileDropSettings(ConnectorSettings):
    directory: Path = Field(
        description="The local outbox and record of what was sent (keep it private, 0700)",
        examples=["drop/agency"],
    )
    profile: str = Field(
        default="generic_csv",
        description=(
            "File profile: a packaged one (generic_csv, generic_fixed, generic_xml, "
            "indebted_csv) or the path of your own"
        ),
    )
    batch_size: int = Field(default=5000, ge=1, le=1_000_000, description="Items per file")
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="Currency of return-file amounts when the files name none (InDebted)",
    )
    sftp: SftpSettings | None = None
    pgp: PgpSettings | None = None

    @model_validator(mode="after")
    def _pgp_needs_sftp(self) -> Self:
        if self.pgp is not None and self.sftp is None:
            raise ValueError("pgp encrypts what is uploaded: set sftp as well")
        return self
