"""Return files: what the agency drops for us, read by a profile's ``[[returns]]`` entries.

Each entry names a directory and a file pattern, a format (CSV, fixed width or XML) and what
the files say:

- ``receipts``: one row per delivery we sent: our idempotency key, accepted or rejected, the
  agency's reference, the reason;
- ``errors``: an answer to one file we uploaded that lists only the rows that failed (the
  file is named after ours plus a suffix; every other delivery in ours was accepted);
- ``status``: status changes and messages per case;
- ``settlements``: pay-outs, one line per payment, itemized where the file itemizes.

A file that cannot be read is one :class:`ParseError` naming the file and the line; nothing of
it is used (each file is read whole before anything in it is handed on). The declarations are
in :mod:`._return_specs`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from claimbridge import xmlsafe
from claimbridge.connectors.agencies._return_specs import REQUIRED, FieldSpec, ReturnSource
from claimbridge.connectors.base import AgencyUpdate, PushOutcome, PushStatus
from claimbridge.errors import ParseError
from claimbridge.schemas import CaseEvent, Settlement, SettlementLine
from claimbridge.schemas.event import Direction, EventKind

if TYPE_CHECKING:
    pass

__all__ = ["MAX_RETURN_BYTES", "Record", "error_receipts", "read_records", "updates_from"]

MAX_RETURN_BYTES = 256 * 1024 * 1024
Record = dict[str, str]

_AMOUNT = re.compile(r"-?\d{1,18}(?:[.,]\d{1,10})?")
_MINOR = re.compile(r"-?\d{1,20}")


# --- reading ----------------------------------------------------------------------------------


def read_records(path: Path, source: ReturnSource, name: str) -> list[tuple[int, Record]]:
    """Every record of a return file with its line number, fields named as the source says
    (``errors`` files keep every column by header). Raises ParseError naming file and line."""
    try:
        size = path.stat().st_size
        if size > MAX_RETURN_BYTES:
            raise ParseError(f"larger than {MAX_RETURN_BYTES} bytes", file=name)
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read: {exc.strerror}", file=name) from None
    if source.format == "xml":
        return _xml_records(data, source, name)
    text = _decode(data, source.encoding, name)
    if source.format == "fixed":
        return _fixed_records(text, source, name)
    return _csv_records(text, source, name)


def _decode(data: bytes, encoding: str, name: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ParseError(f"not valid {encoding}", file=name, line=line) from None
    return text.removeprefix("\ufeff")


def _csv_records(text: str, source: ReturnSource, name: str) -> list[tuple[int, Record]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=source.delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return []
        header = [h.strip() for h in header]
        if source.kind == "errors":
            wanted = [source.reason, source.match]
        else:  # optional fields may have no column at all
            wanted = [source.fields[f].column for f in REQUIRED[source.kind]]
            wanted = [w for w in wanted if w]
        missing = [w for w in wanted if w not in header]
        if missing:
            raise ParseError("missing column", file=name, line=1, field=missing[0])
        index = {h: i for i, h in enumerate(header)}
        out = []
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ParseError(
                    f"{len(row)} columns where the header has {len(header)}", file=name, line=line
                )
            if source.kind == "errors":
                out.append((line, {h: row[i].strip() for h, i in index.items()}))
                continue
            record = {}
            for key, spec in source.fields.items():
                if spec.const is not None:
                    record[key] = spec.const
                elif spec.column in index:
                    record[key] = row[index[spec.column]].strip()
            out.append((line, record))
        return out
    except csv.Error as exc:
        raise ParseError(f"unreadable CSV ({exc})", file=name, line=reader.line_num) from None


def _fixed_records(text: str, source: ReturnSource, name: str) -> list[tuple[int, Record]]:
    out = []
    trailer_count: int | None = None
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if source.trailer is not None and source.trailer.matches(line):
            if source.count is not None:
                trailer_count = _count(_slice(line, source.count), name, line_number)
            continue
        if source.detail is not None and not source.detail.matches(line):
            continue
        record = {
            key: spec.const if spec.const is not None else _slice(line, spec).strip()
            for key, spec in source.fields.items()
        }
        out.append((line_number, record))
    _check_count(source, trailer_count, len(out), name)
    return out


def _xml_records(data: bytes, source: ReturnSource, name: str) -> list[tuple[int, Record]]:
    root = xmlsafe.parse_bytes(data, name=name)
    if source.xsd is not None:
        from claimbridge.connectors.agencies._xml import load_schema

        schema = load_schema(source.xsd)
        if not schema.validate(root.getroottree()):
            entry = schema.error_log[0]
            raise ParseError(f"does not validate ({entry.type_name})", file=name, line=entry.line)
    ns = source.namespace

    def q(local: str) -> str:
        return f"{{{ns}}}{local}" if ns else local

    out = []
    for element in root.iter(q(source.record)):
        record = {}
        for key, spec in source.fields.items():
            value = spec.const if spec.const is not None else _xml_value(element, spec.column, q)
            record[key] = (value or "").strip()
        out.append((element.sourceline or 0, record))
    trailer_count = None
    if source.count is not None:
        text = _xml_value(root, source.count.column, q)
        if text is None:
            raise ParseError("the record count is missing", file=name, field=source.count.column)
        trailer_count = _count(text, name, None)
    _check_count(source, trailer_count, len(out), name)
    return out


def _xml_value(element: Any, path: str, q: Any) -> str | None:
    *parents, last = path.split("/")
    node = element
    for step in parents:
        node = node.find(q(step))
        if node is None:
            return None
    if last.startswith("@"):
        return node.get(last[1:])  # type: ignore[no-any-return]
    return node.findtext(q(last))  # type: ignore[no-any-return]


def _slice(line: str, spec: FieldSpec) -> str:
    return line[spec.start : spec.start + spec.width]


def _count(text: str, name: str, line: int | None) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ParseError("the record count is not a number", file=name, line=line) from None


def _check_count(source: ReturnSource, counted: int | None, found: int, name: str) -> None:
    if source.count is None:
        return
    if counted is None:
        raise ParseError("no trailer with the record count: the file may be cut off", file=name)
    if counted != found:
        raise ParseError(
            f"the trailer counts {counted} records, the file holds {found}: it may be cut off",
            file=name,
        )


# --- meaning ----------------------------------------------------------------------------------


def updates_from(
    records: Sequence[tuple[int, Record]],
    source: ReturnSource,
    name: str,
    *,
    agency: str,
    currency: str | None,
) -> list[AgencyUpdate]:
    """Receipts, events or settlements from a file's records (``errors`` files excepted:
    they need the file they answer, see :func:`error_receipts`)."""
    if source.kind == "receipts":
        return [
            _receipt(line, record, source, name, where)
            for (line, record), where in zip(records, _places(records, source), strict=True)
        ]
    if source.kind == "status":
        return [
            _event(line, record, source, name, where)
            for (line, record), where in zip(records, _places(records, source), strict=True)
        ]
    if source.kind == "settlements":
        return _settlements(records, source, name, agency, currency)
    raise AssertionError(f"{source.kind} files are read with the file they answer")


def _places(records: Sequence[tuple[int, Record]], source: ReturnSource) -> list[str]:
    """Where each record is, for its update id: the line, and in XML (where records may
    share a line) the record's number too."""
    if source.format == "xml":
        return [f"{line}.{n}" for n, (line, _) in enumerate(records, start=1)]
    return [str(line) for line, _ in records]


