"""A throwaway OpenSSH ``sshd`` for tests: own host key, own client key, loopback port.

The server runs ``internal-sftp`` only, with key authentication and, when the tests run as root,
a ``ChrootDirectory``. Its files live under a fresh directory that is removed after. Under a
chroot, every component of the chroot path must be root-owned and writable by nobody else, so
the directory cannot live under ``/tmp`` (mode 1777); it goes under ``/run`` or ``/var/lib``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.conftest import require_program, skip_or_fail

__all__ = ["Sshd", "TcpProxy", "free_port", "throwaway_sshd"]

REMOTE_DIRS = ("outbox", "returns", "archive")


@dataclass(frozen=True)
class Sshd:
    """What a test needs to reach the server and to look at its files from the outside."""

    host: str
    port: int
    username: str
    host_key_fingerprint: str  # "SHA256:…", as ``ssh-keygen -l`` prints it
    known_hosts: Path
    client_key: Path
    root: Path  # the local directory the SFTP user sees as its root
    remote_root: str  # "" under a chroot, else ``str(root)``
    pid: int
    workdir: Path

    def remote(self, name: str) -> str:
        """Remote path of ``name`` relative to the SFTP root (``outbox`` → ``/outbox``)."""
        return f"{self.remote_root}/{name}"

    def local(self, name: str) -> Path:
        return self.root / name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chroot_parent() -> Path | None:
    """A directory whose every component is root-owned and not group/other writable."""
    if os.geteuid() != 0:
        return None
    for candidate in (Path("/run"), Path("/var/lib")):
        parts = [candidate, *candidate.parents]
        if all(_safe_for_chroot(p) for p in parts):
            return candidate
    return None


def _safe_for_chroot(path: Path) -> bool:
    try:
        info = path.stat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & (stat.S_IWGRP | 2)


def _keygen(path: Path) -> str:
    """Generate an ed25519 key pair at ``path``; return its public key line."""
    keygen = require_program("ssh-keygen")
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "claimbridge-test", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return path.with_suffix(".pub").read_text().strip()


def _fingerprint(public_key: Path) -> str:
    keygen = require_program("ssh-keygen")
    out = subprocess.run(
        [keygen, "-l", "-E", "sha256", "-f", str(public_key)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return out.split()[1]


@contextmanager
def throwaway_sshd(*, denied_requests: Sequence[str] = ()) -> Iterator[Sshd]:
    """Start ``sshd -D -e`` on a free loopback port; stop it and remove its files after.

    ``denied_requests`` are SFTP requests the server refuses (``internal-sftp -P``), e.g.
    ``("posix-rename",)`` to stand in for a server without that permission.
    """
    sshd = require_program("sshd", "/usr/sbin/sshd")
    parent = _chroot_parent()
    base = Path(tempfile.mkdtemp(prefix="claimbridge-sshd-", dir=parent))
    process: subprocess.Popen[bytes] | None = None
    try:
        if os.geteuid() == 0:  # sshd's privilege separation directory
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        keys = base / "keys"
        keys.mkdir(mode=0o700)
        root = base / "sftp-root"
        root.mkdir(mode=0o755)
        for name in REMOTE_DIRS:
            (root / name).mkdir()
        host_public = _keygen(keys / "host_ed25519")
        client_public = _keygen(keys / "client_ed25519")
        authorized = keys / "authorized_keys"
        authorized.write_text(client_public + "\n")
        port = free_port()
        known_hosts = keys / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_public}\n")
        username = pwd.getpwuid(os.geteuid()).pw_name
        chroot = parent is not None
        force = "internal-sftp" + (f" -P {','.join(denied_requests)}" if denied_requests else "")
        config = keys / "sshd_config"
        lines = [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {keys / 'host_ed25519'}",
            "PidFile none",
            f"AuthorizedKeysFile {authorized}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            f"AllowUsers {username}",
            "MaxStartups 50",
            "LogLevel INFO",
            "Subsystem sftp internal-sftp",
            f"ForceCommand {force}",
        ]
        if chroot:
            lines.append(f"ChrootDirectory {root}")
        config.write_text("\n".join(lines) + "\n")
        log = (base / "sshd.log").open("wb")
        process = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stderr=log, stdout=log)
        _wait_listening(port, process, base / "sshd.log")
        yield Sshd(
            host="127.0.0.1",
            port=port,
            username=username,
            host_key_fingerprint=_fingerprint(keys / "host_ed25519.pub"),
            known_hosts=known_hosts,
            client_key=keys / "client_ed25519",
            root=root,
            remote_root="" if chroot else str(root),
            pid=process.pid,
            workdir=base,
        )
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            skip_or_fail(f"sshd exited at start: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on port {port}: {log.read_text(errors='replace')}")


class TcpProxy:
    """A loopback TCP relay to the sshd that can misbehave on cue, like a bad network.

    ``mute``: accept connections and never answer (a server that hangs before its banner).
    ``stall_after``: after that many client bytes, swallow everything (a hung server).
    ``cut_after``: after that many client bytes, drop both connections (a killed transfer).
    """

    def __init__(
        self,
        target_port: int,
        *,
        mute: bool = False,
        stall_after: int | None = None,
        cut_after: int | None = None,
    ) -> None:
        self.target_port = target_port
        self.mute = mute
        self.stall_after = stall_after
        self.cut_after = cut_after
        self.stalled = threading.Event()
        self.cut = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Self:
        self._spawn(self._accept)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _drop(self._listener)  # shutdown wakes the thread blocked in accept()
        for sock in self._sockets:
            _drop(sock)
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            if self.mute:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets.append(upstream)
            self._spawn(self._pump, client, upstream, True)
            self._spawn(self._pump, upstream, client, False)

    def _pump(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        relayed = 0
        try:
            while data := source.recv(65536):
                if from_client:
                    relayed += len(data)
                    if self.cut_after is not None and relayed > self.cut_after:
                        self.cut.set()
                        _drop(source)
                        _drop(target)
                        return
                    if self.stall_after is not None and relayed > self.stall_after:
                        self.stalled.set()
                if self.stalled.is_set():
                    continue  # keep reading so the client blocks on the SSH window, not TCP
                target.sendall(data)
        except OSError:
            return


def _drop(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
