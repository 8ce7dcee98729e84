"""``claimbridge inspect FILE``: the canonical records a file yields, one JSON object per line.

How an admin debugs a mapping or a bank file: every record the file gives, as the pipeline
would see it after normalization, and every record it would quarantine (on stderr), with
where and why. Nothing is washed, decided or stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from claimbridge.connectors.base import ConnectorContext, Source
from claimbridge.errors import ParseError, RecordError, UsageError

__all__ = ["detect_file_format", "inspect_file"]

TABULAR = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
BANK_FORMATS = ("ocr_giro", "bgmax", "camt054")


def detect_file_format(path: Path) -> str:
    """The reader for ``path``: an export (SAF-T, UBL), a bank file, or an open-items table."""
    from claimbridge.connectors.accounting.export_detect import detect_export_format
    from claimbridge.connectors.banks import detect_format

    if path.is_dir():
        return "ubl"
    bank = detect_format(path)
    if bank is not None:
        return bank
    if path.suffix.lower() == ".xml":
        found = detect_export_format(path)
        if found is None:
            raise ParseError("XML, but neither SAF-T, UBL nor camt.054", file=str(path))
        return found
    tabular = TABULAR.get(path.suffix.lower())
    if tabular is None:
        raise UsageError(f"cannot tell the format of {path.name}; name it with --format")
    return tabular


def inspect_file(path: Path, fmt: str = "auto") -> Iterator[tuple[str, bool]]:
    """Yield ``(json_line, is_problem)``; a whole-file problem raises ParseError."""
    path = path.resolve()
    fmt = detect_file_format(path) if fmt == "auto" else fmt
    if fmt in BANK_FORMATS:
        yield from _payments(path, fmt)
    else:
        source, only = _source(path, fmt)
        yield from _records(source, only)


def _payments(path: Path, fmt: str) -> Iterator[tuple[str, bool]]:
    from claimbridge.connectors.banks import iter_payment_file

    for payment in iter_payment_file(path, fmt):  # type: ignore[arg-type]
        yield _line("payment", payment, None), False


def _source(path: Path, fmt: str) -> tuple[Source, str | None]:
    """A source reading just this file, and the one stream to show (None: all)."""
    context = ConnectorContext(name="inspect", workdir=path.parent)
    source: Source
    only: str | None = None
    if fmt in ("csv", "jsonl"):
        from claimbridge.connectors.accounting.files import OpenItemsFileSource

        role = "invoices" if _is_invoice_table(path, fmt) else "customers"
        settings: dict[str, Any] = {"invoices": path, "format": fmt}
        if role == "customers":
            settings["customers"] = path
        source = OpenItemsFileSource(OpenItemsFileSource.Settings.model_validate(settings), context)
        only = role
    elif fmt == "saft":
        from claimbridge.connectors.accounting.saft import SaftSource

        source = SaftSource(SaftSource.Settings.model_validate({"path": path}), context)
    elif fmt == "ubl":
        from claimbridge.connectors.accounting.ubl import UblSource

        directory, pattern = (path, "*.xml") if path.is_dir() else (path.parent, path.name)
        source = UblSource(
            UblSource.Settings.model_validate({"directory": directory, "pattern": pattern}),
            context,
        )
    else:
        raise UsageError(f"unknown format {fmt!r}")
    return source, only


def _is_invoice_table(path: Path, fmt: str) -> bool:
    with path.open("rb") as fh:
        head = fh.readline(64 * 1024).decode("utf-8-sig", errors="replace")
    return "invoice_number" in head


def _records(source: Source, only: str | None) -> Iterator[tuple[str, bool]]:
    try:
        for stream in source.streams():
            if only and stream.name != only:
                continue
            for page in source.read(stream, None):
                for record in page.records:
                    try:
                        models = source.normalize(stream, record)
                    except RecordError as exc:
                        yield _problem(record.location, exc.reasons), True
                        continue
                    except ValidationError as exc:
                        reasons = [
                            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                            for e in exc.errors(include_input=False)
                        ]
                        yield _problem(record.location, reasons), True
                        continue
                    for model in models:
                        yield _line(type(model).__name__.lower(), model, record.location), False
    finally:
        source.close()


def _line(kind: str, model: BaseModel, location: str | None) -> str:
    data: dict[str, Any] = {"type": kind}
    if location:
        data["location"] = location
    data.update(model.model_dump(mode="json"))
    return json.dumps(data, ensure_ascii=False)


def _problem(location: str, reasons: list[str]) -> str:
    return json.dumps({"quarantined": location, "reasons": reasons}, ensure_ascii=False)
