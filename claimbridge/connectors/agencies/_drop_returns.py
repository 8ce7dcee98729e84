"""Return files in, updates out: the journal that orders them and the cursor that archives them.

Every return file the agency gives us (fetched over SFTP, or left in ``returns/`` locally) is
first put in the journal, ``<drop>/.returns/pending/``, under an arrival number. The arrival
number orders all return files, across directories, kinds and restarts, so an update's cursor
is simply ``"<arrival>:<n>"``: the n-th update of that file.

A file leaves ``pending/`` (and is archived on the server) only on a *later* call, once the
caller's ``since`` has passed its last update: the core stores a cursor only after it recorded
what came before it, so a file is never archived before the state store holds it. A file that
cannot be read raises :class:`ParseError` naming it and stops the reading there, so nothing
after it is handed on (and nothing of it is archived) until it is fixed or removed by hand.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from claimbridge.connectors.agencies._return_specs import ReturnSource
from claimbridge.connectors.agencies._returns import (
    Record,
    error_receipts,
    read_records,
    updates_from,
)
from claimbridge.connectors.base import AgencyUpdate
from claimbridge.errors import ConnectorError, ParseError
from claimbridge.transport.sftp import SftpConnection

__all__ = [
    "JOURNAL",
    "Entry",
    "RemoteReturns",
    "ReturnJournal",
    "ReturnReader",
    "SftpReturns",
    "format_cursor",
    "parse_cursor",
]

JOURNAL = ".returns"
PENDING = "pending"
DONE = "done"
ENCRYPTED_SUFFIXES = (".pgp", ".gpg")
_ENTRY = re.compile(r"(\d{8,})~([a-z][a-z0-9_]*)~(.+)")
_CURSOR = re.compile(r"(\d{1,12}):(\d{1,9})")


def format_cursor(arrival: int, position: int) -> str:
    return f"{arrival:08d}:{position}"


def parse_cursor(since: str | None) -> tuple[int, int] | None:
    """``"00000012:3"`` → ``(12, 3)``: every update up to the 3rd of file 12 is recorded."""
    if since is None:
        return None
    match = _CURSOR.fullmatch(since)
    if match is None:
        raise ParseError("not a file-drop cursor (arrival:position)", field="since")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True, slots=True)
class Entry:
    """A return file in the journal: its arrival number, source, remote name and local copy."""

    arrival: int
    source: str
    name: str
    path: Path

    @property
    def plain(self) -> str:
        """The name without an encryption suffix: what the file is called once decrypted."""
        for suffix in ENCRYPTED_SUFFIXES:
            if self.name.endswith(suffix):
                return self.name[: -len(suffix)]
        return self.name


class ReturnJournal:
    """``pending/`` and ``done/`` under the drop directory's ``.returns`` (0700)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.floor = 0  # arrival numbers go on above this (the caller's cursor)

    def _folder(self, which: str) -> Path:
        folder = self.root / which
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder

    def _entries(self, which: str) -> list[Entry]:
        folder = self.root / which
        if not folder.is_dir():
            return []
        found = []
        for item in os.scandir(folder):
            match = _ENTRY.fullmatch(item.name)
            if match and item.is_file():
                arrival, source, name = match.groups()
                found.append(Entry(int(arrival), source, name, Path(item.path)))
        return sorted(found, key=lambda e: e.arrival)

    def pending(self) -> list[Entry]:
        return self._entries(PENDING)

    def next_arrival(self) -> int:
        """Above every file ever journaled and above the caller's cursor: a journal that was
        wiped must not hand out numbers a stored cursor has already passed."""
        arrivals = [e.arrival for which in (PENDING, DONE) for e in self._entries(which)]
        return max(*arrivals, self.floor, 0) + 1

    def add(self, source: str, name: str, write: Callable[[Path], None]) -> Entry:
        """Put a new file in ``pending/``: ``write`` fills a temporary path, which is then
        renamed into place (a failed write leaves nothing)."""
        arrival = self.next_arrival()
        folder = self._folder(PENDING)
        final = folder / f"{arrival:08d}~{source}~{name}"
        temporary = folder / f".{final.name}.tmp"
        try:
            write(temporary)
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
        return Entry(arrival, source, name, final)

    def claim(self, path: Path, source: str, name: str) -> Entry:
        """Move a local return file into ``pending/`` (one rename: it is never in two places)."""
        return self.add(source, name, lambda temporary: os.replace(path, temporary))

    def done(self, entry: Entry) -> None:
        os.replace(entry.path, self._folder(DONE) / entry.path.name)


class RemoteReturns(Protocol):
    """Where return files come from when the agency is remote (the SFTP server)."""

    def list(self, source: ReturnSource) -> list[str]:
        """Names in the source's directory that its pattern accepts, oldest first."""

    def fetch(self, source: ReturnSource, name: str, local: Path) -> None: ...

    def archive(self, source: ReturnSource, name: str) -> None: ...


Answered = Callable[[str, str], Sequence[tuple[str, Record]]]


