"""The everyday commands against a sandbox agency: sync, dry runs, cases, quarantine, transfer,
plugins, schema export, init and check."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from claimbridge.config import load_config
from claimbridge.errors import ConfigError
from claimbridge.init_template import required_environment
from claimbridge.sandbox.ledger import Category
from claimbridge.schemas.export import schema_documents

from .conftest import (
    TODAY_ARG,
    Workspace,
    agency_cases,
    assert_exactly_once,
    invoke,
    json_lines,
    one_json,
    query,
    write_sandbox_config,
    write_secret,
)

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "claimbridge" / "schemas" / "json"
BAD_DATE_ROW = "199001,{customer},31.02.2026,2026-03-19,NOK,500.00,500.00,,,,,,,,,,,,,\n"


def _sync_json(workspace: Workspace, *args: str, code: int = 0) -> dict[str, object]:
    result = workspace.invoke("--json", "sync", *args)
    assert result.exit_code == code, result.stdout + result.stderr
    return one_json(result.stdout)


def _first_sync(workspace: Workspace) -> dict[str, object]:
    """The sample ledger's first sync: exit 13, the agency turns the unreachable debtor away."""
    stats = _sync_json(workspace, code=13)
    assert stats["rejected"] == 1
    return stats


def test_sync_json_reports_one_object_and_delivers(workspace: Workspace) -> None:
    stats = _first_sync(workspace)
    for key in ("claims_seen", "cases_sent", "claims_sent", "quarantined", "skipped"):
        assert key in stats
    ledger = workspace.ledger
    assert stats["claims_seen"] == ledger.invoice_count
    assert stats["cases_sent"] == ledger.expected_debtors
    assert stats["claims_sent"] == len(ledger.expected_due)
    assert stats["quarantined"] == 0
    assert stats["skipped"] == len(ledger.expected_not_due) - 1  # the unreachable one was sent
    assert_exactly_once(agency_cases(workspace.agency_db), ledger.expected_due)

    again = _sync_json(workspace)
    assert again["cases_sent"] == 0
    assert again["already_handed_over"] == len(ledger.expected_due) + 1


def test_dry_run_sends_nothing_and_writes_no_outbox_rows(workspace: Workspace) -> None:
    stats = _sync_json(workspace, "--dry-run")
    assert stats["dry_run"] is True
    assert stats["cases_sent"] == 0
    assert stats["cases_queued"] == workspace.ledger.expected_debtors + 1
    assert workspace.server.store.count_cases() == 0
    assert query(workspace.state_db, "SELECT count(*) FROM outbox") == [(0,)]
    assert query(workspace.state_db, "SELECT count(*) FROM claims") == [(0,)]

    human = workspace.invoke("sync", "--dry-run")
    assert human.exit_code == 0
    assert f"would queue {workspace.ledger.expected_debtors + 1} case(s)" in human.stdout
    assert workspace.server.store.count_cases() == 0

    # a real sync afterwards still sends everything once
    assert _first_sync(workspace)["cases_sent"] == workspace.ledger.expected_debtors


def test_quarantine_lists_a_bad_row_with_where_and_why(workspace: Workspace) -> None:
    ledger = workspace.ledger
    customer = next(iter(ledger.traits), "10001")
    with ledger.invoices_path.open("a", encoding="utf-8") as fh:
        fh.write(BAD_DATE_ROW.format(customer=customer))
    line = len(ledger.invoices_path.read_text(encoding="utf-8").splitlines())

    stats = _first_sync(workspace)
    assert stats["quarantined"] == 1
    assert stats["cases_sent"] == ledger.expected_debtors

    result = workspace.invoke("--json", "quarantine")
    assert result.exit_code == 0
    rows = json_lines(result.stdout)
    assert len(rows) == 1
    assert rows[0]["location"] == f"invoices.csv:{line}"
    assert rows[0]["record_id"] == "199001"
    assert any("not a valid date" in reason for reason in rows[0]["reasons"])

    why = workspace.invoke("cases", "why", "199001")
    assert why.exit_code == 0
    assert f"invoices.csv:{line}" in why.stdout


