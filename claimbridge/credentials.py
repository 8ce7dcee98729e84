"""Where connectors keep tokens that change: rotated OAuth refresh tokens, session tokens.

Losing a rotated refresh token locks an integration out (Fortnox, Fiken), so every write is
atomic and durable: a 0600 temporary file in a 0700 directory, fsync, rename, fsync of the
directory. Connectors read through :class:`CredentialStore` and never see where it lives.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from claimbridge.errors import SecretError

__all__ = ["CredentialStore", "FileCredentialStore", "MemoryCredentialStore"]

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class CredentialStore(Protocol):
    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...


class MemoryCredentialStore:
    """For tests and one-off runs: tokens live as long as the process."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._values.get(key)

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._values[key] = value


class FileCredentialStore:
    """One 0600 file per key in a private directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        return self.directory / f"{_SAFE.sub('_', key)[:80]}-{digest}.secret"

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = self.directory.stat().st_mode & 0o777
        if mode & 0o077:
            raise SecretError(
                f"credential directory {self.directory} has mode {mode:o}; it must be 0700"
            )

    def get(self, key: str) -> str | None:
        path = self._path(key)
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            return None
        if mode & 0o077:
            raise SecretError(f"credential file {path} has mode {mode:o}; it must be 0600")
        return path.read_text(encoding="utf-8")

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._ensure_directory()
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".secret")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(value)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(temporary, self._path(key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
            directory_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(directory_fd)
            finally:
                os.close(directory_fd)
