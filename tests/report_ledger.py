"""A small ledger for the report tests, with every number worked out by hand.

As of 2026-11-23 (D = days past due on that day, H = days past due at hand-over):

pipeline ``main``, not handed over:
  N1 NOK 100.00 due 11-23 wait (D 0) · N2 NOK 200.00 due 10-24 hold (D 30)
  N3 NOK 300.00 due 10-23 pending_approval (D 31) · N4 SEK 400.00 due 12-01 wait (not due)
  N5 NOK 0.00 skip (paid) · N6 EUR 50.00 due 2025-01-01 skip (D 691)
pipeline ``main``, handed over to ``sandbox`` on 09-01 (H6: on 11-20):
  cb-a active NOK: H1 1000.00 due 08-01 (H 31), H2 500.00 due 08-20 (H 12)
  cb-b paid NOK: H3 250.00 due 06-01 (H 92) · cb-c returned SEK: H4 800.00 due 2025-09-01 (H 365)
  cb-d rejected NOK: H5 700.00 due 08-01 · cb-e accepted EUR: H6 120.00 due 10-01 (H 50)
  cb-f withdrawn NOK: H7 90.00 due 08-01 (H 31)
settlement lines, NOK, by settlement date: 10-05 H1 400 + 10 interest + 70 fees − 48 commission
  (booked); 11-05 H1 100 + 5 − 10.50 (not booked yet); 10-05 H3 250 + 20 + 35 − 30.50 (booked)
payments after hand-over: 11-21 EUR 120.00 on H6 (reported to the agency); 11-12 NOK 50.00
  on H2 (to report); 11-10 NOK 35.00 unmatched; 10-06 NOK 400.00 on H1 ignored: the agency's
  own pay-out of the 10-05 settlement, read back from the ledger (never a direct payment)
runs: ``main`` synced yesterday (failed) and this morning (ok), reconciled yesterday;
  ``other`` is syncing now
pipeline ``other``: O1 NOK 1000.00 due 11-01 send, not handed over (D 22);
  cb-g queued at ``drop``: O2 NOK 60.00 due 11-09, handed over 11-23 (H 14)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.state_rows import case, claim, delivery, payment, quarantined, run, settlement

TODAY = dt.date(2026, 11, 23)
SEP1 = dt.date(2026, 9, 1)
MORNING = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)
YESTERDAY = MORNING - dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)


def day(month: int, day_: int, year: int = 2026) -> dt.date:
    return dt.date(year, month, day_)


def report_ledger() -> dict[str, list[dict[str, Any]]]:
    """The rows of the ledger above, for :func:`tests.state_rows.add`."""
    n = [
        claim("N1", "100.00", due=day(11, 23), outcome="wait"),
        claim("N2", "200.00", due=day(10, 24), outcome="hold"),
        claim("N3", "300.00", due=day(10, 23), outcome="pending_approval"),
        claim("N4", "400.00", due=day(12, 1), currency="SEK", outcome="wait"),
        claim("N5", "0.00", due=day(10, 1), outcome="skip"),
        claim("N6", "50.00", due=day(1, 1, 2025), currency="EUR", outcome="skip"),
    ]

    def handed(number: str, amount: str, due: dt.date, key: str, **kw: Any) -> dict[str, Any]:
        return claim(number, amount, due=due, case_key=key, handed_over_on=SEP1, **kw)

    h1 = handed("H1", "1000.00", day(8, 1), "cb-a")
    h2 = handed("H2", "500.00", day(8, 20), "cb-a")
    h3 = handed("H3", "250.00", day(6, 1), "cb-b")
    h4 = handed("H4", "800.00", day(9, 1, 2025), "cb-c", currency="SEK")
    h5 = handed("H5", "700.00", day(8, 1), "cb-d")
    h6 = claim(
        "H6", "120.00", due=day(10, 1), currency="EUR", case_key="cb-e", handed_over_on=day(11, 20)
    )
    h7 = handed("H7", "90.00", day(8, 1), "cb-f")
    o1 = claim("O1", "1000.00", due=day(11, 1), outcome="send", pipeline="other")
    o2 = claim(
        "O2", "60.00", due=day(11, 9), case_key="cb-g", handed_over_on=TODAY, pipeline="other"
    )
    return {
        "claim_rows": [*n, h1, h2, h3, h4, h5, h6, h7, o1, o2],
        "case_rows": [
            case("cb-a", [h1, h2], status="active"),
            case("cb-b", [h3], status="paid"),
            case("cb-c", [h4], status="returned"),
            case("cb-d", [h5], status="rejected"),
            case("cb-e", [h6], status="accepted"),
            case("cb-f", [h7], status="withdrawn"),
            case("cb-g", [o2], status="queued", agency="drop"),
        ],
        "settlement_rows": [
            settlement(
                "S-A-10",
                on=day(10, 5),
                principal="400.00",
                interest="10.00",
                fees="70.00",
                commission="48.00",
                case_key="cb-a",
                invoice_number="H1",
                status="booked",
            ),
            settlement(
                "S-A-11",
                on=day(11, 5),
                principal="100.00",
                interest="5.00",
                commission="10.50",
                case_key="cb-a",
                invoice_number="H1",
            ),
            settlement(
                "S-B-10",
                on=day(10, 5),
                principal="250.00",
                interest="20.00",
                fees="35.00",
                commission="30.50",
                case_key="cb-b",
                invoice_number="H3",
                status="booked",
            ),
        ],
        "payment_rows": [
            payment(
                "120.00",
                booked=day(11, 21),
                currency="EUR",
                case_key="cb-e",
                invoice_number="H6",
                status="reported",
            ),
            payment("50.00", booked=day(11, 12), case_key="cb-a", invoice_number="H2"),
            payment("35.00", booked=day(11, 10), status="unmatched"),
            payment(
                "400.00",
                booked=day(10, 6),
                case_key="cb-a",
                invoice_number="H1",
                status="ignored",
                reason="agency_settlement",
            ),
        ],
        "quarantine_rows": [
            quarantined("invoices"),
            quarantined("invoices"),
            quarantined("invoices", resolved=True),
            quarantined("customers"),
            quarantined("invoices", pipeline="other"),
        ],
        "outbox_rows": [
            *(delivery(k, "accepted") for k in ("cb-a", "cb-b", "cb-c", "cb-e", "cb-f")),
            delivery("cb-d", "rejected"),
            delivery("cb-f", "accepted", kind="withdraw"),
            delivery("cb-g", "pending", pipeline="other", agency="drop"),
        ],
        "run_rows": [
            run("sync", "failed", started=YESTERDAY, finished=YESTERDAY + MINUTE),
            run("sync", "ok", started=MORNING, finished=MORNING + MINUTE),
            run("reconcile", "ok", started=YESTERDAY, finished=YESTERDAY + MINUTE),
            run("sync", "running", started=MORNING, pipeline="other"),
        ],
    }