def test_cases_list_and_show_with_its_event_log(workspace: Workspace) -> None:
    _first_sync(workspace)
    listed = workspace.invoke("--json", "cases", "list")
    assert listed.exit_code == 0
    cases = json_lines(listed.stdout)
    assert len(cases) == workspace.ledger.expected_debtors + 1
    statuses = sorted(c["status"] for c in cases)
    assert statuses.count("accepted") == workspace.ledger.expected_debtors
    assert statuses.count("rejected") == 1

    accepted = workspace.invoke("--json", "cases", "list", "--status", "accepted")
    assert len(json_lines(accepted.stdout)) == workspace.ledger.expected_debtors

    first = next(c for c in cases if c["status"] == "accepted")
    shown = workspace.invoke("--json", "cases", "show", first["case_key"])
    assert shown.exit_code == 0
    case = one_json(shown.stdout)
    assert case["case_key"] == first["case_key"]
    assert case["agency_ref"].startswith("SBX-")
    assert len(case["invoices"]) == first["claims"]
    assert set(case["invoices"]) <= set(workspace.ledger.expected_due)
    messages = [e["message"] for e in case["events"]]
    assert f"accepted by the agency as {case['agency_ref']}" in messages

    missing = workspace.invoke("cases", "show", "cb-000000000000000000000000")
    assert missing.exit_code == 4
    assert len(missing.stderr.strip().splitlines()) == 1


def test_transfer_below_minimum_needs_force(workspace: Workspace) -> None:
    invoice = workspace.ledger.invoices_in(Category.BELOW_MINIMUM)[0]
    refused = workspace.invoke("transfer", "--invoice", invoice)
    assert refused.exit_code == 13
    assert f"{invoice}: not sent:" in refused.stdout
    assert "below the minimum" in refused.stdout
    assert workspace.server.store.count_cases() == 0

    forced = workspace.invoke("--json", "transfer", "--invoice", invoice, "--force")
    assert forced.exit_code == 0, forced.stdout + forced.stderr
    stats = one_json(forced.stdout)
    assert stats["cases_sent"] == 1
    assert stats["not_sent"] == []
    [sent] = agency_cases(workspace.agency_db)
    assert sent.invoices == [invoice]


def test_transfer_never_overrides_the_law(workspace: Workspace) -> None:
    for category in (Category.NOTICE_PENDING, Category.NO_NOTICE):
        invoice = workspace.ledger.invoices_in(category)[0]
        result = workspace.invoke("--json", "transfer", "--invoice", invoice, "--force")
        assert result.exit_code == 12, result.stdout + result.stderr
        [blocked] = one_json(result.stdout)["not_sent"]
        assert blocked["invoice"] == invoice
        assert blocked["legal"] is True
        assert "collection notice" in blocked["why"]
    pending = workspace.ledger.invoices_in(Category.NOTICE_PENDING)[0]
    human = workspace.invoke("transfer", "--invoice", pending, "--force")
    assert human.exit_code == 12
    assert "deadline ends" in human.stdout
    assert workspace.server.store.count_cases() == 0


def test_transfer_of_an_unknown_invoice_is_reported(workspace: Workspace) -> None:
    result = workspace.invoke("transfer", "--invoice", "424242")
    assert result.exit_code == 13
    assert "424242: not found in the source" in result.stdout
    assert workspace.server.store.count_cases() == 0


def test_plugins_json_lists_the_built_ins() -> None:
    result = invoke("--json", "plugins")
    assert result.exit_code == 0
    plugins = one_json(result.stdout)
    assert {"files", "saft", "ubl"} <= set(plugins["sources"])
    assert {"sandbox", "file_drop"} <= set(plugins["agencies"])
    assert "bank_files" in plugins["payment_feeds"]
    assert plugins["failures"] == []


def test_schema_export_writes_the_canonical_documents(tmp_path: Path) -> None:
    target = tmp_path / "schemas"
    result = invoke("schema", "export", str(target))
    assert result.exit_code == 0
    documents = schema_documents()
    assert sorted(p.name for p in target.iterdir()) == sorted(documents)
    assert sorted(result.stdout.splitlines()) == sorted(str(target / n) for n in documents)
    for name, text in documents.items():
        assert (target / name).read_text(encoding="utf-8") == text, name
    committed = sorted(p.name for p in SCHEMA_DIR.glob("*.json"))
    assert committed == sorted(documents)


def test_schema_export_writes_the_committed_files(tmp_path: Path) -> None:
    target = tmp_path / "schemas"
    assert invoke("schema", "export", str(target)).exit_code == 0
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        assert (target / path.name).read_bytes() == path.read_bytes(), path.name


