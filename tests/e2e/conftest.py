"""End-to-end plumbing: a sandbox agency in a thread, workspaces with a ledger and a TOML config,
and two ways to run the CLI — in-process through ``CliRunner`` and as a real subprocess.

Both ways go through ``claimbridge.cli.main`` so an error ends with its class's exit code and
one line on stderr, exactly as a user sees it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from claimbridge.cli import main
from claimbridge.sandbox.ledger import LedgerSummary, generate_sample_ledger
from claimbridge.sandbox.server import SandboxServer
from claimbridge.schemas import Case

TODAY = dt.date(2026, 11, 23)
TODAY_ARG = ("--today", TODAY.isoformat())
TOKEN = "e2e-sandbox-token-0123456789"
E2E_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "e2e"
SUBPROCESS_TIMEOUT_S = 60

SANDBOX_CONFIG = """\
[state]
url = "sqlite:///claimbridge.db"

[creditor]
name = "Nordlys Energi AS"
organization_number = "923609016"
country = "NO"

[log]
format = "text"
level = "warning"

[sources.ledger]
type = "files"
customers = "ledger/customers.csv"
invoices = "ledger/invoices.csv"

[agencies.sandbox]
type = "sandbox"
url = "{url}"
token = "${{file:{token_file}}}"
batch_size = {batch_size}

[pipelines.main]
source = "ledger"
agency = "sandbox"

[pipelines.main.policy]
country = "NO"
days_past_due = 14
grouping = "debtor"
"""

FILE_DROP_CONFIG = """\
[state]
url = "sqlite:///claimbridge.db"

[creditor]
name = "Nordlys Energi AS"
organization_number = "923609016"
country = "NO"

[log]
format = "text"
level = "warning"

[sources.ledger]
type = "files"
customers = "{customers}"
invoices = "{invoices}"

[agencies.drop]
type = "file_drop"
directory = "drop"

[pipelines.main]
source = "ledger"
agency = "drop"

[pipelines.main.policy]
country = "NO"
"""


# --- running the CLI ----------------------------------------------------------------------


class _EntryPoint:
    """Lets ``CliRunner`` run ``claimbridge.cli.main`` (with its error → exit code mapping)
    instead of the bare click group, which would surface our errors as exceptions."""

    name = "claimbridge"

    def main(self, args: Sequence[str] = (), prog_name: str | None = None, **_: Any) -> None:
        main(list(args))


def invoke(*args: str) -> Result:
    """Run the CLI in this process; stdout and stderr kept apart."""
    try:
        return CliRunner().invoke(_EntryPoint(), list(args), prog_name="claimbridge")  # type: ignore[arg-type]
    finally:
        _drop_cli_log_handler()


def _drop_cli_log_handler() -> None:
    """The CLI logs to the stderr CliRunner swapped in; detach it before that stream closes."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "claimbridge"]:
        root.removeHandler(handler)


def cli_command(*args: str) -> list[str]:
    """The command line of a real ``claimbridge`` process (``python -m claimbridge``)."""
    return [sys.executable, "-m", "claimbridge", *args]


