"""The bank-file payment feed: format detection, new-file tracking, a bounded cursor."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import claimbridge.connectors.banks as banks
from claimbridge.connectors.banks import (
    BankFileFeed,
    BankFileSettings,
    detect_format,
    parse_payment_file,
)
from claimbridge.connectors.base import ConnectorContext, PaymentFeed
from claimbridge.errors import ParseError, StateError

LOCAL = Path(__file__).resolve().parent.parent / "fixtures" / "payments"
BGMAX = LOCAL / "bgmax-deductions-extra-refs.txt"
CAMT = LOCAL / "camt054-v08-booked-pending.xml"
DAY_NS = 86_400 * 10**9


def test_public_names() -> None:
    assert banks.__all__ == [
        "FORMATS",
        "BankFileFeed",
        "BankFileSettings",
        "CamtSummary",
        "CamtTransaction",
        "detect_format",
        "iter_payment_file",
        "parse_payment_file",
    ]
    assert issubclass(BankFileFeed, PaymentFeed)


def test_detect_format(tmp_path: Path, external_fixtures: Path) -> None:
    payments = external_fixtures / "payments"
    assert detect_format(payments / "nets-ocr-giro-transactions.txt") == "ocr_giro"
    assert detect_format(payments / "bgmax-example-4.txt") == "bgmax"
    assert detect_format(payments / "camt054-v2.xml") == "camt054"
    assert detect_format(payments / "camt054-v4.xml") == "camt054"
    other = tmp_path / "other.txt"
    other.write_text("hello")
    assert detect_format(other) is None
    with pytest.raises(ParseError, match="not a payment file"):
        parse_payment_file(other)


def test_parse_payment_file_detects_and_dispatches() -> None:
    assert len(parse_payment_file(BGMAX)) == 5
    assert len(parse_payment_file(CAMT)) == 3
    with pytest.raises(ParseError):
        parse_payment_file(CAMT, "bgmax")  # told the wrong format


def _feed(directory: Path, **settings: object) -> BankFileFeed:
    config = BankFileSettings(directory=directory, **settings)  # type: ignore[arg-type]
    return BankFileFeed(config, ConnectorContext(name="bank"))


def _place(source: Path, directory: Path, name: str, mtime_ns: int) -> Path:
    target = directory / name
    shutil.copyfile(source, target)
    os.utime(target, ns=(mtime_ns, mtime_ns))
    return target


def test_reads_new_files_once(tmp_path: Path) -> None:
    base = 1_700_000_000 * 10**9
    _place(BGMAX, tmp_path, "a.bgmax", base)
    _place(CAMT, tmp_path, "b.xml", base + 1)
    feed = _feed(tmp_path)
    first = list(feed.payments(None))
    assert len(first) == 8
    cursors = [c for _, c in first]
    assert cursors[:4] == [None] * 4  # not safe to store inside a file
    assert cursors[4] is not None
    assert cursors[5:7] == [None, None]
    final = cursors[-1]
    assert final is not None
    assert list(feed.payments(final)) == []  # nothing new
    _place(BGMAX, tmp_path, "c.bgmax", base + 2)  # same content under a new name: read again
    again = list(feed.payments(final))
    assert len(again) == 5
    assert {p.payment_id for p, _ in again} <= {p.payment_id for p, _ in first}  # deduplicable


def test_cursor_is_bounded_by_retention(tmp_path: Path) -> None:
    base = 1_700_000_000 * 10**9
    cursor = None
    for day in range(30):
        _place(BGMAX, tmp_path, f"file-{day:02d}.bgmax", base + day * DAY_NS)
        for _, next_cursor in _feed(tmp_path, retention_days=5).payments(cursor):
            cursor = next_cursor or cursor
    assert cursor is not None
    files = json.loads(cursor)["files"]
    assert 5 <= len(files) <= 6
    assert files[-1][1] == "file-29.bgmax"
    # files older than the window are not read again
    assert list(_feed(tmp_path, retention_days=5).payments(cursor)) == []


def test_broken_file_yields_nothing_and_raises(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bgmax"
    lines = BGMAX.read_bytes().split(b"\r\n")
    broken.write_bytes(b"\r\n".join(lines[:-2]))  # no end record
    with pytest.raises(ParseError, match="truncated"):
        list(_feed(tmp_path).payments(None))
    streamed: list[tuple[object, str | None]] = []
    stream = _feed(tmp_path, verify_first=False).payments(None)
    with pytest.raises(ParseError):
        streamed.extend(stream)
    assert all(cursor is None for _, cursor in streamed)  # the cursor never moved past it


def test_pattern_and_fixed_format(tmp_path: Path) -> None:
    _place(BGMAX, tmp_path, "in.bgmax", 10**18)
    _place(CAMT, tmp_path, "in.xml", 10**18)
    assert len(list(_feed(tmp_path, pattern="*.xml", format="camt054").payments(None))) == 3


def test_unreadable_cursor(tmp_path: Path) -> None:
    with pytest.raises(StateError):
        list(_feed(tmp_path).payments("{not json"))
    with pytest.raises(StateError):
        list(_feed(tmp_path).payments('{"v": 99, "files": []}'))


def test_check(tmp_path: Path) -> None:
    assert _feed(tmp_path).check().ok
    result = _feed(tmp_path / "missing", schema_dir=tmp_path / "nope").check()
    assert not result.ok
    assert [item.ok for item in result.items] == [False, False]


def test_unknown_setting_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="extra"):
        BankFileSettings(directory=tmp_path, colour="blue")  # type: ignore[call-arg]


def test_a_relative_directory_means_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "bank").mkdir()
    _place(BGMAX, tmp_path / "bank", "a.bgmax", 1_700_000_000 * 10**9)
    config = BankFileSettings(directory=Path("bank"))
    feed = BankFileFeed(config, ConnectorContext(name="bank", workdir=tmp_path))
    assert feed.check().ok
    assert len(list(feed.payments(None))) == 5
