"""A payment feed over a directory of bank files, and format detection for a single file.

The bank (or an SFTP job) drops OCR giro, BgMax or camt.054 files into a directory; the feed
yields the payments of every file it has not read yet, oldest first. Its cursor names the files
already read, by modification time, name and content digest, and forgets those older than a
retention window, so it stays small however long the feed runs. Re-reading a file is harmless:
payment ids come from the file's own identifiers and are deduplicated downstream.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import Field

from claimbridge.connectors.banks import bgmax, camt054, ocr_giro
from claimbridge.connectors.base import (
    CheckItem,
    CheckKind,
    CheckResult,
    ConnectorSettings,
    PaymentFeed,
)
from claimbridge.errors import ParseError, StateError
from claimbridge.schemas import Payment

__all__ = [
    "FORMATS",
    "BankFileFeed",
    "BankFileSettings",
    "detect_format",
    "iter_payment_file",
    "parse_payment_file",
]

FormatName = Literal["ocr_giro", "bgmax", "camt054"]
FORMATS: tuple[FormatName, ...] = ("ocr_giro", "bgmax", "camt054")
_SNIFFERS: tuple[tuple[FormatName, Callable[[bytes], bool]], ...] = (
    ("ocr_giro", ocr_giro.looks_like),
    ("bgmax", bgmax.looks_like),
    ("camt054", camt054.looks_like),
)
_HEAD_BYTES = 4096
_CURSOR_VERSION = 1
_NS_PER_DAY = 86_400 * 10**9
_Stamp = tuple[int, str, str]  # (mtime in ns, file name, content digest)


def detect_format(path: Path) -> FormatName | None:
    """The format of a payment file from its first bytes, or None when it is none of ours."""
    with path.open("rb") as stream:
        head = stream.read(_HEAD_BYTES)
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    for name, looks_like in _SNIFFERS:
        if looks_like(head):
            return name
    return None


def iter_payment_file(
    path: Path,
    format: FormatName | None = None,
    *,
    schema_dir: Path | None = None,
    allow_test: bool = False,
) -> Iterator[Payment]:
    """Stream the payments of one file; ``format=None`` detects it from the content."""
    name = format or detect_format(path)
    if name == "ocr_giro":
        return ocr_giro.iter_payments(path)
    if name == "bgmax":
        return bgmax.iter_payments(path, allow_test=allow_test)
    if name == "camt054":
        return camt054.iter_payments(path, schema_dir=schema_dir)
    if name is None:
        raise ParseError(
            "not a payment file this feed reads (OCR giro, BgMax or camt.054)", file=str(path)
        )
    raise ParseError(f"unknown payment file format {name!r}", file=str(path))


def parse_payment_file(
    path: Path,
    format: FormatName | None = None,
    *,
    schema_dir: Path | None = None,
    allow_test: bool = False,
) -> list[Payment]:
    """All payments of one file, or a ParseError and none: the file is checked to its end."""
    return list(iter_payment_file(path, format, schema_dir=schema_dir, allow_test=allow_test))


class BankFileSettings(ConnectorSettings):
    directory: Path = Field(description="where the bank files arrive")
    pattern: str = Field(default="*", description="glob of the files to read, e.g. '*.xml'")
    format: FormatName | Literal["auto"] = Field(
        default="auto", description="one format for every file, or 'auto' to detect each"
    )
    retention_days: int = Field(
        default=90, ge=1, description="files older than the newest read file by more are ignored"
    )
    schema_dir: Path | None = Field(
        default=None, description="directory of camt.054 XSDs; when set, files are validated"
    )
    allow_test_files: bool = Field(default=False, description="accept BgMax test files")
    verify_first: bool = Field(
        default=True,
        description="read each file to its end (control totals) before yielding any payment",
    )


class BankFileFeed(PaymentFeed):
    """Payments from a directory of OCR giro, BgMax and camt.054 files."""

    type_name = "bank_files"
    Settings = BankFileSettings

    @property
    def config(self) -> BankFileSettings:
        assert isinstance(self.settings, BankFileSettings)
        return self.settings

    def _resolve(self, path: Path) -> Path:
        """Relative paths mean the config file's directory, not wherever the run started."""
        return path if path.is_absolute() else self.context.workdir / path

    @property
    def directory(self) -> Path:
        return self._resolve(self.config.directory)

    @property
    def schema_dir(self) -> Path | None:
        schema_dir = self.config.schema_dir
        return None if schema_dir is None else self._resolve(schema_dir)

    def check(self) -> CheckResult:
        directory = self.directory
        items = [
            CheckItem(
                CheckKind.CONFIG,
                directory.is_dir(),
                "payment file directory exists" if directory.is_dir() else "not a directory",
            )
        ]
        if directory.is_dir():
            readable = os.access(directory, os.R_OK | os.X_OK)
            items.append(
                CheckItem(
                    CheckKind.PERMISSION,
                    readable,
                    "directory is readable" if readable else "directory is not readable",
                )
            )
        if self.schema_dir is not None:
            ok = self.schema_dir.is_dir()
            items.append(
                CheckItem(
                    CheckKind.CONFIG, ok, "schema directory exists" if ok else "no schema directory"
                )
            )
        return CheckResult(self.context.name, tuple(items))

    def payments(self, cursor: str | None) -> Iterator[tuple[Payment, str | None]]:
        """Each new file's payments; the cursor moves on with the last payment of a file.

        A file that yields no payment (only debits, say) is remembered with the next file that
        does, so at worst it is read again on the next run.
        """
        seen = _load_cursor(cursor)
        for path, stamp in self._new_files(seen):
            format_name = None if self.config.format == "auto" else self.config.format
            if self.config.verify_first:
                for _ in self._read(path, format_name):
                    pass
            seen.append(stamp)
            next_cursor = _dump_cursor(seen, self.config.retention_days)
            held: Payment | None = None
            for payment in self._read(path, format_name):
                if held is not None:
                    yield held, None
                held = payment
            if held is not None:
                yield held, next_cursor

    def _read(self, path: Path, format_name: FormatName | None) -> Iterator[Payment]:
        return iter_payment_file(
            path,
            format_name,
            schema_dir=self.schema_dir,
            allow_test=self.config.allow_test_files,
        )

    def _new_files(self, seen: list[_Stamp]) -> Iterator[tuple[Path, _Stamp]]:
        horizon = _horizon(seen, self.config.retention_days)
        known = {(name, digest) for _, name, digest in seen}
        candidates = []
        for path in self.directory.glob(self.config.pattern):
            if path.is_file():
                candidates.append((path.stat().st_mtime_ns, path.name, path))
        for mtime, name, path in sorted(candidates):
            if mtime < horizon:
                continue
            digest = _digest(path)
            if (name, digest) not in known:
                yield path, (mtime, name, digest)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:24]


def _horizon(seen: list[_Stamp], retention_days: int) -> int:
    if not seen:
        return 0
    return max(mtime for mtime, _, _ in seen) - retention_days * _NS_PER_DAY


def _load_cursor(cursor: str | None) -> list[_Stamp]:
    if not cursor:
        return []
    try:
        data = json.loads(cursor)
        if data.get("v") != _CURSOR_VERSION:
            raise ValueError("cursor version")
        return [(int(m), str(n), str(d)) for m, n, d in data["files"]]
    except (ValueError, TypeError, KeyError, AttributeError):
        raise StateError("the bank file feed's stored cursor is unreadable") from None


def _dump_cursor(seen: list[_Stamp], retention_days: int) -> str:
    horizon = _horizon(seen, retention_days)
    kept = sorted(entry for entry in seen if entry[0] >= horizon)
    seen[:] = kept
    return json.dumps({"v": _CURSOR_VERSION, "files": kept}, separators=(",", ":"))
