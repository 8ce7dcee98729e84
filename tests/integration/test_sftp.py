"""SFTP against a real OpenSSH sshd on loopback: host keys, auth, interruptions, renames."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from claimbridge.connectors.base import CheckKind
from claimbridge.errors import (
    AuthError,
    ConnectorError,
    HostKeyError,
    SecretError,
    UnreachableError,
)
from claimbridge.transport.sftp import SftpConnection, SftpSettings
from tests.integration.sshd import Sshd, TcpProxy, throwaway_sshd

pytestmark = pytest.mark.service

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    with throwaway_sshd() as server:
        yield server


@pytest.fixture(autouse=True)
def _empty_dirs(sshd: Sshd) -> None:
    for directory in ("outbox", "returns", "archive"):
        for entry in sshd.local(directory).iterdir():
            entry.unlink()


def settings(server: Sshd, **overrides: Any) -> SftpSettings:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "private_key_path": server.client_key,
        "known_hosts_path": server.known_hosts,
        "connect_timeout": 5,
        "channel_timeout": 5,
        "remote_dir": server.remote("outbox"),
        "return_dir": server.remote("returns"),
        "archive_dir": server.remote("archive"),
    }
    values.update(overrides)
    return SftpSettings(**values)


def via(proxy: TcpProxy, server: Sshd, **overrides: Any) -> SftpSettings:
    """Settings that reach ``server`` through ``proxy``: a new port, so pin the fingerprint."""
    return settings(
        server,
        port=proxy.port,
        known_hosts_path=None,
        host_key_fingerprint=server.host_key_fingerprint,
        **overrides,
    )


def payload(tmp_path: Path, size: int, name: str = "cases.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


# --- uploads --------------------------------------------------------------------------------


def test_upload_renames_into_place_and_overwrites(sshd: Sshd, tmp_path: Path) -> None:
    first = payload(tmp_path, 3 * 2**20 + 17)
    with SftpConnection(settings(sshd)) as conn:
        assert conn.upload(first, "cases.csv") == first.stat().st_size
        second = payload(tmp_path, 1000, "second.csv")
        assert conn.upload(second, "cases.csv") == 1000
    assert sshd.local("outbox/cases.csv").read_bytes() == second.read_bytes()
    assert sorted(p.name for p in sshd.local("outbox").iterdir()) == ["cases.csv"]


def test_upload_of_an_empty_file(sshd: Sshd, tmp_path: Path) -> None:
    with SftpConnection(settings(sshd)) as conn:
        assert conn.upload(payload(tmp_path, 0), "empty.csv") == 0
    assert sshd.local("outbox/empty.csv").read_bytes() == b""


@pytest.mark.parametrize("name", ["../escape.csv", "a/b.csv", ".hidden", "..", ""])
def test_unsafe_remote_names_are_refused(sshd: Sshd, tmp_path: Path, name: str) -> None:
    with SftpConnection(settings(sshd)) as conn, pytest.raises(ConnectorError, match="unsafe"):
        conn.upload(payload(tmp_path, 10), name)


def test_missing_local_file_is_a_clear_error(sshd: Sshd, tmp_path: Path) -> None:
    with SftpConnection(settings(sshd)) as conn, pytest.raises(ConnectorError, match="cannot read"):
        conn.upload(tmp_path / "nope.csv", "nope.csv")


def test_cut_connection_leaves_no_final_file_and_next_run_completes(
    sshd: Sshd, tmp_path: Path
) -> None:
    source = payload(tmp_path, 8 * 2**20)
    with TcpProxy(sshd.port, cut_after=3 * 2**20) as proxy:
        with pytest.raises(UnreachableError), SftpConnection(via(proxy, sshd)) as c:
            c.upload(source, "cases.csv")
        assert proxy.cut.is_set()
    assert not sshd.local("outbox/cases.csv").exists()
    assert sshd.local("outbox/.cases.csv.part").stat().st_size < source.stat().st_size
    with SftpConnection(settings(sshd)) as conn:
        conn.upload(source, "cases.csv")
    assert sshd.local("outbox/cases.csv").read_bytes() == source.read_bytes()
    assert not sshd.local("outbox/.cases.csv.part").exists()


UPLOAD_SCRIPT = """
import json, sys
from pathlib import Path
from claimbridge.transport.sftp import SftpConnection, SftpSettings
with SftpConnection(SftpSettings.model_validate_json(sys.argv[1])) as conn:
    conn.upload(Path(sys.argv[2]), "cases.csv")