def _update_id(source: ReturnSource, name: str, where: object) -> str:
    return f"{source.name}:{name}:{where}"


def _required(record: Record, key: str, name: str, line: int) -> str:
    value = record.get(key, "")
    if not value:
        raise ParseError("is empty", file=name, line=line, field=key)
    return value


def _receipt(
    line: int, record: Record, source: ReturnSource, name: str, where: str
) -> AgencyUpdate:
    key = _required(record, "idempotency_key", name, line)
    said = _required(record, "status", name, line)
    status = source.values.get(said) or source.values.get(said.lower())
    if status is None:
        raise ParseError("is not a status this profile knows", file=name, line=line, field="status")
    reason = record.get("reason") or None
    outcome = PushOutcome(
        key,
        status,
        agency_ref=record.get("agency_ref") or None,
        reason=reason if status is PushStatus.REJECTED else None,
    )
    return AgencyUpdate(update_id=_update_id(source, name, where), receipt=outcome)


def _event(line: int, record: Record, source: ReturnSource, name: str, where: str) -> AgencyUpdate:
    case_key = _required(record, "case_key", name, line)
    said = _required(record, "status", name, line)
    at = _moment(_required(record, "date", name, line), source.date_format, name, line)
    status = source.statuses.get(said)
    event_id = record.get("event_id") or _update_id(source, name, where)
    try:
        event = CaseEvent(
            event_id=event_id,
            case_key=case_key,
            at=at,
            kind=EventKind.STATUS if status is not None else EventKind.MESSAGE,
            direction=Direction.IN,
            status=status,
            agency_ref=record.get("agency_ref") or None,
            message=record.get("message") or said,
        )
    except ValidationError:
        raise ParseError("not a usable status record", file=name, line=line) from None
    return AgencyUpdate(update_id=_update_id(source, name, where), event=event)


