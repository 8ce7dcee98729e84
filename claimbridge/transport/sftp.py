"""SFTP file drops: pinned host keys, key auth, deadlines, temp-name uploads, late archiving.

An agency's SFTP server is trusted by its pinned host key only: a key that is not in the
configured ``known_hosts`` file, or that differs from the pinned ``SHA256:`` fingerprint, is
refused and the offered fingerprint shown, so an admin can compare it with what the agency
published. A file is uploaded as ``.<name>.part``, its size checked, and only then renamed to
its final name, so the agency never picks up half a file. Return files are archived remotely
only when the caller says so (``archive(name)``), after the state store has recorded them.

Every blocking step has a limit: ``connect_timeout`` for TCP, the SSH handshake and auth,
``channel_timeout`` for each SFTP request, and ``run_deadline_s`` for the whole connection.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import io
import logging
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

import paramiko
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from claimbridge.connectors.base import CheckItem, CheckKind
from claimbridge.errors import (
    AuthError,
    ClaimbridgeError,
    ConfigError,
    ConnectorError,
    HostKeyError,
    SecretError,
    UnreachableError,
)

__all__ = ["RemoteFile", "RenameMode", "SftpConnection", "SftpSettings", "host_key_fingerprint"]

log = logging.getLogger(__name__)

RenameMode = Literal["posix", "rename", "delete-then-rename"]

# Throughput: paramiko's defaults (2 MiB window, 32 KiB SFTP writes) leave it waiting on acks;
# a large window and the largest write OpenSSH's sftp-server takes keep the pipe full.
WINDOW_SIZE = 2**27
MAX_PACKET_SIZE = 2**15
LOCAL_CHUNK = 2**20
_PROBE_NAME = ".claimbridge-check.part"
_FINGERPRINT_PATTERN = r"^SHA256:[A-Za-z0-9+/]{43}$"


class SftpSettings(BaseModel):
    """One agency's SFTP endpoint. Secrets are ``SecretStr``; the private key file must be 0600."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1)
    private_key_path: Path | None = None
    private_key_passphrase: SecretStr | None = None
    password: SecretStr | None = None
    allow_password: bool = False
    known_hosts_path: Path | None = None
    host_key_fingerprint: str | None = Field(default=None, pattern=_FINGERPRINT_PATTERN)
    connect_timeout: float = Field(default=15.0, gt=0)
    channel_timeout: float = Field(default=60.0, gt=0)
    run_deadline_s: float | None = Field(default=3600.0, gt=0)
    remote_dir: str = "/"
    return_dir: str = "/"
    archive_dir: str | None = None  # None: archiving a return file deletes it
    rename: RenameMode = "posix"
    # 32 KiB is what every SFTP server must accept; OpenSSH takes up to 255 KiB, which is faster.
    write_request_size: int = Field(default=2**15, ge=2**12, le=255 * 2**10)

    @field_validator("private_key_path")
    @classmethod
    def _key_file_private(cls, path: Path | None) -> Path | None:
        if path is None:
            return None
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
        if mode & 0o077:
            raise ValueError(
                f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600"
            )
        return path

    @model_validator(mode="after")
    def _auth_and_pin(self) -> Self:
        if self.password is not None and not self.allow_password:
            raise ValueError("password is set but allow_password is false; prefer a key")
        if self.private_key_path is None and self.password is None:
            raise ValueError("set private_key_path (or a password with allow_password = true)")
        if (self.known_hosts_path is None) == (self.host_key_fingerprint is None):
            raise ValueError("set exactly one of known_hosts_path and host_key_fingerprint")
        return self


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A return file waiting in ``return_dir``."""

    name: str
    size: int
    modified: datetime


def host_key_fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:…`` as ``ssh-keygen -l`` prints it: unpadded base64 of the key blob's digest."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class SftpConnection:
    """An open SFTP session to one agency; use as a context manager.

    Calls after a timeout or a lost connection raise ``UnreachableError``: the session's state
    is unknown then, and the next run starts a fresh one.
    """

    def __init__(
        self,
        settings: SftpSettings,
        *,
        connector: str = "sftp",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.connector = connector
        self._clock = clock
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._deadline: float | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Connect, verify the host key, authenticate and start the SFTP subsystem."""
        if self.settings.run_deadline_s is not None:
            self._deadline = self._clock() + self.settings.run_deadline_s
        transport = self._handshake()
        try:
            self._verify_host_key(transport)
            self._authenticate(transport)
            self._sftp = self._start_sftp(transport)
        except BaseException:
            transport.close()
            raise
        self._transport = transport

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    # --- operations -----------------------------------------------------------------------

    def upload(self, local_path: Path, remote_name: str, *, directory: str = "") -> int:
        """Upload as ``.<name>.part``, check its size, rename to ``name``; return the bytes.

        ``directory`` is a relative subdirectory of ``remote_dir`` (an agency with one inbox
        per file kind). A failed or killed upload leaves at most the ``.part`` file, which the
        next upload of the same name overwrites.
        """
        name = _plain_name(remote_name, self.connector)
        base = _subdir(self.settings.remote_dir, directory, self.connector)
        final = _join(base, name)
        temp = _join(base, f".{name}.part")
        try:
            size = local_path.stat().st_size
            source = local_path.open("rb")
        except OSError as exc:
            raise ConnectorError(
                f"cannot read {local_path}: {exc.strerror}", connector=self.connector
            ) from exc
        started = time.monotonic()
        with source, self._remote(f"upload of {name}") as sftp:
            with sftp.open(temp, "wb") as target:
                target.MAX_REQUEST_SIZE = self.settings.write_request_size
                target.set_pipelined(True)
                while chunk := source.read(LOCAL_CHUNK):
                    target.write(chunk)
                    self._channel_limit()
            arrived = sftp.stat(temp).st_size
            if arrived != size:
                raise ConnectorError(
                    f"upload of {name}: {arrived} of {size} bytes arrived; left as {temp}",
                    connector=self.connector,
                )
            self._rename(sftp, temp, final)
        log.info("uploaded %s: %d bytes in %.2f s", name, size, time.monotonic() - started)
        return size

    def list_returns(self, pattern: str = "*", *, directory: str = "") -> list[RemoteFile]:
        """Regular files in ``return_dir`` (or its subdirectory ``directory``) matching
        ``pattern``, oldest first.

        Names starting with a dot are skipped: they are uploads still in progress.
        """
        folder = _subdir(self.settings.return_dir, directory, self.connector)
        with self._remote("listing return files") as sftp:
            entries = sftp.listdir_attr(folder)
        found = [
            RemoteFile(
                name=entry.filename,
                size=entry.st_size or 0,
                modified=datetime.fromtimestamp(entry.st_mtime or 0, UTC),
            )
            for entry in entries
            if stat.S_ISREG(entry.st_mode or 0)
            and _is_plain_name(entry.filename)
            and not entry.filename.startswith(".")
            and fnmatch.fnmatchcase(entry.filename, pattern)
        ]
        return sorted(found, key=lambda f: (f.modified, f.name))

    def fetch(self, name: str, local_path: Path, *, directory: str = "") -> int:
        """Download a return file to ``local_path`` (0600, via a temp file); return the bytes."""
        name = _plain_name(name, self.connector)
        remote = _join(_subdir(self.settings.return_dir, directory, self.connector), name)
        temp = local_path.with_name(f".{local_path.name}.part")
        try:
            with self._remote(f"fetch of {name}") as sftp:
                expected = sftp.stat(remote).st_size
                with sftp.open(remote, "rb") as source, _private_file(temp) as target:
                    source.prefetch(expected)
                    while chunk := source.read(LOCAL_CHUNK):
                        target.write(chunk)
                        self._channel_limit()
            got = temp.stat().st_size
            if expected is not None and got != expected:
                raise ConnectorError(
                    f"fetch of {name}: {got} of {expected} bytes arrived", connector=self.connector
                )
            os.replace(temp, local_path)
        except OSError as exc:
            raise ConnectorError(
                f"fetch of {name}: cannot write {local_path}: {exc.strerror}",
                connector=self.connector,
            ) from exc
        finally:
            temp.unlink(missing_ok=True)
        return got

    def archive(self, name: str, *, directory: str = "") -> None:
        """Move a return file to ``archive_dir`` (or delete it when there is none).

        A file of a subdirectory ``directory`` of ``return_dir`` goes to the same subdirectory
        of ``archive_dir``, made when missing (two directories may hold files of one name).
        Call this only after the state store recorded the file. Archiving a file that is
        already in the archive is a no-op, so a run that crashed in between can repeat it.
        """
        name = _plain_name(name, self.connector)
        source = _join(_subdir(self.settings.return_dir, directory, self.connector), name)
        archive_dir = self.settings.archive_dir
        with self._remote(f"archiving {name}") as sftp:
            if archive_dir is None:
                _remove_if_present(sftp, source)
                return
            folder = _subdir(archive_dir, directory, self.connector)
            if directory:
                _make_directory(sftp, folder)
            target = _join(folder, name)
            try:
                sftp.stat(source)
            except FileNotFoundError:
                sftp.stat(target)  # already archived; raises if the file is nowhere
                return
            self._rename(sftp, source, target)

    def check(
        self, *, upload_dirs: Sequence[str] = ("",), return_dirs: Sequence[str] = ("",)
    ) -> list[CheckItem]:
        """Reachability, host key, auth and directory permissions, one item each; never raises.

        ``upload_dirs`` and ``return_dirs`` are subdirectories of ``remote_dir`` and
        ``return_dir`` that must be writable and listable (``""``: the directory itself).
        Opens its own short connection, so call it on a connection that is not open.
        """
        try:
            transport = self._handshake()
        except ClaimbridgeError as exc:
            return [CheckItem(CheckKind.REACHABILITY, False, str(exc))]
        items = [CheckItem(CheckKind.REACHABILITY, True, f"{self._where} answers SSH")]
        try:
            self._verify_host_key(transport)
            items.append(CheckItem(CheckKind.CONFIG, True, "host key matches the pin"))
        except ClaimbridgeError as exc:
            transport.close()
            return [*items, CheckItem(CheckKind.CONFIG, False, str(exc))]
        try:
            self._authenticate(transport)
            items.append(CheckItem(CheckKind.AUTH, True, "authenticated"))
            sftp = self._start_sftp(transport)
            items.extend(self._check_directories(sftp, upload_dirs, return_dirs))
        except ClaimbridgeError as exc:
            kind = (
                CheckKind.AUTH if isinstance(exc, AuthError | SecretError) else CheckKind.PERMISSION
            )
            items.append(CheckItem(kind, False, str(exc)))
        finally:
            transport.close()
        return items

    # --- connecting -----------------------------------------------------------------------

    def _handshake(self) -> paramiko.Transport:
        s = self.settings
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.connect_timeout)
        except OSError as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
            raise UnreachableError(
                f"cannot connect to {self._where}: {reason}", connector=self.connector
            ) from exc
        transport = paramiko.Transport(
            sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE
        )
        transport.banner_timeout = s.connect_timeout
        transport.handshake_timeout = s.connect_timeout
        transport.auth_timeout = s.connect_timeout
        options = transport.get_security_options()
        # AES-GCM is one pass in C; paramiko would otherwise pick CTR + a separate HMAC.
        preferred = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
        options.ciphers = (*preferred, *(c for c in options.ciphers if c not in preferred))
        known = self._known_hosts_entry()
        if known:  # ask only for key types we know, so the server cannot offer another one
            options.key_types = tuple(t for t in options.key_types if t in known)
        try:
            transport.start_client(timeout=s.connect_timeout)
            transport.get_remote_server_key()  # start_client returns on timeout without one
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            raise UnreachableError(
                f"no SSH handshake with {self._where} within {s.connect_timeout:g} s "
                f"({type(exc).__name__})",
                connector=self.connector,
            ) from exc
        return transport

    def _known_hosts_entry(self) -> dict[str, paramiko.PKey] | None:
        path = self.settings.known_hosts_path
        if path is None:
            return None
        try:
            keys = paramiko.HostKeys(str(path))
        except OSError as exc:
            raise ConfigError(f"cannot read known_hosts file {path}: {exc.strerror}") from exc
        port = self.settings.port
        host = self.settings.host if port == 22 else f"[{self.settings.host}]:{port}"
        entry = keys.lookup(host)
        return dict(entry) if entry is not None else {}

    def _verify_host_key(self, transport: paramiko.Transport) -> None:
        offered = transport.get_remote_server_key()
        fingerprint = host_key_fingerprint(offered)
        shown = f"{offered.get_name()} {fingerprint}"
        pinned = self.settings.host_key_fingerprint
        if pinned is not None:
            if not hmac.compare_digest(fingerprint, pinned):
                raise HostKeyError(
                    f"host key of {self._where} does not match the pinned {pinned}: "
                    f"the server offered {shown}; refusing to connect",
                    connector=self.connector,
                )
            return
        entry = self._known_hosts_entry() or {}
        if not entry:
            raise HostKeyError(
                f"host {self._where} is not in {self.settings.known_hosts_path}: "
                f"the server offered {shown}; refusing an unknown host key",
                connector=self.connector,
            )
        known = entry.get(offered.get_name())
        if known is None or known.asbytes() != offered.asbytes():
            raise HostKeyError(
                f"host key of {self._where} changed: the server offered {shown}, "
                f"which differs from {self.settings.known_hosts_path}; refusing to connect",
                connector=self.connector,
            )

    def _authenticate(self, transport: paramiko.Transport) -> None:
        s = self.settings
        try:
            remaining: list[str] = []
            if s.private_key_path is not None:
                remaining = transport.auth_publickey(s.username, self._private_key()) or []
            if not transport.is_authenticated() and s.password is not None:
                if remaining and "password" not in remaining:
                    raise paramiko.AuthenticationException("password not offered")
                transport.auth_password(s.username, s.password.get_secret_value())
        except paramiko.AuthenticationException as exc:
            raise AuthError(
                f"{self._where} refused authentication ({type(exc).__name__})",
                connector=self.connector,
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise UnreachableError(
                f"connection to {self._where} lost during authentication ({type(exc).__name__})",
                connector=self.connector,
            ) from exc
        if not transport.is_authenticated():
            raise AuthError(f"{self._where} wants more authentication", connector=self.connector)

    def _private_key(self) -> paramiko.PKey:
        path = self.settings.private_key_path
        assert path is not None
        secret = self.settings.private_key_passphrase
        passphrase = secret.get_secret_value() if secret is not None else None
        try:
            return paramiko.PKey.from_path(path, password=passphrase)
        except (paramiko.PasswordRequiredException, TypeError) as exc:
            if passphrase is not None:
                raise SecretError(
                    f"cannot load private key {path} ({type(exc).__name__})"
                ) from None
            raise SecretError(
                f"private key {path} is encrypted; set private_key_passphrase"
            ) from None
        except (paramiko.SSHException, OSError, ValueError) as exc:
            raise SecretError(
                f"cannot load private key {path} (wrong passphrase or format: {type(exc).__name__})"
            ) from None

    def _start_sftp(self, transport: paramiko.Transport) -> paramiko.SFTPClient:
        try:
            sftp = paramiko.SFTPClient.from_transport(
                transport, window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET_SIZE
            )
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectorError(
                f"{self._where} refused the SFTP subsystem ({type(exc).__name__})",
                connector=self.connector,
            ) from exc
        if sftp is None:
            raise ConnectorError(
                f"{self._where} refused the SFTP subsystem", connector=self.connector
            )
        sftp.get_channel().settimeout(self.settings.channel_timeout)
        return sftp

    def _check_directories(
        self, sftp: paramiko.SFTPClient, upload_dirs: Sequence[str], return_dirs: Sequence[str]
    ) -> list[CheckItem]:
        s = self.settings
        items: list[CheckItem] = []
        writable = []
        for sub in dict.fromkeys(upload_dirs):
            try:
                writable.append(("remote_dir", _subdir(s.remote_dir, sub, self.connector)))
            except ConnectorError as exc:
                items.append(CheckItem(CheckKind.CONFIG, False, str(exc)))
        if s.archive_dir is not None:
            writable.append(("archive_dir", s.archive_dir))
        for label, directory in writable:
            probe = _join(directory, _PROBE_NAME)
            try:
                with sftp.open(probe, "wb") as handle:
                    handle.write(b"")
                sftp.remove(probe)
                items.append(CheckItem(CheckKind.PERMISSION, True, f"{label} {directory} writable"))
            except OSError as exc:
                items.append(
                    CheckItem(CheckKind.PERMISSION, False, f"{label} {directory}: {_describe(exc)}")
                )
        for sub in dict.fromkeys(return_dirs):
            try:
                folder = _subdir(s.return_dir, sub, self.connector)
                sftp.listdir(folder)
                items.append(CheckItem(CheckKind.PERMISSION, True, f"return_dir {folder} listable"))
            except ConnectorError as exc:
                items.append(CheckItem(CheckKind.CONFIG, False, str(exc)))
            except OSError as exc:
                items.append(
                    CheckItem(CheckKind.PERMISSION, False, f"return_dir {folder}: {_describe(exc)}")
                )
        return items

    # --- per-request limits and errors -----------------------------------------------------

    def _channel_limit(self) -> float:
        """The timeout for the next request: the channel timeout, capped by the run deadline."""
        limit = self.settings.channel_timeout
        if self._deadline is not None:
            left = self._deadline - self._clock()
            if left <= 0:
                raise UnreachableError(
                    f"run deadline of {self.settings.run_deadline_s:g} s passed",
                    connector=self.connector,
                )
            limit = min(limit, left)
        if self._sftp is not None:
            self._sftp.get_channel().settimeout(limit)
        return limit

    @contextmanager
    def _remote(self, action: str) -> Iterator[paramiko.SFTPClient]:
        """Run remote requests, turning paramiko's and the socket's errors into ours."""
        if self._sftp is None:
            raise UnreachableError(
                f"{action}: the SFTP connection is not open", connector=self.connector
            )
        limit = self._channel_limit()
        try:
            yield self._sftp
        except ClaimbridgeError:
            raise
        except TimeoutError as exc:
            self.close()
            raise UnreachableError(
                f"{action}: {self._where} did not answer within {limit:g} s",
                connector=self.connector,
            ) from exc
        except (EOFError, paramiko.SSHException, OSError) as exc:
            if isinstance(exc, OSError) and self._connected():
                raise ConnectorError(
                    f"{action}: {_describe(exc)}", connector=self.connector
                ) from exc
            self.close()
            raise UnreachableError(
                f"{action}: connection to {self._where} lost ({type(exc).__name__})",
                connector=self.connector,
            ) from exc

    def _connected(self) -> bool:
        """Whether the SSH connection still stands (an OSError may mean it went away)."""
        return self._transport is not None and self._transport.is_active()

    def _rename(self, sftp: paramiko.SFTPClient, source: str, target: str) -> None:
        """``posix-rename``; when the server refuses it, the configured fallback."""
        try:
            sftp.posix_rename(source, target)
            return
        except FileNotFoundError:
            raise
        except OSError as exc:
            if self.settings.rename == "posix":
                raise
            log.info("posix-rename refused (%s); falling back to %s", exc, self.settings.rename)
        if self.settings.rename == "delete-then-rename":
            _remove_if_present(sftp, target)
        sftp.rename(source, target)


# --- helpers --------------------------------------------------------------------------------


def _join(directory: str, name: str) -> str:
    return f"{directory.rstrip('/')}/{name}"


def _subdir(base: str, directory: str, connector: str) -> str:
    """``base`` joined with a relative subdirectory whose every part is a plain name."""
    if not directory:
        return base
    parts = directory.split("/")
    if any(not _is_plain_name(p) or p.startswith(".") for p in parts):
        raise ConnectorError(f"unsafe remote directory {directory!r}", connector=connector)
    return _join(base, "/".join(parts))


def _make_directory(sftp: paramiko.SFTPClient, path: str) -> None:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        sftp.mkdir(path, mode=0o700)


def _is_plain_name(name: str) -> bool:
    return bool(name) and name not in {".", ".."} and "/" not in name and "\x00" not in name


def _plain_name(name: str, connector: str) -> str:
    """A remote file name must be one path component: no directories, no ``..``."""
    if not _is_plain_name(name) or name.startswith("."):
        raise ConnectorError(f"unsafe remote file name {name!r}", connector=connector)
    return name


def _remove_if_present(sftp: paramiko.SFTPClient, path: str) -> None:
    with suppress(FileNotFoundError):
        sftp.remove(path)


def _describe(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc) or type(exc).__name__


@contextmanager
def _private_file(path: Path) -> Iterator[io.BufferedWriter]:
    """A new file only the owner can read: fetched files carry debtor data."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        yield handle
