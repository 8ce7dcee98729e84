"""Return files read back as updates: receipts, answers to our files, status changes and
settlements, with stable update ids, a cursor, late archiving, and clear errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimbridge.connectors.agencies import _returns
from claimbridge.connectors.agencies.file_drop import FileDropAgency
from claimbridge.connectors.base import AgencyUpdate, Delivery, PushStatus
from claimbridge.errors import ParseError
from claimbridge.schemas import CaseStatus
from claimbridge.schemas.event import EventKind
from tests.unit.test_file_formats import agency, make_case

CASE = make_case("10001")
KEY = CASE.case_key
RECEIPTS = (
    "idempotency_key;status;agency_ref;reason\n"
    "key-1;accepted;AG-1;\n"
    "key-2;rejected;;debtor unknown at this address\n"
)
STATUS = (
    "event_id;case_key;agency_ref;status;date;message\n"
    f";{KEY};AG-1;active;2026-04-10;\n"
    f"ev-9;{KEY};AG-1;something-new;2026-04-11T08:15:00Z;Debtor called\n"
)
SETTLEMENTS = (
    "settlement_id;settlement_date;currency;line_id;case_key;agency_ref;invoice_number;"
    "principal;interest;fees;total;commission\n"
    f"S-1;2026-04-30;NOK;L-1;{KEY};AG-1;10001;1000,50;12,30;70,00;1082,80;108,28\n"
    f"S-1;2026-04-30;NOK;L-2;{KEY};AG-1;10002;200,00;0;0;200,00;20,00\n"
)


def drop_returns(root: Path, files: dict[str, str | bytes]) -> None:
    folder = root / "returns"
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


def test_generic_csv_return_files_become_updates(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_csv")
    drop_returns(tmp_path, {"receipts_0001.csv": RECEIPTS})
    drop_returns(tmp_path, {"status_0001.csv": STATUS, "settlements_0001.csv": SETTLEMENTS})
    updates = list(drop.updates(None))
    receipts = [u.receipt for u in updates if u.receipt]
    assert [(r.idempotency_key, r.status, r.agency_ref, r.reason) for r in receipts] == [
        ("key-1", PushStatus.ACCEPTED, "AG-1", None),
        ("key-2", PushStatus.REJECTED, None, "debtor unknown at this address"),
    ]
    events = [u.event for u in updates if u.event]
    assert [(e.kind, e.status, e.message) for e in events] == [
        (EventKind.STATUS, CaseStatus.ACTIVE, "active"),
        (EventKind.MESSAGE, None, "Debtor called"),
    ]
    assert events[0].event_id == "status:status_0001.csv:2"
    assert events[1].event_id == "ev-9"
    assert events[1].at == dt.datetime(2026, 4, 11, 8, 15, tzinfo=dt.UTC)
    (settlement,) = [u.settlement for u in updates if u.settlement]
    assert settlement.settlement_id == "S-1"
    assert settlement.agency == "drop"
    first = settlement.lines[0]
    assert (first.principal, first.interest, first.fees, first.commission) == (
        Decimal("1000.50"),
        Decimal("12.30"),
        Decimal("70.00"),
        Decimal("108.28"),
    )
    assert settlement.payout == Decimal("1082.80") - Decimal("108.28") + Decimal("180.00")
    assert [u.update_id for u in updates] == [
        "receipts:receipts_0001.csv:2",
        "receipts:receipts_0001.csv:3",
        "status:status_0001.csv:2",
        "status:status_0001.csv:3",
        "settlements:settlements_0001.csv:2",
    ]
    assert len({u.cursor for u in updates}) == len(updates)


def test_files_are_archived_only_once_the_cursor_has_passed_them(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_csv")
    drop_returns(tmp_path, {"receipts_0001.csv": RECEIPTS, "status_0001.csv": STATUS})
    first = list(drop.updates(None))
    assert len(first) == 4
    pending = tmp_path / ".returns" / "pending"
    assert len(list(pending.iterdir())) == 2
    assert not (tmp_path / "returns" / "receipts_0001.csv").exists()  # taken into the journal

    # the core recorded the first update only: the rest again, same ids, nothing archived
    again = list(drop.updates(first[0].cursor))
    assert [u.update_id for u in again] == [u.update_id for u in first[1:]]
    assert [u.cursor for u in again] == [u.cursor for u in first[1:]]
    assert len(list(pending.iterdir())) == 2

    # past the receipts file: it is archived now, the status file is not
    rest = list(drop.updates(first[1].cursor))
    assert [u.update_id for u in rest] == [u.update_id for u in first[2:]]
    done = tmp_path / ".returns" / "done"
    assert [p.name for p in done.iterdir()] == ["00000001~receipts~receipts_0001.csv"]

    # past everything: all archived, nothing more
    assert list(drop.updates(first[-1].cursor)) == []
    assert sorted(p.name for p in done.iterdir()) == [
        "00000001~receipts~receipts_0001.csv",
        "00000002~status~status_0001.csv",
    ]
    assert not list(pending.iterdir())
    # a restart finds the same state: nothing new, nothing lost
    assert list(agency(tmp_path, "generic_csv").updates(first[-1].cursor)) == []


def test_new_files_after_a_cursor_get_later_cursors(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_csv")
    drop_returns(tmp_path, {"receipts_0001.csv": RECEIPTS})
    cursor = list(drop.updates(None))[-1].cursor
    drop_returns(tmp_path, {"receipts_0002.csv": "idempotency_key;status\nkey-3;accepted\n"})
    (update,) = list(drop.updates(cursor))
    assert update.receipt is not None
    assert update.receipt.idempotency_key == "key-3"
    assert (update.cursor or "") > (cursor or "")


def test_an_empty_file_is_archived_at_once(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_csv")
    drop_returns(tmp_path, {"receipts_0001.csv": "idempotency_key;status\n"})
    assert list(drop.updates(None)) == []
    assert [p.name for p in (tmp_path / ".returns" / "done").iterdir()] == [
        "00000001~receipts~receipts_0001.csv"
    ]


def test_files_the_profile_does_not_know_stay_where_they_are(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_csv")
    drop_returns(tmp_path, {"notes.txt": "hello", ".receipts_0009.csv.part": "half"})
    assert list(drop.updates(None)) == []
    assert (tmp_path / "returns" / "notes.txt").exists()
    assert (tmp_path / "returns" / ".receipts_0009.csv.part").exists()


@pytest.mark.parametrize(
    ("content", "where", "message"),
    [
        ("idempotency_key;status\nkey-1;maybe\n", ":2 (status)", "not a status"),
        ("idempotency_key;status\n;accepted\n", ":2 (idempotency_key)", "is empty"),
        ("idempotency_key;wrong\nkey-1;accepted\n", ":1 (status)", "missing column"),
        ("idempotency_key;status\nkey-1;accepted;extra\n", ":2", "3 columns"),
        (b"idempotency_key;status\nk\xe9y;accepted\n", ":2", "not valid utf-8"),
        ('idempotency_key;status\n"key-1;accepted\n', "", "unreadable CSV"),
    ],
)
def test_a_malformed_file_is_a_parse_error_and_stays(
    tmp_path: Path, content: str | bytes, where: str, message: str
) -> None:
    drop = agency(tmp_path, "generic_csv")
    drop_returns(tmp_path, {"receipts_0001.csv": content, "receipts_0002.csv": RECEIPTS})
    with pytest.raises(ParseError, match=message) as caught:
        list(drop.updates(None))
    assert f"receipts_0001.csv{where}" in str(caught.value)
    pending = sorted(p.name for p in (tmp_path / ".returns" / "pending").iterdir())
    assert pending == ["00000001~receipts~receipts_0001.csv", "00000002~receipts~receipts_0002.csv"]
    # nothing after the broken file is handed on either, so the cursor cannot pass it
    with pytest.raises(ParseError):
        list(drop.updates(None))
    # once someone fixes the file, reading goes on from it
    broken = tmp_path / ".returns" / "pending" / "00000001~receipts~receipts_0001.csv"
    broken.write_text("idempotency_key;status\nkey-0;accepted\n", encoding="utf-8")
    assert [u.receipt.idempotency_key for u in drop.updates(None) if u.receipt] == [
        "key-0",
        "key-1",
        "key-2",
    ]


def test_settlement_problems_name_the_line(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_csv")
    bad_sum = SETTLEMENTS.replace("1082,80", "1082,81")
    drop_returns(tmp_path, {"settlements_0001.csv": bad_sum})
    with pytest.raises(ParseError, match=r"settlements_0001\.csv:2"):
        list(drop.updates(None))


def test_a_settlement_without_currency_needs_the_setting(tmp_path: Path) -> None:
    no_currency = SETTLEMENTS.replace(";NOK;", ";;")
    drop_returns(tmp_path, {"settlements_0001.csv": no_currency})
    with pytest.raises(ParseError, match="currency"):
        list(agency(tmp_path, "generic_csv").updates(None))
    (update,) = list(agency(tmp_path, "generic_csv", currency="SEK").updates(None))
    assert update.settlement is not None
    assert update.settlement.currency == "SEK"


def test_a_bad_cursor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="cursor"):
        list(agency(tmp_path, "generic_csv").updates("yesterday"))


# --- fixed width and XML returns ----------------------------------------------------------------


def fixed_receipt(key: str, status: str, ref: str = "", reason: str = "") -> str:
    return "20" + key.ljust(36) + status.ljust(8) + ref.ljust(30) + reason.ljust(80)


def test_fixed_width_returns_check_the_trailer_count(tmp_path: Path) -> None:
    lines = [
        "10RECEIPTS",
        fixed_receipt("key-1", "ACCEPTED", "AG-1"),
        fixed_receipt("key-2", "REJECTED", reason="Æ unknown"),
    ]
    good = "\r\n".join([*lines, "99000000002"]) + "\r\n"
    drop_returns(tmp_path, {"RECEIPT_0001.DAT": good.encode("iso-8859-1")})
    receipts = [u.receipt for u in agency(tmp_path, "generic_fixed").updates(None) if u.receipt]
    assert [(r.idempotency_key, r.status, r.agency_ref, r.reason) for r in receipts] == [
        ("key-1", PushStatus.ACCEPTED, "AG-1", None),
        ("key-2", PushStatus.REJECTED, None, "Æ unknown"),
    ]


@pytest.mark.parametrize(
    ("trailer", "message"),
    [("99000000003", "counts 3 records"), (None, "no trailer"), ("99xx", "not a number")],
)
def test_a_cut_off_fixed_width_file_is_refused(
    tmp_path: Path, trailer: str | None, message: str
) -> None:
    lines = [fixed_receipt("key-1", "ACCEPTED"), fixed_receipt("key-2", "ACCEPTED")]
    if trailer:
        lines.append(trailer)
    drop_returns(tmp_path, {"RECEIPT_0001.DAT": "\r\n".join(lines)})
    with pytest.raises(ParseError, match=message):
        list(agency(tmp_path, "generic_fixed").updates(None))


def test_fixed_width_settlements_in_minor_units(tmp_path: Path) -> None:
    line = (
        "20"
        + "S-7".ljust(20)
        + "20260430"
        + "NOK"
        + "L-1".ljust(30)
        + KEY.ljust(27)
        + "AG-1".ljust(30)
        + "10001".ljust(20)
        + "".join(f"{v:015d}" for v in (100050, 1230, 7000, 108280, 10828))
    )
    drop_returns(tmp_path, {"SETTLE_0001.DAT": f"{line}\r\n99000000001\r\n"})
    (update,) = list(agency(tmp_path, "generic_fixed").updates(None))
    assert update.settlement is not None
    (only,) = update.settlement.lines
    assert (only.principal, only.total, only.commission) == (
        Decimal("1000.50"),
        Decimal("1082.80"),
        Decimal("108.28"),
    )


NS = "urn:claimbridge:file-drop:generic:1"


def test_xml_returns_are_validated_and_counted(tmp_path: Path) -> None:
    receipts = (
        f'<?xml version="1.0"?><ReceiptFile xmlns="{NS}">'
        "<Receipt><IdempotencyKey>key-1</IdempotencyKey><Status>accepted</Status>"
        "<AgencyRef>AG-1</AgencyRef></Receipt>"
        "<Receipt><IdempotencyKey>key-2</IdempotencyKey><Status>rejected</Status>"
        "<Reason>duplicate</Reason></Receipt>"
        "<Trailer><Count>2</Count></Trailer></ReceiptFile>"
    )
    status = (
        f'<StatusFile xmlns="{NS}"><StatusChange id="e-1"><CaseKey>{KEY}</CaseKey>'
        "<Status>paid</Status><At>2026-04-20</At></StatusChange>"
        "<Trailer><Count>1</Count></Trailer></StatusFile>"
    )
    drop_returns(tmp_path, {"receipts_1.xml": receipts, "status_1.xml": status})
    updates = list(agency(tmp_path, "generic_xml").updates(None))
    assert [u.receipt.status for u in updates if u.receipt] == [
        PushStatus.ACCEPTED,
        PushStatus.REJECTED,
    ]
    (event,) = [u.event for u in updates if u.event]
    assert (event.event_id, event.status) == ("e-1", CaseStatus.PAID)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            f'<ReceiptFile xmlns="{NS}"><Receipt><IdempotencyKey>k</IdempotencyKey>'
            "<Status>perhaps</Status></Receipt><Trailer><Count>1</Count></Trailer></ReceiptFile>",
            "does not validate",
        ),
        (
            f'<ReceiptFile xmlns="{NS}"><Receipt><IdempotencyKey>k</IdempotencyKey>'
            "<Status>accepted</Status></Receipt><Trailer><Count>2</Count></Trailer></ReceiptFile>",
            "counts 2 records",
        ),
        (
            '<!DOCTYPE r [<!ENTITY x "y">]><ReceiptFile/>',
            "document type declarations",
        ),
        (f'<ReceiptFile xmlns="{NS}"><Receipt>', "receipts_1.xml"),
    ],
)
def test_hostile_or_broken_xml_returns_are_refused(tmp_path: Path, body: str, message: str) -> None:
    drop_returns(tmp_path, {"receipts_1.xml": body})
    with pytest.raises(ParseError, match=message):
        list(agency(tmp_path, "generic_xml").updates(None))


# --- InDebted: .csv.err answers and reports --------------------------------------------------


def indebted_with_cases(tmp_path: Path) -> tuple[FileDropAgency, str]:
    two = CASE.model_copy(
        update={"claims": (make_case("10001").claims[0], make_case("10002").claims[0])}
    )
    drop = agency(tmp_path, "indebted_csv", currency="AUD")
    drop.push([Delivery("case-a", two), Delivery("case-b", make_case("20001"))])
    (path,) = (tmp_path / "AccountUpload").glob("*.csv")
    return drop, path.name


def test_an_empty_error_file_accepts_every_case_of_the_file(tmp_path: Path) -> None:
    name = indebted_with_cases(tmp_path)[1]
    drop_returns(tmp_path, {f"AccountUpload/{name}.err": ""})
    receipts = [u.receipt for u in agency(tmp_path, "indebted_csv").updates(None) if u.receipt]
    assert sorted((r.idempotency_key, r.status) for r in receipts) == [
        ("case-a", PushStatus.ACCEPTED),
        ("case-b", PushStatus.ACCEPTED),
    ]
    assert {r.agency_ref for r in receipts} >= {CASE.case_key}


def test_an_error_file_rejects_the_cases_of_its_rows(tmp_path: Path) -> None:
    name = indebted_with_cases(tmp_path)[1]
    errors = (
        "Errors,AccountRef,StatementOfWorkID,DueDate,Balance,CustomerRef\n"
        f"Balance must be positive,10002,SOW-1,2026-01-19,0,{CASE.case_key}\n"
        f"DueDate is invalid,10002,SOW-1,2026-01-19,0,{CASE.case_key}\n"
    )
    drop_returns(tmp_path, {f"AccountUpload/{name}.err": errors})
    updates = list(agency(tmp_path, "indebted_csv").updates(None))
    by_key = {u.receipt.idempotency_key: u.receipt for u in updates if u.receipt}
    assert by_key["case-a"].status is PushStatus.REJECTED
    assert by_key["case-a"].reason == "Balance must be positive; DueDate is invalid"
    assert by_key["case-b"].status is PushStatus.ACCEPTED
    assert {u.update_id for u in updates} == {
        f"account_errors:{name}.err:case-a",
        f"account_errors:{name}.err:case-b",
    }


def test_an_error_file_that_does_not_fit_its_file_is_refused(tmp_path: Path) -> None:
    name = indebted_with_cases(tmp_path)[1]
    stranger = "Errors,AccountRef\nnope,99999\n"
    drop_returns(
        tmp_path,
        {f"AccountUpload/{name}.err": stranger, "AccountUpload/nothing-like-it.csv.err": ""},
    )
    with pytest.raises(ParseError, match="not in"):
        list(agency(tmp_path, "indebted_csv").updates(None))


def test_an_error_file_for_a_file_never_written_is_refused(tmp_path: Path) -> None:
    indebted_with_cases(tmp_path)
    drop_returns(tmp_path, {"AccountUpload/2020-01-01-00-00-00-000009.csv.err": ""})
    with pytest.raises(ParseError, match="which is not in the drop directory"):
        list(agency(tmp_path, "indebted_csv").updates(None))


def test_indebted_reports_become_events_and_settlements(tmp_path: Path) -> None:
    drop, _ = indebted_with_cases(tmp_path)
    drop_returns(
        tmp_path,
        {
            "AccountActivityReports/2026-04-30.csv": (
                "CustomerRef,AccountRef,Reason,Date\n"
                f"{KEY},10001,Settled,2026-04-29\n"
                f"{KEY},10002,EscalationBankrupt,2026-04-29\n"
            ),
            "PayoutReports/2026-04-30.csv": (
                "PaymentID,PayoutID,StatementOfWorkID,StatementOfWorkName,AccountRef,"
                "CustomerRef,Amount,PaymentDate,PayoutDate\n"
                f"P-1,PO-9,SOW-1,Acme,10001,{KEY},100050,2026-04-29,2026-04-30\n"
                f"P-2,PO-9,SOW-1,Acme,10002,{KEY},2500,2026-04-29,2026-04-30\n"
            ),
            # a payment report of the same name in another directory is not a payout
            "PaymentReports/2026-04-30.csv": "PaymentID\nP-1\n",
        },
    )
    updates: list[AgencyUpdate] = list(drop.updates(None))
    events = [u.event for u in updates if u.event]
    assert [(e.agency_ref, e.status, e.kind) for e in events] == [
        ("10001", CaseStatus.PAID, EventKind.STATUS),
        ("10002", None, EventKind.MESSAGE),
    ]
    (settlement,) = [u.settlement for u in updates if u.settlement]
    assert settlement.currency == "AUD"
    assert [(line.line_id, line.principal, line.total) for line in settlement.lines] == [
        ("P-1", Decimal("1000.50"), Decimal("1000.50")),
        ("P-2", Decimal("25.00"), Decimal("25.00")),
    ]
    assert (tmp_path / "returns" / "PaymentReports" / "2026-04-30.csv").exists()


def test_a_return_file_over_the_size_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_returns, "MAX_RETURN_BYTES", 100)
    drop_returns(tmp_path, {"receipts_1.csv": RECEIPTS * 5})
    with pytest.raises(ParseError, match="larger than"):
        list(agency(tmp_path, "generic_csv").updates(None))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400), profile=st.sampled_from(["generic_csv", "generic_fixed"]))
def test_random_bytes_are_updates_or_one_parse_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, profile: str
) -> None:
    root = tmp_path_factory.mktemp("hostile")
    name = "receipts_1.csv" if profile == "generic_csv" else "RECEIPT_1.DAT"
    drop_returns(root, {name: RECEIPTS.encode() + data})
    try:
        updates = list(agency(root, profile).updates(None))
    except ParseError as exc:
        message = str(exc)
        updates = []
    else:
        message = name
    assert name in message
    assert all(u.receipt is not None for u in updates)


def test_a_wiped_journal_never_archives_a_file_unread(tmp_path: Path) -> None:
    """A stored cursor from before the journal was lost must not pass files it never saw."""
    drop = agency(tmp_path, "generic_csv")
    drop_returns(tmp_path, {"receipts_0001.csv": RECEIPTS})
    cursor = list(drop.updates(None))[-1].cursor
    assert cursor == "00000001:2"
    import shutil

    shutil.rmtree(tmp_path / ".returns")
    drop_returns(tmp_path, {"receipts_0002.csv": "idempotency_key;status\nkey-5;accepted\n"})
    (update,) = list(agency(tmp_path, "generic_csv").updates(cursor))
    assert update.receipt is not None
    assert update.receipt.idempotency_key == "key-5"
    assert update.cursor == "00000002:1"