def _moment(text: str, date_format: str, name: str, line: int) -> dt.datetime:
    """A date (midnight UTC) or an RFC 3339 / ISO 8601 timestamp."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = dt.datetime.strptime(text, date_format)
        except ValueError:
            raise ParseError("is not a date", file=name, line=line, field="date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _amount(text: str, source: ReturnSource, name: str, line: int, key: str) -> Decimal:
    try:
        if source.minor:
            if not _MINOR.fullmatch(text):
                raise ValueError(text)
            return Decimal(int(text)).scaleb(-source.minor_digits)
        if not _AMOUNT.fullmatch(text):
            raise ValueError(text)
        return Decimal(text.replace(source.decimal_separator, ".").replace(",", "."))
    except (ValueError, InvalidOperation):
        raise ParseError("is not an amount", file=name, line=line, field=key) from None


def _settlements(
    records: Sequence[tuple[int, Record]],
    source: ReturnSource,
    name: str,
    agency: str,
    currency: str | None,
) -> list[AgencyUpdate]:
    groups: dict[str, list[tuple[int, Record]]] = {}
    first_place: dict[str, str] = {}
    for (line, record), where in zip(records, _places(records, source), strict=True):
        settlement_id = _required(record, "settlement_id", name, line)
        groups.setdefault(settlement_id, []).append((line, record))
        first_place.setdefault(settlement_id, where)
    updates = []
    for settlement_id, rows in groups.items():
        first_line, first = rows[0]
        day = _moment(_required(first, "date", name, first_line), source.date_format, name, 0)
        code = first.get("currency") or currency
        if not code:
            raise ParseError(
                "the file names no currency: set 'currency' in the agency's settings",
                file=name,
                line=first_line,
            )
        lines = []
        for line, record in rows:
            if (record.get("currency") or currency) != code or record.get("date") != first["date"]:
                raise ParseError(
                    "one settlement with two dates or currencies", file=name, line=line
                )
            lines.append(_settlement_line(line, record, source, name))
        try:
            settlement = Settlement(
                settlement_id=settlement_id,
                agency=agency,
                settlement_date=day.date(),
                currency=code,
                lines=tuple(lines),
            )
        except ValidationError:
            raise ParseError("not a usable settlement", file=name, line=first_line) from None
        updates.append(
            AgencyUpdate(
                update_id=_update_id(source, name, first_place[settlement_id]),
                settlement=settlement,
            )
        )
    return updates


def _settlement_line(line: int, record: Record, source: ReturnSource, name: str) -> SettlementLine:
    parts = {}
    for key in ("principal", "interest", "fees", "total", "commission"):
        text = record.get(key, "")
        if text:
            parts[key] = _amount(text, source, name, line, key)
    if not parts.keys() & {"principal", "interest", "fees", "total"}:
        raise ParseError("has no amount", file=name, line=line, field="total")
    if "total" not in parts:
        parts["total"] = sum(
            (parts.get(k, Decimal(0)) for k in ("principal", "interest", "fees")), Decimal(0)
        )
    elif not parts.keys() & {"principal", "interest", "fees"}:
        parts["principal"] = parts["total"]  # the file does not itemize: all of it is principal
    try:
        return SettlementLine(
            line_id=record.get("line_id") or f"{name}:{line}",
            case_key=record.get("case_key") or None,
            agency_ref=record.get("agency_ref") or None,
            invoice_number=record.get("invoice_number") or None,
            **parts,
        )
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "amounts"
        raise ParseError(
            "not a usable settlement line", file=name, line=line, field=where
        ) from None


def error_receipts(
    records: Sequence[tuple[int, Record]],
    answered: Iterable[tuple[str, Record]],
    source: ReturnSource,
    name: str,
) -> list[AgencyUpdate]:
    """Receipts for every delivery in the file an ``errors`` file answers: rejected with the
    reasons of its failed rows, accepted when none of its rows failed."""
    failed: dict[str, list[str]] = {}
    for line, record in records:
        ref = record.get(source.match, "")
        if not ref:
            raise ParseError("is empty", file=name, line=line, field=source.match)
        failed.setdefault(ref, []).append(record.get(source.reason, "") or "rejected")
    by_key: dict[str, tuple[list[str], str | None]] = {}
    known: set[str] = set()
    for key, record in answered:
        ref = record.get(source.match, "")
        known.add(ref)
        reasons, agency_ref = by_key.setdefault(
            key, ([], record.get(source.agency_ref) or None if source.agency_ref else None)
        )
        for reason in failed.get(ref, ()):
            if reason not in reasons:
                reasons.append(reason)
    strangers = [line for line, r in records if r.get(source.match, "") not in known]
    if strangers:
        raise ParseError(
            f"names a row that is not in {source.answered(name)}", file=name, line=strangers[0]
        )
    updates = []
    for key, (reasons, agency_ref) in by_key.items():
        status = PushStatus.REJECTED if reasons else PushStatus.ACCEPTED
        outcome = PushOutcome(
            key, status, agency_ref=agency_ref, reason="; ".join(reasons) if reasons else None
        )
        updates.append(AgencyUpdate(update_id=_update_id(source, name, key), receipt=outcome))
    return updates