def run(*args: str, cwd: Path | None = None, timeout: float = SUBPROCESS_TIMEOUT_S) -> Any:
    """Run the CLI as a real subprocess and wait for it."""
    return subprocess.run(
        cli_command(*args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_child_env(),
        check=False,
    )


def spawn(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start the CLI as a real subprocess without waiting (to kill it, or race it)."""
    return subprocess.Popen(
        cli_command(*args),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMBRIDGE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def one_json(text: str) -> dict[str, Any]:
    """The single JSON object a ``--json`` command printed (fails on anything else)."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line, got {len(lines)}: {text[:500]!r}"
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


# --- reading what ended up where ----------------------------------------------------------


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows from an SQLite file (the state store or the sandbox's own database)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@dataclass(frozen=True)
class AgencyCase:
    """One case as the sandbox agency stored it."""

    idempotency_key: str
    case: Case

    @property
    def invoices(self) -> list[str]:
        return [claim.invoice_number for claim in self.case.claims]


def agency_cases(db: Path) -> list[AgencyCase]:
    rows = query(db, "SELECT idempotency_key, case_json FROM cases ORDER BY id")
    return [AgencyCase(key, Case.model_validate_json(body)) for key, body in rows]


def agency_rejections(db: Path) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in query(db, "SELECT case_key, reason FROM rejections")]


def agency_submissions(db: Path) -> int:
    """Deliveries the agency has decided on: accepted cases plus rejections."""
    [(count,)] = query(
        db, "SELECT (SELECT count(*) FROM cases) + (SELECT count(*) FROM rejections)"
    )
    return int(count)


def assert_exactly_once(cases: list[AgencyCase], expected_invoices: Sequence[str]) -> None:
    """Every expected invoice is at the agency in exactly one case; one case per debtor."""
    invoices = [number for case in cases for number in case.invoices]
    assert sorted(invoices) == sorted(expected_invoices)
    keys = [c.idempotency_key for c in cases]
    assert len(keys) == len(set(keys)), "two cases share an idempotency key"
    debtors = [c.case.debtor.debtor_key() for c in cases]
    assert len(debtors) == len(set(debtors)), "a debtor has more than one case"
    case_keys = [c.case.case_key for c in cases]
    assert len(case_keys) == len(set(case_keys))


# --- workspaces ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Workspace:
    """A directory with a generated ledger, a token file and a config for one sandbox."""

    directory: Path
    config: Path
    ledger: LedgerSummary
    agency_db: Path
    server: SandboxServer

    @property
    def state_db(self) -> Path:
        return self.directory / "claimbridge.db"

    def args(self, *args: str) -> tuple[str, ...]:
        return ("--config", str(self.config), *TODAY_ARG, *args)

    def invoke(self, *args: str) -> Result:
        return invoke(*self.args(*args))

    def run(self, *args: str, timeout: float = SUBPROCESS_TIMEOUT_S) -> Any:
        return run(*self.args(*args), cwd=self.directory, timeout=timeout)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return spawn(*self.args(*args), cwd=self.directory)

    def add_fault(self, **fault: Any) -> None:
        """Queue a sandbox fault through its HTTP API, as a test harness outside would."""
        import requests

        response = requests.post(
            f"{self.server.url}/_faults",
            json=fault,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        assert response.status_code == 201, response.text

    def clear_faults(self) -> None:
        import requests

        response = requests.delete(
            f"{self.server.url}/_faults", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        )
        assert response.status_code == 200, response.text

    def expire_lease(self) -> None:
        """What the lease TTL does to a killed run's lease, without waiting two minutes."""
        conn = sqlite3.connect(self.state_db, timeout=10)
        try:
            with conn:
                conn.execute("UPDATE leases SET expires_at = '2000-01-01 00:00:00.000000'")
        finally:
            conn.close()


def write_secret(path: Path, value: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return path


def write_sandbox_config(
    directory: Path, url: str, *, batch_size: int = 200, token_file: str = "sandbox.token"
) -> Path:
    config = directory / "claimbridge.toml"
    text = SANDBOX_CONFIG.format(url=url, token_file=token_file, batch_size=batch_size)
    config.write_text(text, encoding="utf-8")
    return config


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    """The sandbox agency on a free loopback port, fault injection on."""
    server = SandboxServer(TOKEN, db_path=tmp_path / "sandbox-agency.db", faults=True)
    with server:
        yield server


@pytest.fixture
def make_workspace(tmp_path: Path, sandbox: SandboxServer) -> Callable[..., Workspace]:
    """Build the workspace; ``batch_size`` is the sandbox agency's HTTP batch size."""

    def build(batch_size: int = 200) -> Workspace:
        directory = tmp_path / "ws"
        directory.mkdir()
        ledger = generate_sample_ledger(directory / "ledger", today=TODAY)
        write_secret(directory / "sandbox.token", TOKEN)
        config = write_sandbox_config(directory, sandbox.url, batch_size=batch_size)
        return Workspace(directory, config, ledger, tmp_path / "sandbox-agency.db", sandbox)

    return build


@pytest.fixture
def workspace(make_workspace: Callable[..., Workspace]) -> Workspace:
    return make_workspace()
