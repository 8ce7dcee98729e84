"""Corrections through a file drop: direct payments, reductions, withdrawals and pauses, one file
per kind of file and batch, found again by lookup, never written twice."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest

from claimbridge.connectors.base import (
    Correction,
    CorrectionKind,
    Delivery,
    NotSupportedError,
    PushStatus,
)
from claimbridge.schemas import CreditNote, Payment, SourceRef
from tests.unit.test_file_formats import agency, make_case, records, write_profile

CASE = make_case("10001")
TWO_CLAIMS = CASE.model_copy(
    update={"claims": (make_case("10001").claims[0], make_case("10002").claims[0])}
)


def payment(amount: str = "250.00", invoice: str | None = None) -> Payment:
    return Payment(
        payment_id="ledger-77",
        source=SourceRef(system="files", record_id="77"),
        amount=Decimal(amount),
        currency="NOK",
        booking_date=dt.date(2026, 4, 3),
        reference="0001000112",
        invoice_number=invoice,
    )


def credit_note(invoice: str = "10001") -> CreditNote:
    return CreditNote(
        credit_note_number="CN-5",
        source=SourceRef(system="files", record_id="CN-5"),
        invoice_number=invoice,
        amount=Decimal("100.00"),
        currency="NOK",
        issue_date=dt.date(2026, 4, 4),
    )


def corrections(case_key: str = CASE.case_key) -> list[Correction]:
    return [
        Correction(
            "cor-pay",
            CorrectionKind.PAYMENT,
            case_key,
            "AG-1",
            invoice_number="10001",
            payment=payment(),
        ),
        Correction(
            "cor-reduce", CorrectionKind.REDUCE, case_key, "AG-1", credit_note=credit_note()
        ),
        Correction("cor-withdraw", CorrectionKind.WITHDRAW, case_key, "AG-1", reason="paid"),
        Correction("cor-pause", CorrectionKind.PAUSE, case_key, "AG-1", reason="dispute"),
    ]


def read_csv(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def test_each_kind_goes_to_its_own_file(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_csv")
    assert drop.correct([]) == []
    assert not tmp_path.exists() or not list(tmp_path.iterdir())
    outcomes = drop.correct(corrections())
    assert [o.status for o in outcomes] == [PushStatus.SENT] * 4
    assert [o.idempotency_key for o in outcomes] == [c.idempotency_key for c in corrections()]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "holds_20260401_0001.csv",
        "transactions_20260401_0001.csv",
        "withdrawals_20260401_0001.csv",
    ]
    pay, reduce = read_csv(tmp_path / "transactions_20260401_0001.csv")
    assert pay["kind"] == "payment"
    assert pay["amount"] == "250,00"
    assert pay["booking_date"] == "2026-04-03"  # the real booking date
    assert pay["reference"] == "0001000112"
    assert pay["invoice_number"] == "10001"
    assert reduce["kind"] == "reduce"
    assert reduce["invoice_number"] == "10001"  # from the credit note
    assert reduce["reference"] == "CN-5"
    (withdrawal,) = read_csv(tmp_path / "withdrawals_20260401_0001.csv")
    assert withdrawal["invoice_number"] == ""  # the whole case
    assert withdrawal["reason"] == "paid"
    (hold,) = read_csv(tmp_path / "holds_20260401_0001.csv")
    assert hold["action"] == "pause"


def test_corrections_are_found_by_lookup_after_a_restart(tmp_path: Path) -> None:
    agency(tmp_path, "generic_csv").correct(corrections())
    fresh = agency(tmp_path, "generic_csv")
    for correction in corrections():
        found = fresh.lookup(correction.idempotency_key)
        assert found is not None
        assert found.status is PushStatus.SENT
    assert fresh.lookup("never-sent") is None


@pytest.mark.parametrize("profile", ["generic_fixed", "generic_xml"])
def test_other_formats_carry_payments_and_withdrawals(tmp_path: Path, profile: str) -> None:
    drop = agency(tmp_path, profile)
    assert drop.capabilities.report_payments
    assert drop.capabilities.reduce
    assert drop.capabilities.withdraw
    assert not drop.capabilities.pause
    wanted = corrections()[:3]
    outcomes = drop.correct(wanted)
    assert [o.status for o in outcomes] == [PushStatus.SENT] * 3
    rows = records(drop, "transactions")
    assert len(rows) == 2
    assert len(records(drop, "withdrawals")) == 1
    fresh = agency(tmp_path, profile)
    assert all(fresh.lookup(c.idempotency_key) for c in wanted)
    with pytest.raises(NotSupportedError, match="pause"):
        drop.correct(corrections()[3:])


def test_fixed_width_transaction_records_and_control_sum(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_fixed")
    drop.correct(corrections()[:2])
    lines = (tmp_path / "TRANS_20260401_0001.DAT").read_text("iso-8859-1").splitlines()
    assert lines[0].startswith("10TRANSACTIONS20260401")
    assert [line[:2] for line in lines[1:3]] == ["30", "31"]  # payment, credit note
    assert lines[3] == "99" + "000000002" + f"{35000:018d}"  # 250.00 + 100.00


def test_an_unsupported_kind_writes_nothing(tmp_path: Path) -> None:
    drop = agency(tmp_path / "out", "indebted_csv")
    caps = drop.capabilities
    assert (caps.report_payments, caps.reduce, caps.withdraw, caps.pause) == (
        True,
        True,
        True,
        False,
    )
    with pytest.raises(NotSupportedError, match="pause"):
        drop.correct(corrections())
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.csv"))


def test_per_claim_withdrawal_names_every_claim_the_case_files_show(tmp_path: Path) -> None:
    drop = agency(tmp_path, "indebted_csv")
    drop.push([Delivery("case-1", TWO_CLAIMS)])
    whole = Correction("w-all", CorrectionKind.WITHDRAW, TWO_CLAIMS.case_key, "x")
    one = Correction(
        "w-one", CorrectionKind.WITHDRAW, TWO_CLAIMS.case_key, "x", invoice_number="10002"
    )
    unknown = Correction("w-unknown", CorrectionKind.WITHDRAW, "cb-" + "f" * 24, "x")
    outcomes = drop.correct([whole, one, unknown])
    assert [o.status for o in outcomes] == [PushStatus.SENT, PushStatus.SENT, PushStatus.REJECTED]
    assert "name the invoice" in (outcomes[2].reason or "")
    (path,) = (tmp_path / "AccountRecall").glob("*.csv")
    assert path.read_text(encoding="utf-8") == "AccountRef\n10001\n10002\n10002\n"
    manifest = (tmp_path / ".keys" / "AccountRecall" / f"{path.name}.keys").read_text("utf-8")
    assert manifest.splitlines() == ["w-all", "w-all", "w-one"]
    fresh = agency(tmp_path, "indebted_csv")
    assert fresh.lookup("w-all") is not None
    assert fresh.lookup("w-unknown") is None


def test_indebted_transactions_follow_the_specification(tmp_path: Path) -> None:
    drop = agency(tmp_path, "indebted_csv")
    drop.push([Delivery("case-1", TWO_CLAIMS)])
    drop.correct(corrections(TWO_CLAIMS.case_key)[:2])
    (path,) = (tmp_path / "TransactionUpload").glob("*.csv")
    assert path.name == "2026-04-01-09-30-05-000001.csv"
    assert path.read_text(encoding="utf-8") == (
        "AccountRef,TransactionRef,TransactionType,Amount,ProcessedAt,EffectiveDate,Description\n"
        "10001,cor-pay,Payment,25000,2026-04-03T00:00:00Z,2026-04-03,0001000112\n"
        "10001,cor-reduce,Compensation,10000,2026-04-04T00:00:00Z,2026-04-04,CN-5\n"
    )


def test_indebted_case_file_groups_claims_under_the_case(tmp_path: Path) -> None:
    drop = agency(tmp_path, "indebted_csv")
    drop.push([Delivery("case-1", TWO_CLAIMS)])
    (path,) = (tmp_path / "AccountUpload").glob("*.csv")
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8"), newline="")))
    assert [r["AccountRef"] for r in rows] == ["10001", "10002"]
    assert {r["CustomerRef"] for r in rows} == {TWO_CLAIMS.case_key}
    assert rows[0]["Balance"] == "100050"
    assert rows[0]["StatementOfWorkID"] == "SOW-1"
    assert rows[0]["Emails"] == "kari@example.no"
    assert "case-1" not in path.read_text("utf-8")  # the key lives in the manifest
    keys = tmp_path / ".keys" / "AccountUpload" / f"{path.name}.keys"
    assert keys.read_text("utf-8") == "case-1\ncase-1\n"


def test_a_missing_required_value_refuses_only_that_case(tmp_path: Path) -> None:
    from tests.unit.test_file_drop import make_case as without_reference

    drop = agency(tmp_path, "indebted_csv")
    outcomes = drop.push([Delivery("a", without_reference("1")), Delivery("b", make_case("2"))])
    assert outcomes[0].status is PushStatus.REJECTED
    assert "'StatementOfWorkID': is required" in (outcomes[0].reason or "")
    assert outcomes[1].status is PushStatus.SENT


def test_the_same_correction_twice_in_one_batch_is_written_once(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_csv")
    twice = [corrections()[0], corrections()[0]]
    assert [o.status for o in drop.correct(twice)] == [PushStatus.SENT, PushStatus.SENT]
    assert len(read_csv(tmp_path / "transactions_20260401_0001.csv")) == 1


def test_a_correction_delivered_before_goes_out_again_only_over_sftp_rules(tmp_path: Path) -> None:
    """Locally a re-sent correction is a new row (lookup is what prevents that: the core asks
    before it resends); over SFTP, one already uploaded is SENT without a connection."""
    from tests.unit.test_file_drop import sftp_options

    agency(tmp_path, "generic_csv").correct(corrections()[:1])
    (tmp_path / ".sftp").mkdir()
    (tmp_path / ".sftp" / "uploaded.log").write_text("transactions_20260401_0001.csv\n", "utf-8")
    remote = agency(tmp_path, "generic_csv", sftp=sftp_options(tmp_path))  # unreachable host
    assert [o.status for o in remote.correct(corrections()[:1])] == [PushStatus.SENT]
    assert sorted(p.name for p in tmp_path.glob("transactions_*")) == [
        "transactions_20260401_0001.csv"
    ]


def test_custom_profile_without_corrections_supports_none(tmp_path: Path) -> None:
    profile = write_profile(
        tmp_path,
        '[file]\nfilename = "c_{seq}.csv"\n'
        '[[columns]]\nheader = "k"\npath = "delivery.idempotency_key"\n',
    )
    drop = agency(tmp_path / "out", profile)
    caps = drop.capabilities
    assert (caps.report_payments, caps.reduce, caps.withdraw, caps.pause) == (False,) * 4
    with pytest.raises(NotSupportedError):
        drop.correct(corrections()[:1])
