"""Benchmark SFTP upload throughput against OpenSSH's own ``sftp`` client, same server, same run.

    python benchmarks/sftp.py [--mb 100] [--repeat 3] [--json]

Starts a throwaway loopback ``sshd`` (the one the integration tests use), writes a file of
random bytes, and uploads it with ``SftpConnection.upload`` (temp name, size check and rename
included) and with ``sftp -b`` (a plain ``put``), interleaved; the best of ``--repeat`` rounds
counts for each. claimbridge must reach at least half of OpenSSH's rate (exit code 1 otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.integration.sshd

from claimbridge.transport.sftp import SftpConnection, SftpSettings
from tests.integration.sshd import Sshd, throwaway_sshd


def _random_file(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        left = size
        while left:
            chunk = os.urandom(min(left, 2**20))
            handle.write(chunk)
            left -= len(chunk)


def _claimbridge(server: Sshd, source: Path) -> float:
    settings = SftpSettings(
        host=server.host,
        port=server.port,
        username=server.username,
        private_key_path=server.client_key,
        known_hosts_path=server.known_hosts,
        remote_dir=server.remote("outbox"),
        return_dir=server.remote("returns"),
    )
    with SftpConnection(settings) as conn:
        started = time.perf_counter()
        conn.upload(source, "claimbridge.bin")
        return time.perf_counter() - started


def _openssh(server: Sshd, source: Path, sftp: str) -> float:
    command = [
        sftp,
        "-q",
        "-b",
        "-",
        "-i",
        str(server.client_key),
        "-o",
        f"UserKnownHostsFile={server.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-P",
        str(server.port),
        f"{server.username}@{server.host}",
    ]
    batch = f"put {source} {server.remote('outbox')}/openssh.bin\n".encode()
    started = time.perf_counter()
    subprocess.run(command, input=batch, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def run(mb: float, repeat: int) -> dict[str, float]:
    sftp = shutil.which("sftp")
    if sftp is None:
        raise SystemExit("OpenSSH's sftp client is not installed")
    size = int(mb * 2**20)
    with tempfile.TemporaryDirectory(prefix="claimbridge-bench-") as tmp, throwaway_sshd() as srv:
        source = Path(tmp) / "payload.bin"
        _random_file(source, size)
        ours, theirs = [], []
        for _ in range(repeat):
            ours.append(_claimbridge(srv, source))
            theirs.append(_openssh(srv, source, sftp))
        for name in ("claimbridge.bin", "openssh.bin"):
            if srv.local(f"outbox/{name}").stat().st_size != size:
                raise SystemExit(f"{name} arrived with the wrong size")
    ours_rate = size / 2**20 / min(ours)
    theirs_rate = size / 2**20 / min(theirs)
    return {
        "claimbridge_mb_s": round(ours_rate, 1),
        "openssh_mb_s": round(theirs_rate, 1),
        "ratio_vs_openssh": round(ours_rate / theirs_rate, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="file size in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best one counts")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = run(args.mb, max(args.repeat, 1))
    if args.json:
        print(json.dumps(result))
    else:
        print(" ".join(f"{k}={v}" for k, v in result.items()))
    return 0 if result["ratio_vs_openssh"] >= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
