"""The file-drop agency: cases and corrections written as files the agency collects, locally
or over SFTP, and the agency's return files read back as updates.

What goes in a file is declared by a file profile (see :mod:`._profiles` and
:mod:`._profile_loader`): one section for new cases and one per kind of correction file
(direct payments and reductions, withdrawals, …), each with its own directory and file names.
Files appear atomically (written to ``.<name>.tmp``, fsynced, renamed), so nobody picks up half
a file. A file drop has no synchronous acceptance: a delivered case or correction comes back
``SENT``; the agency's receipts come later through :meth:`FileDropAgency.updates`.

Without ``sftp`` the drop directory is where the agency collects. After a crash between writing
and recording, :meth:`FileDropAgency.lookup` finds the idempotency key in the files already there
(and in ``archive/``), so nothing is written twice. A format with no column for our key keeps
the keys of each file in a manifest (``.keys/<file>.keys``), written before the file appears.

With ``sftp`` the directory is the local outbox and the record of what was sent: a file is
written there first, then carried (:mod:`._drop_carrier`): encrypted and signed when ``pgp`` is
set (only the ``.pgp`` file is uploaded), uploaded under a temporary name and renamed, and only
then named in ``.sftp/uploaded.log``. An item counts as sent only when its file is in that
log. An upload that fails leaves its items ``RETRYABLE``; the next push of the same items finds
them in the file already written and uploads that file again, so nothing ends up in two files.

Return files go through a journal (:mod:`._drop_returns`) and are archived on the server only
on a later :meth:`~FileDropAgency.updates` call whose ``since`` has passed them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar

from claimbridge.connectors.agencies._drop_carrier import DropCarrier
from claimbridge.connectors.agencies._drop_index import WrittenFiles
from claimbridge.connectors.agencies._drop_returns import (
    JOURNAL,
    ReturnJournal,
    ReturnReader,
)
from claimbridge.connectors.agencies._drop_settings import FileDropSettings, PgpSettings
from claimbridge.connectors.agencies._layouts import (
    CellError,
    FileInfo,
    clean_row,
)
from claimbridge.connectors.agencies._profile_loader import DropProfile, load_drop_profile
from claimbridge.connectors.agencies._profiles import (
    ARCHIVE,
    KEY_PATH,
    PROFILES_DIR,
    WRITERS,
    CorrectionItem,
    CsvWriter,
    FileProfile,
    FileWriter,
    Item,
    load_profile,
)
from claimbridge.connectors.agencies._xml import XmlWriter, XsdInvalid
from claimbridge.connectors.base import (
    Agency,
    AgencyCapabilities,
    AgencyUpdate,
    CheckItem,
    CheckKind,
    CheckResult,
    ConnectorContext,
    ConnectorSettings,
    Correction,
    CorrectionKind,
    Delivery,
    NotSupportedError,
    PushOutcome,
    PushStatus,
)
from claimbridge.errors import (
    ConfigError,
    ConnectorError,
    MappingError,
    UnreachableError,
)
from claimbridge.transport.sftp import SftpConnection

__all__ = [
    "ARCHIVE",
    "KEY_PATH",
    "PROFILES_DIR",
    "WRITERS",
    "CsvWriter",
    "DropProfile",
    "FileDropAgency",
    "FileDropSettings",
    "FileProfile",
    "FileWriter",
    "PgpSettings",
    "load_drop_profile",
    "load_profile",
]

log = logging.getLogger(__name__)

RETURNS = "returns"  # without sftp: where the agency leaves return files


@dataclass(slots=True)
class _Written:
    """One batch as written: the file (None when every item was refused), what went into it,
    and the items refused with their reasons."""

    name: str | None
    items: Sequence[Item]
    rejected: dict[str, str] = field(default_factory=dict)


class FileDropAgency(Agency):
    """Writes cases and corrections as profile-driven files, uploads them when configured, and
    reads the agency's return files back as updates."""

    type_name: ClassVar[str] = "file_drop"
    Settings: ClassVar[type[ConnectorSettings]] = FileDropSettings

    @classmethod
    def config_example(cls, profile: str = "generic_csv") -> str:
        """The ``claimbridge init`` block: a local drop that works as written, and how to add
        SFTP; ``--agency file_drop:<profile>`` picks the profile."""
        try:
            drop = load_drop_profile(profile)
        except MappingError as exc:
            packaged = sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))
            raise ConfigError(f"{exc}; packaged profiles: {', '.join(packaged)}") from None
        lines = [
            f"# {drop.description or 'File profile ' + profile}.",
            "# The local outbox and record of what was sent; it holds debtor data: keep it 0700.",
            f'directory = "drop/{profile}"',
            "# File profile: generic_csv, generic_fixed, generic_xml, indebted_csv, or a path.",
            f"profile = {json.dumps(profile)}",
            "# Items per file (optional; default shown).",
            "# batch_size = 5000",
        ]
        if any(r.kind == "settlements" and "currency" not in r.fields for r in drop.returns):
            lines += [
                "# The agency's return files carry no currency: amounts are in this one.",
                'currency = "NOK"',
            ]
        else:
            lines += ["# Currency of return-file amounts when a file names none.", "# currency ="]
        lines += [
            "# Deliver over SFTP: add an [agencies.<name>.sftp] table with host, username,",
            "# private_key_path (mode 0600), known_hosts_path or host_key_fingerprint, remote_dir,",
            "# return_dir and archive_dir (docs/transports.md); encrypt with a .pgp table",
            "# (docs/file-drop.md). Without it files stay in `directory` for a local pickup.",
        ]
        lines += [f"# {line}".rstrip() for line in drop.setup.splitlines()]
        return "\n".join(lines) + "\n"

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, FileDropSettings)
        self.options: FileDropSettings = settings
        self.directory = self._local(settings.directory)
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        self._drop: DropProfile | None = None
        self._written: WrittenFiles | None = None
        self.carrier = DropCarrier(
            self.directory,
            sftp=settings.sftp,
            pgp=settings.pgp,
            pgp_home=self._local(settings.pgp.home) if settings.pgp is not None else None,
            connector=context.name,
            type_name=self.type_name,
        )

    @property
    def capabilities(self) -> AgencyCapabilities:  # type: ignore[override]
        try:
            kinds = self.drop_profile.kinds
        except MappingError:
            kinds = frozenset()
        return AgencyCapabilities(
            file_drop=True,
            lookup=True,
            idempotency_keys=False,
            batch_size=self.options.batch_size,
            report_payments=CorrectionKind.PAYMENT in kinds,
            reduce=CorrectionKind.REDUCE in kinds,
            withdraw=CorrectionKind.WITHDRAW in kinds,
            pause={CorrectionKind.PAUSE, CorrectionKind.RESUME} <= kinds,
        )

    @property
    def resendable_corrections(self) -> frozenset[CorrectionKind]:
        """Every kind the profile carries: ``lookup`` finds every correction delivered (its key
        is in a written, and with ``sftp`` uploaded, file), so one it does not find never
        reached the agency, and sending it again re-uploads the file already written."""
        try:
            return self.drop_profile.kinds
        except MappingError:
            return frozenset()

    @property
    def drop_profile(self) -> DropProfile:
        """The whole profile: cases, corrections sections, return files."""
        if self._drop is None:
            self._drop = load_drop_profile(self.options.profile)
        return self._drop

    @property
    def profile(self) -> FileProfile:
        """The cases section of the profile."""
        return self.drop_profile.cases

    @property
    def written(self) -> WrittenFiles:
        """What the files in the drop directory say (keys, rows, claims of a case)."""
        if self._written is None:
            self._written = WrittenFiles(self.directory, self.drop_profile)
        return self._written

    def close(self) -> None:
        self.carrier.close()

    def _local(self, path: Path) -> Path:
        return path if path.is_absolute() else self.context.workdir / path

    # --- check ----------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """The directory and profile; with ``sftp`` the server and every directory the profile
        writes to or reads from; with ``pgp`` the pinned keys."""
        items = []
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            writable = os.access(self.directory, os.W_OK | os.X_OK)
            message = "directory is writable" if writable else "directory is not writable"
        except OSError as exc:
            writable, message = False, f"cannot create directory: {exc.strerror or exc}"
        items.append(CheckItem(CheckKind.PERMISSION, writable, message))
        profile: DropProfile | None
        try:
            profile = self.drop_profile
        except MappingError as exc:
            profile = None
            items.append(CheckItem(CheckKind.CONFIG, False, str(exc)))
        else:
            items.append(CheckItem(CheckKind.CONFIG, True, f"profile {profile.name} loaded"))
        if self.options.sftp is not None:
            uploads = [s.directory for s in profile.sections] if profile else [""]
            returns = [r.directory for r in profile.returns] if profile else []
            connection = SftpConnection(self.options.sftp, connector=self.context.name)
            items.extend(connection.check(upload_dirs=uploads, return_dirs=returns or [""]))
        items.extend(self.carrier.check_keys())
        return CheckResult(connector=self.context.name, items=tuple(items))

    # --- push and correct -----------------------------------------------------------------

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        """One file per ``batch_size`` new deliveries; ``SENT`` once the file is delivered,
        with the case key as the agency reference: it is what the files name the case by,
        until a receipt names the agency's own reference."""
        if not deliveries:
            return []
        outcomes = self._send(self.profile, deliveries)
        answered = []
        for delivery in deliveries:
            outcome = outcomes[delivery.idempotency_key]
            if outcome.status is PushStatus.SENT and outcome.agency_ref is None:
                outcome = dataclasses.replace(outcome, agency_ref=delivery.case_key)
            answered.append(outcome)
        return answered

    def correct(self, corrections: Sequence[Correction]) -> list[PushOutcome]:
        """One file per corrections section (and ``batch_size``) with the corrections of the
        kinds it carries; ``SENT`` once delivered, with the same lookup and re-upload rules as
        cases. A whole-case correction in a per-claim section is written for every claim the
        case files show; when they show none it is refused with the reason."""
        if not corrections:
            return []
        profile = self.drop_profile
        missing = sorted({c.kind.value for c in corrections} - {k.value for k in profile.kinds})
        if missing:
            raise NotSupportedError(
                f"profile {profile.name} has no file for {', '.join(missing)} corrections",
                connector=self.type_name,
            )
        outcomes: dict[str, PushOutcome] = {}
        batches: dict[str, list[CorrectionItem]] = {}
        seen: set[str] = set()
        for correction in corrections:
            key = correction.idempotency_key
            if key in seen:  # the same correction twice in one batch is written once
                continue
            seen.add(key)
            section = profile.section_for(correction.kind)
            assert section is not None
            refs, reason = self._claim_refs(section, correction)
            if reason is not None:
                outcomes[key] = PushOutcome(key, PushStatus.REJECTED, reason=reason)
                continue
            batches.setdefault(section.kind, []).append(CorrectionItem(correction, refs))
        for name, items in batches.items():
            section = profile.section(name)
            assert section is not None
            outcomes.update(self._send(section, items))
        return [outcomes[c.idempotency_key] for c in corrections]

    def _claim_refs(
        self, section: FileProfile, correction: Correction
    ) -> tuple[tuple[str | None, ...], str | None]:
        invoice = correction.invoice_number
        if invoice is None and correction.credit_note is not None:
            invoice = correction.credit_note.invoice_number
        if invoice is None and correction.payment is not None:
            invoice = correction.payment.invoice_number
        if invoice is not None or not section.per_claim:
            return (invoice,), None
        claims = self.written.case_claims(correction.case_key)
        if not claims:
            return (), (
                f"the {section.kind} file names each claim, and the case files written here "
                f"show none for case {correction.case_key}: name the invoice"
            )
        return tuple(claims), None

    def _send(self, profile: FileProfile, items: Sequence[Item]) -> dict[str, PushOutcome]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConnectorError(
                f"cannot create the drop directory: {exc.strerror}", connector=self.type_name
            ) from None
        if self.options.sftp is not None:
            return self._push_over_sftp(profile, items)
        outcomes = {}
        for written in self._write_batches(profile, items):
            for item in written.items:
                if self.written.indexed and written.name is not None:
                    self.written.index[item.idempotency_key] = written.name
                outcomes[item.idempotency_key] = PushOutcome(item.idempotency_key, PushStatus.SENT)
            outcomes.update(_refusals(written))
        return outcomes

    def _push_over_sftp(
        self, profile: FileProfile, items: Sequence[Item]
    ) -> dict[str, PushOutcome]:
        """Items already uploaded are ``SENT`` as they are; those in a file written but not
        uploaded go up with that file; only the rest are written into new files."""
        self.written.refresh()
        uploaded = self.carrier.uploaded()
        outcomes: dict[str, PushOutcome] = {}
        waiting: dict[str, list[Item]] = {}
        new: list[Item] = []
        for item in items:
            key = item.idempotency_key
            name = self.written.index.get(key)
            if name is None:
                new.append(item)
            elif name in uploaded:
                outcomes[key] = PushOutcome(key, PushStatus.SENT)
            else:
                waiting.setdefault(name, []).append(item)
        if waiting or new:
            connection = self.carrier.connection()  # a refused key or auth raises before writing
            for written in self._write_batches(profile, new):
                outcomes.update(_refusals(written))
                if written.name is None:
                    continue
                waiting[written.name] = list(written.items)
                for item in written.items:
                    self.written.index[item.idempotency_key] = written.name
            for name in sorted(waiting):
                try:
                    self.carrier.upload(connection, name)
                except ConnectorError as exc:
                    if isinstance(exc, UnreachableError):  # the rest fail fast, not open
                        self.carrier.drop_connection()
                    log.warning("upload of %s failed, retried on the next push: %s", name, exc)
                    reason = f"upload of {name} failed: {exc}"
                    for item in waiting[name]:
                        key = item.idempotency_key
                        outcomes[key] = PushOutcome(key, PushStatus.RETRYABLE, reason=reason)
                    continue
                self.carrier.record_upload(name)
                for item in waiting[name]:
                    key = item.idempotency_key
                    outcomes[key] = PushOutcome(key, PushStatus.SENT)
        return outcomes

    def _write_batches(self, profile: FileProfile, items: Sequence[Item]) -> Iterator[_Written]:
        size = self.options.batch_size
        for start in range(0, len(items), size):
            yield self._write(profile, items[start : start + size])

    def _write(self, profile: FileProfile, batch: Sequence[Item]) -> _Written:
        """Write one batch as one file. CSV rows go straight to the file; anything that cannot
        be written as it is (a width, an encoding, an amount) sends the batch through the
        screened path, where each item is checked and an unwritable one refused alone."""
        if profile.format == "csv" and not any(c.width or c.required for c in profile.columns):
            keys: list[str] | None = [] if profile.manifest else None
            try:
                return _Written(
                    self._write_file(profile, _stream_rows(profile, batch, keys), keys), batch
                )
            except (UnicodeEncodeError, CellError):
                pass  # the screened path names the item and the column
        kept, rejected = _screen(profile, batch)
        while kept:
            keys = [item.idempotency_key for item, rows in kept for _ in rows]
            rows = (row for _, item_rows in kept for row in item_rows)
            try:
                name = self._write_file(profile, rows, keys if profile.manifest else None)
            except XsdInvalid as exc:
                # the profile loaded only after its layout validated a complete sample, so a
                # record refused now is refused for its values: it alone is rejected
                if exc.outside:
                    raise MappingError(
                        f"written {profile.kind} file does not validate against its XSD: {exc}",
                        mapping=profile.name,
                    ) from None
                owners = _row_owners(kept)
                reasons: dict[int, str] = {}
                for row, reason in exc.problems.items():
                    reasons.setdefault(owners[row], reason)
                for index, reason in reasons.items():
                    key = kept[index][0].idempotency_key
                    rejected[key] = f"does not validate against the XSD: {reason}"
                kept = [entry for index, entry in enumerate(kept) if index not in reasons]
                continue
            return _Written(name, [item for item, _ in kept], rejected)
        return _Written(None, [], rejected)

    def _next_name(self, profile: FileProfile) -> tuple[str, FileInfo]:
        """The section's next file: sequence numbers go on from the highest on disk (the
        directory, its archive) and in the upload record, per day when names carry the date."""
        today, now = self.context.today, self.clock()
        pattern = profile.file_pattern(today if profile.daily_sequence else None)
        folder = self.directory / profile.directory
        highest = 0
        for place in (folder, folder / ARCHIVE):
            if place.is_dir():
                for entry in os.scandir(place):
                    match = pattern.fullmatch(entry.name)
                    if match:
                        highest = max(highest, int(match.group(1)))
        if self.options.sftp is not None:
            for name in self.carrier.uploaded():
                path = PurePosixPath(name)
                if str(path.parent) in (profile.directory or ".",):
                    match = pattern.fullmatch(path.name)
                    if match:
                        highest = max(highest, int(match.group(1)))
        seq = highest + 1
        name = profile.file_name(today, now, seq)
        relative = f"{profile.directory}/{name}" if profile.directory else name
        return relative, FileInfo(today, seq, now)

    def _write_file(
        self, profile: FileProfile, rows: Iterator[list[str]], keys: list[str] | None
    ) -> str:
        name, info = self._next_name(profile)
        final = self.directory / name
        temporary = final.with_name(f".{final.name}.tmp")
        writer = WRITERS[profile.format]
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            if writer.binary:
                with temporary.open("wb") as binary:
                    writer.write(binary, profile, rows, info)
                    binary.flush()
                    os.fsync(binary.fileno())
            else:
                with temporary.open(
                    "w", encoding=profile.encoding, errors="strict", newline=""
                ) as stream:
                    writer.write(stream, profile, rows, info)
                    stream.flush()
                    os.fsync(stream.fileno())
            if profile.xml is not None:
                XmlWriter.validate(temporary, profile)
            if keys is not None:
                self.written.write_manifest(name, keys)
            os.replace(temporary, final)
            _fsync_directory(final.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise ConnectorError(
                f"writing {name} failed: {exc.strerror or exc}", connector=self.type_name
            ) from None
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise
        return name

    # --- uploading ------------------------------------------------------------------------

    # --- return files ---------------------------------------------------------------------

    def updates(self, since: str | None) -> Iterator[AgencyUpdate]:
        """Receipts, status changes and settlements from the agency's return files, in the
        order the files arrived, each with a cursor (``"<arrival>:<n>"``).

        Files whose updates ``since`` has passed are archived (on the server with ``sftp``)
        at the start of this call, never earlier: store the cursor only after recording what
        came before it. A file that cannot be read raises ParseError naming it and stays."""
        reader = ReturnReader(
            self.drop_profile.returns,
            ReturnJournal(self.directory / JOURNAL),
            local_root=self.directory / RETURNS,
            remote=self.carrier.returns() if self.options.sftp is not None else None,
            answered=self.written.answered,
            agency=self.context.name,
            currency=self.options.currency,
        )
        try:
            yield from reader.updates(since)
        except UnreachableError:
            self.carrier.drop_connection()
            raise

    # --- lookup ---------------------------------------------------------------------------

    def lookup(self, idempotency_key: str, agency_ref: str | None = None) -> PushOutcome | None:
        """``SENT`` if a delivered file holds the key (a case or a correction), else None.

        Delivered means: in its section's directory or ``archive/``, and with ``sftp`` also
        named in the upload record (a file written but not uploaded is not at the agency)."""
        name = self.written.find(idempotency_key)
        if name is None:
            return None
        if self.options.sftp is not None and name not in self.carrier.uploaded():
            return None
        return PushOutcome(idempotency_key, PushStatus.SENT)


def _stream_rows(
    profile: FileProfile, batch: Sequence[Item], keys: list[str] | None
) -> Iterator[list[str]]:
    if keys is None:
        return (row for item in batch for row in profile.rows(item))
    return _rows_with_keys(profile, batch, keys)


def _rows_with_keys(
    profile: FileProfile, batch: Sequence[Item], keys: list[str]
) -> Iterator[list[str]]:
    for item in batch:
        for row in profile.rows(item):
            keys.append(item.idempotency_key)
            yield row


def _screen(
    profile: FileProfile, batch: Sequence[Item]
) -> tuple[list[tuple[Item, list[list[str]]]], dict[str, str]]:
    """Each item's rows, fitted to the file; an item with a value that cannot be written is
    refused with the column and the rule (never the value)."""
    kept: list[tuple[Item, list[list[str]]]] = []
    rejected: dict[str, str] = {}
    for item in batch:
        try:
            rows = list(profile.rows(item))
            for row in rows:
                clean_row(profile, row)
        except CellError as exc:
            rejected[item.idempotency_key] = f"cannot be written in the {profile.kind} file: {exc}"
            continue
        kept.append((item, rows))
    return kept, rejected


def _row_owners(kept: Sequence[tuple[Item, list[list[str]]]]) -> list[int]:
    """For each written row, the index of the item it belongs to."""
    return [index for index, (_, rows) in enumerate(kept) for _ in rows]


def _refusals(written: _Written) -> dict[str, PushOutcome]:
    return {
        key: PushOutcome(key, PushStatus.REJECTED, reason=reason)
        for key, reason in written.rejected.items()
    }


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
