"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl on a private socket and port."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import skip_or_fail


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    skip_or_fail(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    raise AssertionError("unreachable")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh cluster; the cluster is stopped and removed after.

    The cluster lives in its own directory under /tmp rather than pytest's tmp_path, whose
    0700 parent the ``postgres`` user (needed when the tests run as root) cannot enter.
    """
    base = Path(tempfile.mkdtemp(prefix="claimbridge-pg-"))
    try:
        yield from _cluster(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _cluster(base: Path) -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres system user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            skip_or_fail("running as root and there is no 'postgres' user to run initdb as")
        runuser = shutil.which("runuser") or skip_or_fail("runuser is missing")
        prefix = [str(runuser), "-u", "postgres", "--"]
        base.chmod(0o755)
    data = base / "pgdata"
    sockets = base / "sock"
    data.mkdir()
    sockets.mkdir()
    if prefix:
        for path in (data, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = _free_port()

    def run(*args: str) -> None:
        done = subprocess.run(
            [*prefix, *args], capture_output=True, timeout=120, cwd=base, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.decode(errors='replace')}")

    run(initdb, "-D", str(data), "-U", "cb", "--auth=trust", "-E", "UTF8", "--no-sync")
    run(
        pg_ctl,
        "-D",
        str(data),
        "-w",
        "-t",
        "60",
        "-l",
        str(sockets / "pg.log"),
        "start",
        "-o",
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off",
    )
    try:
        yield f"postgresql+psycopg://cb@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-w", "-m", "immediate", "stop")
