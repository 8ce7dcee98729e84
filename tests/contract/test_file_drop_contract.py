"""The agency contract for the file-drop agency, over a real directory in tmp, for every
shipped profile.

The agency side is the drop directory: the cases it holds are the ones in the files written
there (and in ``archive/``), read with the csv module or lxml rather than the connector's own
reader wherever the format allows; a "call" is a file written. A lost answer is a crash after
the file was renamed into place and before the run recorded it: the harness's connector writes
for real, then raises as a timeout would.

Beyond the shared checks, each profile must carry corrections effectively once and read the
agency's receipts back in its own return format: the harness plays the agency and answers
every file it was given, the way that profile's agency does.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest
from lxml import etree

from claimbridge.connectors.agencies.file_drop import (
    ARCHIVE,
    FileDropAgency,
    FileDropSettings,
    FileProfile,
    load_drop_profile,
)
from claimbridge.connectors.base import (
    Agency,
    ConnectorContext,
    Correction,
    CorrectionKind,
    Delivery,
    PushOutcome,
    PushStatus,
)
from claimbridge.errors import OutcomeUnknownError
from claimbridge.schemas import Payment, SourceRef
from tests.contract.agency_suite import AgencyContract, AgencyHarness, make_cases

PROFILES = ("generic_csv", "generic_fixed", "generic_xml", "indebted_csv")
AGENCY_NAME = "drop-contract"
NS = "urn:claimbridge:file-drop:generic:1"


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

    def __init__(self, root: Path, profile: str = "generic_csv") -> None:
        super().__init__(root)
        self.profile_name = profile
        self.profile = load_drop_profile(profile)
        self.directory = root / "drop"
        self.lose_answer = False

    def _agency(self, directory: Path) -> FileDropAgency:
        settings = FileDropSettings(
            directory=directory, profile=self.profile_name, batch_size=3, currency="NOK"
        )
        agency = _CrashingFileDrop(settings, ConnectorContext(name=AGENCY_NAME, workdir=self.root))
        agency.harness = self
        return agency

    def agency(self) -> FileDropAgency:
        return self._agency(self.directory)

    def broken_agency(self) -> Agency:
        blocker = self.root / "not-a-directory"
        blocker.write_text("a file where the drop directory's parent should be\n")
        return self._agency(blocker / "drop")

    def files(self, section: FileProfile) -> list[Path]:
        pattern = section.file_pattern(None)
        folder = self.directory / section.directory
        return [
            path
            for place in (folder, folder / ARCHIVE)
            if place.is_dir()
            for path in sorted(place.iterdir())
            if path.is_file() and pattern.fullmatch(path.name)
        ]

    def rows(self, section: FileProfile, path: Path) -> list[dict[str, str]]:
        """A written file's data rows, read by hand (not by the connector's reader)."""
        data = path.read_bytes()
        if section.format == "xml":
            assert section.xml is not None
            q = section.xml.qname
            root = etree.fromstring(data)
            return [
                {"CaseKey": element.findtext(q("CaseKey")) or ""}
                for element in root.iter(q(section.xml.record))
            ]
        text = data.decode(section.encoding)
        if section.format == "csv":
            reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=section.delimiter)
            return list(reader)
        lines = [line for line in text.split(section.line_ending) if line]
        body = lines[1:-1] if section.header_record and section.trailer_record else lines
        out = []
        for line in body:
            start, row = 0, {}
            for column in section.columns:
                width = column.width or 0
                row[column.header] = line[start : start + width].strip()
                start += width
            out.append(row)
        return out

    def case_of(self, row: dict[str, str]) -> str:
        for header in ("case_key", "CaseKey", "CustomerRef"):
            if row.get(header):
                return row[header]
        raise AssertionError(f"no case column in {sorted(row)}")

    def held_cases(self) -> int:
        held: set[tuple[str, str]] = set()  # one row per claim: a case is a case key in a file
        for path in self.files(self.profile.cases):
            held.update((path.name, self.case_of(r)) for r in self.rows(self.profile.cases, path))
        return len(held)

    def held_corrections(self) -> int:
        """Rows in the files of the corrections sections (one per claim a correction names:
        the suite's corrections each name one invoice)."""
        return sum(
            len(self.rows(section, path))
            for section in self.profile.corrections
            for path in self.files(section)
        )

    def calls(self) -> int:
        """Files written, of any section."""
        return sum(len(self.files(section)) for section in self.profile.sections)

    def lose_next_answer(self) -> None:
        self.lose_answer = True

    # --- playing the agency: answering what was sent -----------------------------------------

    def answer_everything(self) -> None:
        """Accept every case and correction written so far, in the profile's return format."""
        keys = self._written_keys()
        returns = self.directory / "returns"
        returns.mkdir(exist_ok=True)
        if self.profile_name == "generic_csv":
            lines = ["idempotency_key;status;agency_ref;reason"]
            lines += [f"{key};accepted;AG-{n};" for n, key in enumerate(keys)]
            (returns / "receipts_0001.csv").write_text("\n".join(lines) + "\n", "utf-8")
        elif self.profile_name == "generic_fixed":
            lines = ["10RECEIPTS"]
            lines += [
                "20" + k.ljust(36) + "ACCEPTED" + f"AG-{n}".ljust(30) for n, k in enumerate(keys)
            ]
            lines.append(f"99{len(keys):09d}")
            (returns / "RECEIPT_0001.DAT").write_bytes("\r\n".join(lines).encode("iso-8859-1"))
        elif self.profile_name == "generic_xml":
            body = "".join(
                f"<Receipt><IdempotencyKey>{k}</IdempotencyKey><Status>accepted</Status>"
                f"<AgencyRef>AG-{n}</AgencyRef></Receipt>"
                for n, k in enumerate(keys)
            )
            trailer = f"<Trailer><Count>{len(keys)}</Count></Trailer>"
            document = f'<ReceiptFile xmlns="{NS}">{body}{trailer}</ReceiptFile>'
            (returns / "receipts_0001.xml").write_text(document, "utf-8")
        else:  # InDebted answers every uploaded foo.csv with foo.csv.err: empty = all fine
            for section in self.profile.sections:
                for path in self.files(section):
                    folder = returns / section.directory
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / f"{path.name}.err").write_text("", "utf-8")

    def _written_keys(self) -> list[str]:
        agency = self.agency()
        agency.written.refresh()
        return sorted(agency.written.index)