class ReturnReader:
    """Turns the return files of one drop into :class:`AgencyUpdate`s with cursors."""

    def __init__(
        self,
        sources: Sequence[ReturnSource],
        journal: ReturnJournal,
        *,
        local_root: Path,
        remote: RemoteReturns | None,
        answered: Answered,
        agency: str,
        currency: str | None,
    ) -> None:
        self.sources: Mapping[str, ReturnSource] = {s.name: s for s in sources}
        self.journal = journal
        self.local_root = local_root
        self.remote = remote
        self.answered = answered
        self.agency = agency
        self.currency = currency

    def updates(self, since: str | None) -> Iterator[AgencyUpdate]:
        position = parse_cursor(since)
        if position is not None:
            self.journal.floor = position[0]
            for entry in self.journal.pending():
                if entry.arrival < position[0]:
                    self._confirm(entry)
        self._collect()
        for entry in self.journal.pending():
            found = self.read(entry)
            start = position[1] if position is not None and entry.arrival == position[0] else 0
            if start >= len(found):  # all of it recorded, or nothing in it to record
                self._confirm(entry)
                continue
            for number, update in enumerate(found[start:], start=start + 1):
                yield dataclasses.replace(update, cursor=format_cursor(entry.arrival, number))

    def read(self, entry: Entry) -> list[AgencyUpdate]:
        """Every update of one journal file; ParseError (naming the file) when it is unusable."""
        source = self.sources.get(entry.source)
        shown = f"{entry.source}/{entry.name}"
        if source is None:
            raise ParseError("the profile has no return source of this name any more", file=shown)
        display = f"{source.directory}/{entry.name}" if source.directory else entry.name
        records = read_records(entry.path, source, display)
        if source.kind == "errors":
            answered = self.answered(source.section, source.answered(entry.plain))
            return error_receipts(records, answered, source, entry.plain)
        return updates_from(
            records, source, entry.plain, agency=self.agency, currency=self.currency
        )

    def _confirm(self, entry: Entry) -> None:
        source = self.sources.get(entry.source)
        if self.remote is not None and source is not None:
            self.remote.archive(source, entry.name)
        self.journal.done(entry)

    def _collect(self) -> None:
        """New return files into the journal, oldest first; a file two sources could claim
        goes to the first of them in the profile."""
        waiting = {(e.source, e.name) for e in self.journal.pending()}
        taken: set[tuple[str, str]] = set()
        for source in self.sources.values():
            names = self._remote_names(source) if self.remote else self._local_names(source)
            for name in names:
                if (source.directory, name) in taken:
                    continue
                taken.add((source.directory, name))
                if (source.name, name) in waiting:
                    continue
                if self.remote is not None:
                    self.journal.add(source.name, name, _fetcher(self.remote, source, name))
                else:
                    path = self.local_root.joinpath(source.directory, name)
                    with contextlib.suppress(FileNotFoundError):  # taken meanwhile
                        self.journal.claim(path, source.name, name)

    def _remote_names(self, source: ReturnSource) -> list[str]:
        assert self.remote is not None
        return self.remote.list(source)

    def _local_names(self, source: ReturnSource) -> list[str]:
        folder = self.local_root / source.directory if source.directory else self.local_root
        if not folder.is_dir():
            return []
        try:
            found = [
                (item.stat().st_mtime_ns, item.name)
                for item in os.scandir(folder)
                if item.is_file() and not item.name.startswith(".") and source.accepts(item.name)
            ]
        except OSError as exc:
            raise ConnectorError(f"cannot list {folder}: {exc.strerror}") from None
        return [name for _, name in sorted(found)]


def _fetcher(remote: RemoteReturns, source: ReturnSource, name: str) -> Callable[[Path], None]:
    def fetch(local: Path) -> None:
        remote.fetch(source, name, local)

    return fetch


class SftpReturns:
    """The SFTP server as the place return files come from; with PGP each file is fetched
    into a 0700 staging directory, decrypted and verified, and only the plaintext kept."""

    def __init__(
        self,
        connection: Callable[[], SftpConnection],
        decrypt: Callable[[Path, Path], None] | None,
        staging: Callable[[], Path],
    ) -> None:
        self.connection = connection
        self.decrypt = decrypt
        self.staging = staging

    def list(self, source: ReturnSource) -> list[str]:
        names = []
        for remote in self.connection().list_returns(directory=source.directory):
            plain = remote.name
            if self.decrypt is not None:
                for suffix in ENCRYPTED_SUFFIXES:
                    plain = plain.removesuffix(suffix)
            if source.accepts(plain):
                names.append(remote.name)
        return names

    def fetch(self, source: ReturnSource, name: str, local: Path) -> None:
        if self.decrypt is None:
            self.connection().fetch(name, local, directory=source.directory)
            return
        encrypted = self.staging() / name
        try:
            self.connection().fetch(name, encrypted, directory=source.directory)
            self.decrypt(encrypted, local)
        finally:
            encrypted.unlink(missing_ok=True)

    def archive(self, source: ReturnSource, name: str) -> None:
        self.connection().archive(name, directory=source.directory)