"""


def test_killed_upload_process_leaves_no_final_file(sshd: Sshd, tmp_path: Path) -> None:
    source = payload(tmp_path, 8 * 2**20)
    with TcpProxy(sshd.port, stall_after=2 * 2**20) as proxy:
        config = via(proxy, sshd, channel_timeout=120).model_dump_json()
        process = subprocess.Popen(
            [sys.executable, "-c", UPLOAD_SCRIPT, config, str(source)], cwd=ROOT
        )
        try:
            assert proxy.stalled.wait(30), "the upload never got going"
            time.sleep(0.3)
            assert process.poll() is None
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
    assert not sshd.local("outbox/cases.csv").exists()
    with SftpConnection(settings(sshd)) as conn:
        conn.upload(source, "cases.csv")
    assert sshd.local("outbox/cases.csv").read_bytes() == source.read_bytes()
    assert not sshd.local("outbox/.cases.csv.part").exists()


# --- timeouts -------------------------------------------------------------------------------


def test_server_that_never_answers_times_out_on_connect(sshd: Sshd) -> None:
    with TcpProxy(sshd.port, mute=True) as proxy:
        started = time.monotonic()
        with pytest.raises(UnreachableError, match="no SSH handshake"):
            SftpConnection(via(proxy, sshd, connect_timeout=1)).open()
        assert time.monotonic() - started < 10


def test_server_that_stalls_mid_upload_times_out(sshd: Sshd, tmp_path: Path) -> None:
    source = payload(tmp_path, 16 * 2**20)
    with TcpProxy(sshd.port, stall_after=2 * 2**20) as proxy:
        conn = SftpConnection(via(proxy, sshd, channel_timeout=1))
        with conn:
            started = time.monotonic()
            with pytest.raises(UnreachableError, match=r"did not answer|lost"):
                conn.upload(source, "cases.csv")
            assert time.monotonic() - started < 20
            with pytest.raises(UnreachableError, match="not open"):
                conn.list_returns()
    assert not sshd.local("outbox/cases.csv").exists()


def test_run_deadline_stops_further_work(sshd: Sshd, tmp_path: Path) -> None:
    now = [0.0]
    conn = SftpConnection(settings(sshd, run_deadline_s=60), clock=lambda: now[0])
    with conn:
        conn.upload(payload(tmp_path, 10), "early.csv")
        now[0] = 61.0
        with pytest.raises(UnreachableError, match="run deadline of 60 s passed"):
            conn.upload(payload(tmp_path, 10), "late.csv")
    assert not sshd.local("outbox/late.csv").exists()


def test_unreachable_port(sshd: Sshd) -> None:
    with TcpProxy(sshd.port) as proxy:
        port = proxy.port
    with pytest.raises(UnreachableError, match="cannot connect"):
        SftpConnection(settings(sshd, port=port)).open()


# --- host keys and auth ---------------------------------------------------------------------


def test_unknown_host_is_refused_showing_the_fingerprint(sshd: Sshd, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts.read_text().replace("[127.0.0.1]", "[other.invalid]"))
    with pytest.raises(HostKeyError, match="unknown host key") as caught:
        SftpConnection(settings(sshd, known_hosts_path=known)).open()
    assert sshd.host_key_fingerprint in str(caught.value)


def test_changed_host_key_is_refused_showing_the_fingerprint(sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30
    )
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {other.with_suffix('.pub').read_text()}")
    with pytest.raises(HostKeyError, match="changed") as caught:
        SftpConnection(settings(sshd, known_hosts_path=known)).open()
    assert sshd.host_key_fingerprint in str(caught.value)


def test_pinned_fingerprint(sshd: Sshd, tmp_path: Path) -> None:
    pinned = settings(sshd, known_hosts_path=None, host_key_fingerprint=sshd.host_key_fingerprint)
    with SftpConnection(pinned) as conn:
        conn.upload(payload(tmp_path, 5), "a.csv")
    wrong = "SHA256:" + "A" * 43
    with pytest.raises(HostKeyError, match="does not match") as caught:
        SftpConnection(settings(sshd, known_hosts_path=None, host_key_fingerprint=wrong)).open()
    assert sshd.host_key_fingerprint in str(caught.value)


def test_wrong_client_key_is_an_auth_error(sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "id_other"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30
    )
    with pytest.raises(AuthError):
        SftpConnection(settings(sshd, private_key_path=other)).open()


def test_encrypted_key_needs_its_passphrase(sshd: Sshd, tmp_path: Path) -> None:
    locked = tmp_path / "id_locked"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret-phrase", "-f", str(locked)],
        check=True,
        timeout=30,
    )
    with pytest.raises(SecretError, match="encrypted"):
        SftpConnection(settings(sshd, private_key_path=locked)).open()
    with pytest.raises(SecretError) as caught:
        SftpConnection(
            settings(sshd, private_key_path=locked, private_key_passphrase="wrong-phrase")
        ).open()
    assert "wrong-phrase" not in str(caught.value)


def test_settings_refuse_unsafe_configurations(sshd: Sshd, tmp_path: Path) -> None:
    loose = tmp_path / "id_loose"
    loose.write_bytes(sshd.client_key.read_bytes())
    loose.chmod(0o644)
    with pytest.raises(ValidationError, match="chmod 600"):
        settings(sshd, private_key_path=loose)
    with pytest.raises(ValidationError, match="allow_password"):
        settings(sshd, password="hunter2")
    with pytest.raises(ValidationError, match="exactly one"):
        settings(sshd, host_key_fingerprint=sshd.host_key_fingerprint)
    with pytest.raises(ValidationError, match="exactly one"):
        settings(sshd, known_hosts_path=None)
    with pytest.raises(ValidationError):
        settings(sshd, host_key_fingerprint="MD5:aa:bb", known_hosts_path=None)


def test_password_is_refused_by_a_key_only_server(sshd: Sshd) -> None:
    config = settings(sshd, private_key_path=None, password="hunter2", allow_password=True)
    with pytest.raises(AuthError) as caught:
        SftpConnection(config).open()
    assert "hunter2" not in str(caught.value)


# --- rename fallback ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sshd_without_posix_rename() -> Iterator[Sshd]:
    with throwaway_sshd(denied_requests=("posix-rename",)) as server:
        yield server


def test_refused_posix_rename_without_fallback_fails(
    sshd_without_posix_rename: Sshd, tmp_path: Path
) -> None:
    server = sshd_without_posix_rename
    with (
        SftpConnection(settings(server)) as conn,
        pytest.raises(ConnectorError, match="permission denied"),
    ):
        conn.upload(payload(tmp_path, 100), "cases.csv")
    assert not server.local("outbox/cases.csv").exists()
    server.local("outbox/.cases.csv.part").unlink()


@pytest.mark.parametrize("mode", ["rename", "delete-then-rename"])
def test_refused_posix_rename_uses_the_fallback(
    sshd_without_posix_rename: Sshd, tmp_path: Path, mode: str
) -> None:
    server = sshd_without_posix_rename
    source = payload(tmp_path, 4096)
    with SftpConnection(settings(server, rename=mode)) as conn:
        conn.upload(source, f"{mode}.csv")
        if mode == "delete-then-rename":
            replacement = payload(tmp_path, 100, "replacement.csv")
            conn.upload(replacement, f"{mode}.csv")
            source = replacement
    assert server.local(f"outbox/{mode}.csv").read_bytes() == source.read_bytes()
    assert not server.local(f"outbox/.{mode}.csv.part").exists()
    server.local(f"outbox/{mode}.csv").unlink()


# --- return files ---------------------------------------------------------------------------


def test_list_fetch_and_archive_returns(sshd: Sshd, tmp_path: Path) -> None:
    returns = sshd.local("returns")
    (returns / "b-settlement.xml").write_bytes(b"<b/>")
    time.sleep(0.01)
    os.utime(returns / "b-settlement.xml", (1_000, 1_000))
    (returns / "a-settlement.xml").write_bytes(b"<a/>" * 1000)
    (returns / ".c-settlement.xml.part").write_bytes(b"in progress")
    (returns / "notes.txt").write_bytes(b"x")
    with SftpConnection(settings(sshd)) as conn:
        found = conn.list_returns("*.xml")
        assert [f.name for f in found] == ["b-settlement.xml", "a-settlement.xml"]
        assert found[1].size == 4000
        local = tmp_path / "a.xml"
        assert conn.fetch("a-settlement.xml", local) == 4000
        assert local.read_bytes() == b"<a/>" * 1000
        assert local.stat().st_mode & 0o077 == 0
        conn.archive("a-settlement.xml")
        conn.archive("a-settlement.xml")  # repeated after a crash: nothing to do
        with pytest.raises(ConnectorError, match="no such file"):
            conn.archive("never-there.xml")
        with pytest.raises(ConnectorError, match="no such file"):
            conn.fetch("never-there.xml", tmp_path / "n.xml")
    assert not (tmp_path / "n.xml").exists()
    assert not (returns / "a-settlement.xml").exists()
    assert sshd.local("archive/a-settlement.xml").read_bytes() == b"<a/>" * 1000
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_archive_without_archive_dir_deletes(sshd: Sshd) -> None:
    sshd.local("returns/r.xml").write_bytes(b"r")
    with SftpConnection(settings(sshd, archive_dir=None)) as conn:
        conn.archive("r.xml")
        conn.archive("r.xml")
    assert not sshd.local("returns/r.xml").exists()


# --- check ----------------------------------------------------------------------------------


def test_check_reports_every_step(sshd: Sshd) -> None:
    items = SftpConnection(settings(sshd)).check()
    assert all(item.ok for item in items), items
    kinds = {item.kind for item in items}
    assert kinds == {CheckKind.REACHABILITY, CheckKind.CONFIG, CheckKind.AUTH, CheckKind.PERMISSION}


def test_check_tells_failures_apart(sshd: Sshd, tmp_path: Path) -> None:
    with TcpProxy(sshd.port) as proxy:
        port = proxy.port
    [item] = SftpConnection(settings(sshd, port=port)).check()
    assert (item.kind, item.ok) == (CheckKind.REACHABILITY, False)

    wrong = "SHA256:" + "B" * 43
    items = SftpConnection(
        settings(sshd, known_hosts_path=None, host_key_fingerprint=wrong)
    ).check()
    assert [(i.kind, i.ok) for i in items] == [
        (CheckKind.REACHABILITY, True),
        (CheckKind.CONFIG, False),
    ]

    items = SftpConnection(settings(sshd, remote_dir=sshd.remote("missing"))).check()
    bad = [i for i in items if not i.ok]
    assert [(i.kind, "remote_dir" in i.message) for i in bad] == [(CheckKind.PERMISSION, True)]


def test_settings_round_trip_through_json(sshd: Sshd) -> None:
    config = settings(sshd)
    assert SftpSettings.model_validate(json.loads(config.model_dump_json())) == config