def corrections_for(cases: Sequence[Delivery]) -> list[Correction]:
    out = []
    for n, delivery in enumerate(cases):
        claim = delivery.case.claims[0]
        payment = Payment(
            payment_id=f"pay-{n}",
            source=SourceRef(system="files", record_id=f"pay-{n}"),
            amount=Decimal("100.00"),
            currency=claim.currency,
            booking_date=dt.date(2026, 4, 2),
        )
        out.append(
            Correction(
                f"cor-pay-{n}",
                CorrectionKind.PAYMENT,
                delivery.case.case_key,
                delivery.case.case_key,
                invoice_number=claim.invoice_number,
                payment=payment,
            )
        )
        out.append(
            Correction(
                f"cor-withdraw-{n}",
                CorrectionKind.WITHDRAW,
                delivery.case.case_key,
                delivery.case.case_key,
                reason="paid in full",
            )
        )
    return out


class TestFileDropAgencyContract(AgencyContract):
    harness_class: ClassVar[type[AgencyHarness]] = FileDropHarness

    @pytest.fixture(params=PROFILES)
    def harness(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AgencyHarness]:
        harness = FileDropHarness(tmp_path / "agency", request.param)
        with harness.serving():
            yield harness

    def test_corrections_are_sent_once_and_found_again(self, harness: AgencyHarness) -> None:
        assert isinstance(harness, FileDropHarness)
        deliveries = [Delivery(f"case-{i}", c) for i, c in enumerate(make_cases(2))]
        assert {o.status for o in harness.agency().push(deliveries)} == {PushStatus.SENT}
        corrections = corrections_for(deliveries)
        first = harness.agency().correct(corrections)
        assert [o.status for o in first] == [PushStatus.SENT] * len(corrections)
        # a crash before recording: a fresh connector finds every one of them
        fresh = harness.agency()
        for correction in corrections:
            found = fresh.lookup(correction.idempotency_key)
            assert found is not None, correction.idempotency_key
            assert found.status is PushStatus.SENT
        sections = [s for s in harness.profile.corrections if s.kinds]
        written = sum(len(harness.files(s)) for s in sections)
        assert written == 2, "payments and withdrawals each go in one file of their own"

    def test_receipts_come_back_in_the_profiles_return_format(self, harness: AgencyHarness) -> None:
        assert isinstance(harness, FileDropHarness)
        deliveries = [Delivery(f"case-{i}", c) for i, c in enumerate(make_cases(3))]
        harness.agency().push(deliveries)
        harness.agency().correct(corrections_for(deliveries[:1]))
        harness.answer_everything()
        agency = harness.agency()
        updates = list(agency.updates(None))
        accepted = {u.receipt.idempotency_key for u in updates if u.receipt}
        wanted = {d.idempotency_key for d in deliveries} | {"cor-pay-0", "cor-withdraw-0"}
        assert wanted <= accepted
        assert all(u.receipt.status is PushStatus.ACCEPTED for u in updates if u.receipt)
        assert len({u.update_id for u in updates}) == len(updates)
        # recorded up to the last cursor: nothing comes again
        assert list(harness.agency().updates(updates[-1].cursor)) == []