def test_init_files_to_file_drop_loads(tmp_path: Path) -> None:
    config = tmp_path / "claimbridge.toml"
    result = invoke("init", "--source", "files", "--agency", "file_drop", "-o", str(config))
    assert result.exit_code == 0
    text = config.read_text(encoding="utf-8")
    assert required_environment(text) == []
    loaded = load_config(config, environ={})
    pipeline = loaded.pipeline(None)
    assert pipeline.source.type_name == "files"
    assert pipeline.agency.type_name == "file_drop"

    again = invoke("init", "--source", "files", "--agency", "file_drop", "-o", str(config))
    assert again.exit_code == 2
    assert "--overwrite" in again.stderr


@pytest.mark.parametrize("profile", ["generic_csv", "generic_fixed", "generic_xml", "indebted_csv"])
def test_init_a_file_drop_with_its_profile_then_check(tmp_path: Path, profile: str) -> None:
    config = tmp_path / "claimbridge.toml"
    result = invoke("init", "--agency", f"file_drop:{profile}", "-o", str(config))
    assert result.exit_code == 0, result.stderr
    text = config.read_text(encoding="utf-8")
    assert f"[agencies.{profile}]" in text
    ledger = Path(__file__).resolve().parents[1] / "fixtures" / "open_items" / "invoices.csv"
    config.write_text(text.replace('"CHANGE-ME"', f'"{ledger}"', 1), encoding="utf-8")
    loaded = load_config(config, environ={})
    agency = loaded.pipeline(None).agency
    assert agency.type_name == "file_drop"
    assert agency.settings.profile == profile
    checked = invoke("--config", str(config), "check")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert f"profile {profile}.toml loaded" in checked.stdout


def test_init_with_an_unknown_profile_lists_the_packaged_ones(tmp_path: Path) -> None:
    result = invoke("init", "--agency", "file_drop:nope", "-o", str(tmp_path / "c.toml"))
    assert result.exit_code == 3
    assert "indebted_csv" in result.stderr
    assert not (tmp_path / "c.toml").exists()
    variant = invoke("init", "--agency", "sandbox:x", "-o", str(tmp_path / "c.toml"))
    assert variant.exit_code == 3
    assert "no variants" in variant.stderr


def test_init_names_the_env_vars_it_needs(tmp_path: Path) -> None:
    config = tmp_path / "sandbox.toml"
    assert invoke("init", "-o", str(config)).exit_code == 0
    names = required_environment(config.read_text(encoding="utf-8"))
    assert names == ["CLAIMBRIDGE_SANDBOX_TOKEN"]
    with pytest.raises(ConfigError, match="CLAIMBRIDGE_SANDBOX_TOKEN"):
        load_config(config, environ={})
    loaded = load_config(config, environ={"CLAIMBRIDGE_SANDBOX_TOKEN": "t0ken-from-env"})
    assert loaded.pipeline(None).agency.type_name == "sandbox"


def test_check_reports_ok_on_a_working_config(workspace: Workspace) -> None:
    result = workspace.invoke("check")
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines
    assert all(line.startswith("ok ") for line in lines)
    assert any("token accepted" in line for line in lines)
    assert any(line.split()[1] == "ledger" for line in lines)

    as_json = one_json(workspace.invoke("--json", "check").stdout)
    assert as_json["ok"] is True


def test_check_with_a_wrong_token_exits_6(workspace: Workspace) -> None:
    write_secret(workspace.directory / "wrong.token", "not-the-token")
    write_sandbox_config(workspace.directory, workspace.server.url, token_file="wrong.token")
    result = workspace.invoke("check")
    assert result.exit_code == 6, result.stdout + result.stderr
    assert any(line.startswith("FAIL") and "auth" in line for line in result.stdout.splitlines())
    assert "not-the-token" not in result.stdout + result.stderr


def test_check_with_a_dead_port_exits_7(workspace: Workspace) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    write_sandbox_config(workspace.directory, f"http://127.0.0.1:{dead_port}")
    result = invoke("--config", str(workspace.config), *TODAY_ARG, "check")
    assert result.exit_code == 7, result.stdout + result.stderr
    assert any(
        line.startswith("FAIL") and "reachability" in line for line in result.stdout.splitlines()
    )
