"""The agency contract for the file-drop agency, over a real directory in tmp.

The agency side is the drop directory: the cases it holds are the idempotency keys in the
files written there (and in ``archive/``), read back with the profile's own reader; a "call" is
a file written. A lost answer is a crash after the file was renamed into place and before the
run recorded it: the harness's connector writes for real, then raises as a timeout would.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from claimbridge.connectors.agencies.file_drop import (
    ARCHIVE,
    WRITERS,
    FileDropAgency,
    FileDropSettings,
    load_profile,
)
from claimbridge.connectors.base import Agency, ConnectorContext, Delivery, PushOutcome
from claimbridge.errors import OutcomeUnknownError
from tests.contract.agency_suite import AgencyContract, AgencyHarness

PROFILE = "generic_csv"
AGENCY_NAME = "drop-contract"


class _CrashingFileDrop(FileDropAgency):
    """Writes the files, then loses the answer once when the harness says so."""

    harness: FileDropHarness

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        outcomes = super().push(deliveries)
        if deliveries and self.harness.lose_answer:
            self.harness.lose_answer = False
            raise OutcomeUnknownError(
                "the run died after writing the file", connector=self.type_name
            )
        return outcomes


class FileDropHarness(AgencyHarness):
    not_applicable: ClassVar[dict[str, str]] = {
        "rate_limit_is_waited_out": "a file drop writes to a directory: nothing answers 429",
        "4xx_is_terminal_with_reason": (
            "a file drop has no synchronous answer: rejections come back later as updates"
        ),
    }

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.directory = root / "drop"
        self.lose_answer = False

    def _agency(self, directory: Path) -> Agency:
        settings = FileDropSettings(directory=directory, profile=PROFILE, batch_size=3)
        agency = _CrashingFileDrop(settings, ConnectorContext(name=AGENCY_NAME, workdir=self.root))
        agency.harness = self
        return agency

    def agency(self) -> Agency:
        return self._agency(self.directory)

    def broken_agency(self) -> Agency:
        blocker = self.root / "not-a-directory"
        blocker.write_text("a file where the drop directory's parent should be\n")
        return self._agency(blocker / "drop")

    def _files(self) -> list[Path]:
        pattern = load_profile(PROFILE).file_pattern(None)
        return [
            path
            for folder in (self.directory, self.directory / ARCHIVE)
            if folder.is_dir()
            for path in sorted(folder.iterdir())
            if path.is_file() and pattern.fullmatch(path.name)
        ]

    def held_cases(self) -> int:
        profile = load_profile(PROFILE)
        held: set[tuple[str, str]] = set()  # one row per claim: a case is a key in a file
        for path in self._files():
            with path.open(encoding=profile.encoding, newline="") as stream:
                held.update((path.name, k) for k in WRITERS[profile.format].keys(stream, profile))
        return len(held)

    def calls(self) -> int:
        return len(self._files())

    def lose_next_answer(self) -> None:
        self.lose_answer = True


class TestFileDropAgencyContract(AgencyContract):
    harness_class: ClassVar[type[AgencyHarness]] = FileDropHarness
