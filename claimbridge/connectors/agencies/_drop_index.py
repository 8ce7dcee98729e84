"""The drop directory as the record of what was written: which file holds which idempotency
key, the rows of a file a return file answers, and the claims of a case.

Everything here is read back from the files themselves (and, for formats with no column for
our key, from the key manifest written beside each file before it appeared), so it survives
restarts and needs no state of its own; the caches only skip files that did not change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from claimbridge.connectors.agencies._profile_loader import DropProfile
from claimbridge.connectors.agencies._profiles import ARCHIVE, WRITERS, FileProfile
from claimbridge.connectors.agencies._returns import Record
from claimbridge.errors import ParseError

__all__ = ["KEYS", "WrittenFiles"]

KEYS = ".keys"  # under the drop directory: key manifests of formats without a key column

Stamp = tuple[int, int]


class WrittenFiles:
    """What the files of one drop directory say, for one profile."""

    def __init__(self, directory: Path, profile: DropProfile) -> None:
        self.directory = directory
        self.profile = profile
        self.index: dict[str, str] = {}  # idempotency key → relative file name
        self._indexed: dict[Path, Stamp] = {}
        self._claims: dict[str, list[str]] = {}
        self._claims_indexed: dict[Path, Stamp] = {}

    @property
    def indexed(self) -> bool:
        """Whether the index was built (until then a new file need not be noted in it)."""
        return bool(self._indexed)

    def find(self, key: str) -> str | None:
        """The file (relative name) holding ``key``; the files are read again when it is
        not known yet, so files written by another process are found too."""
        if key not in self.index:
            self.refresh()
        return self.index.get(key)

    def refresh(self) -> None:
        for section in self.profile.sections:
            writer = WRITERS[section.format]
            for relative, entry in self.files(section):
                path = Path(entry.path)
                stat = entry.stat()
                stamp = (stat.st_size, stat.st_mtime_ns)
                if self._indexed.get(path) == stamp:
                    continue
                if section.manifest:
                    keys: list[str] = self.manifest_keys(relative)
                elif writer.binary:
                    with path.open("rb") as binary:
                        keys = list(writer.keys(binary, section))
                else:
                    with path.open(
                        encoding=section.encoding, errors="replace", newline=""
                    ) as stream:
                        keys = list(writer.keys(stream, section))
                for key in keys:
                    self.index[key] = relative
                self._indexed[path] = stamp

    def files(self, section: FileProfile) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """(relative name, entry) of every file of a section in its directory and archive."""
        pattern = section.file_pattern(None)
        folder = self.directory / section.directory
        for place in (folder, folder / ARCHIVE):
            if not place.is_dir():
                continue
            for entry in os.scandir(place):
                if entry.is_file() and pattern.fullmatch(entry.name):
                    yield _relative(section, entry.name), entry

    # --- manifests ----------------------------------------------------------------------

    def manifest(self, name: str) -> Path:
        return self.directory / KEYS / f"{name}.keys"

    def write_manifest(self, name: str, keys: Sequence[str]) -> None:
        """The keys of a file, one per row in row order, in place before the file appears."""
        path = self.manifest(name)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        with temporary.open("w", encoding="utf-8") as stream:
            stream.writelines(f"{key}\n" for key in keys)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)

    def manifest_keys(self, name: str) -> list[str]:
        try:
            return self.manifest(name).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    # --- what the files say -------------------------------------------------------------

    def records(self, section: FileProfile, path: Path) -> list[tuple[int, dict[str, str]]]:
        writer = WRITERS[section.format]
        if writer.binary:
            with path.open("rb") as binary:
                return list(writer.records(binary, section))
        with path.open(encoding=section.encoding, errors="replace", newline="") as stream:
            return list(writer.records(stream, section))

    def answered(self, section_name: str, name: str) -> list[tuple[str, Record]]:
        """The (key, record) rows of a file this drop wrote, for a return file answering it."""
        section = self.profile.section(section_name)
        assert section is not None
        relative = _relative(section, name)
        path = self.directory / relative
        if not path.is_file():
            path = self.directory / section.directory / ARCHIVE / name
        if not path.is_file():
            raise ParseError(f"answers {relative}, which is not in the drop directory", file=name)
        records = [record for _, record in self.records(section, path)]
        if section.manifest:
            keys = self.manifest_keys(relative)
            if len(keys) != len(records):
                raise ParseError(f"the key manifest of {relative} does not match it", file=name)
        else:
            header = section.headers[section.key_column]
            keys = [record.get(header, "") for record in records]
        return list(zip(keys, records, strict=True))

    def case_claims(self, case_key: str) -> list[str]:
        """The claims of a case as the case files written here name them."""
        cases = self.profile.cases
        case_header = cases.headers[cases.case_column]
        claim_header = cases.headers[cases.claim_column]
        for _, entry in self.files(cases):
            path = Path(entry.path)
            stat = entry.stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
            if self._claims_indexed.get(path) == stamp:
                continue
            for _, record in self.records(cases, path):
                case, claim = record.get(case_header), record.get(claim_header)
                if case and claim and claim not in self._claims.setdefault(case, []):
                    self._claims[case].append(claim)
            self._claims_indexed[path] = stamp
        return list(self._claims.get(case_key, ()))


def _relative(section: FileProfile, name: str) -> str:
    return f"{section.directory}/{name}" if section.directory else name
