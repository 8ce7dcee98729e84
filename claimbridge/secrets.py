"""``${VAR}`` and ``${file:…}`` references in config values, and secret files.

Secrets are referenced from the config, never written in it. A reference is resolved from the
environment or from a file only its owner can read; each resolved value is registered with the
log redactor at once, so it cannot reach a log line even if loading fails later on.

Syntax, inside any string value (also embedded: ``"Bearer ${TOKEN}"``):

- ``${NAME}``           the environment variable NAME (letters, digits, ``_``)
- ``${file:PATH}``      the contents of PATH, one trailing newline removed; relative paths are
                        resolved against the config file's directory
- ``$${``               a literal ``${``
"""

from __future__ import annotations

import os
import re
import stat
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretBytes, SecretStr

from claimbridge.errors import ConfigError, SecretError
from claimbridge.logs import register_secret

__all__ = [
    "MAX_SECRET_FILE_BYTES",
    "ConfigPath",
    "Interpolation",
    "expand",
    "format_path",
    "interpolate",
    "is_secret_annotation",
    "read_secret_file",
    "references",
]

MAX_SECRET_FILE_BYTES = 64 * 1024
"""A secret is a token or a key, not a data file; anything bigger is a wrong path."""

ConfigPath = tuple[str | int, ...]

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_path(path: ConfigPath) -> str:
    """A config path as it is written in TOML: ``agencies.sandbox.token``, ``files[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else '"' + part.replace('"', '\\"') + '"'
            out += f".{key}" if out else key
    return out


def is_secret_annotation(annotation: Any) -> bool:
    """Whether a settings field's type is, or contains, ``SecretStr``/``SecretBytes``."""
    if isinstance(annotation, type) and issubclass(annotation, SecretStr | SecretBytes):
        return True
    return any(is_secret_annotation(arg) for arg in typing.get_args(annotation))


def references(text: str) -> list[str]:
    """The references in ``text`` in order (``NAME`` or ``file:PATH``); escapes skipped."""
    return [m.group(1) for m in _TOKEN.finditer(text) if m.group(1) is not None]


def read_secret_file(path: Path) -> str:
    """The secret in ``path``, which must be a regular file owned by us with mode 0600/0400.

    The file is opened first and checked through its descriptor, so what is checked is what is
    read. Symlinks are followed (Kubernetes and systemd credentials are symlinks); the target
    is what must be private.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK  # a FIFO must not hang us: it is refused below
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise SecretError(f"secret file {path} does not exist") from None
    except OSError as exc:
        raise SecretError(f"secret file {path} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"secret file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise SecretError(
                f"secret file {path} has mode {mode:04o}; "
                f"group and others must have no access (chmod 600 {path})"
            )
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise SecretError(f"secret file {path} is not owned by the current user")
        data = b""
        while len(data) <= MAX_SECRET_FILE_BYTES:
            chunk = os.read(fd, MAX_SECRET_FILE_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise SecretError(f"secret file {path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"secret file {path} is not UTF-8 text") from None
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")


def _resolve(ref: str, environ: Mapping[str, str], base_dir: Path) -> str:
    if ref.startswith("file:"):
        raw = ref.removeprefix("file:").strip()
        if not raw:
            raise ConfigError("${file:} needs a path")
        path = Path(raw).expanduser()
        return read_secret_file(path if path.is_absolute() else base_dir / path)
    name = ref.strip()
    if not _ENV_NAME.fullmatch(name):
        raise ConfigError(
            f"${{{ref}}} is not a valid reference (use ${{NAME}} or ${{file:PATH}}; "
            "write $${ for a literal ${)"
        )
    value = environ.get(name)
    if value is None:
        raise SecretError(f"environment variable {name} is not set")
    return value


def expand(
    text: str,
    *,
    environ: Mapping[str, str],
    base_dir: Path,
    on_secret: Callable[[str], None] = register_secret,
) -> str:
    """``text`` with every reference replaced; each resolved value goes to ``on_secret``.

    Raises ``SecretError`` for an unset variable or a bad secret file, ``ConfigError`` for a
    malformed reference. Messages name the variable or file, never the value.
    """

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        ref = match.group(1)
        if ref is None:
            raise ConfigError("unterminated ${ (write $${ for a literal ${)")
        value = _resolve(ref, environ, base_dir)
        on_secret(value)
        return value

    return _TOKEN.sub(substitute, text)


@dataclass(slots=True)
class Interpolation:
    """The result of expanding a whole config tree."""

    data: dict[str, Any]
    referenced: set[ConfigPath] = field(default_factory=set)  # values that used ${…}
    failed: dict[ConfigPath, ConfigError] = field(default_factory=dict)


def interpolate(
    data: Mapping[str, Any],
    *,
    environ: Mapping[str, str],
    base_dir: Path,
    on_secret: Callable[[str], None] = register_secret,
) -> Interpolation:
    """Expand references in every string of a TOML tree; collect failures by path.

    A value that fails is left as written (its path is in ``failed``), so validation of the rest
    can still go on and report everything at once.
    """
    result = Interpolation(data={})

    def walk(value: Any, path: ConfigPath) -> Any:
        if isinstance(value, str):
            if not references(value) and "${" not in value:
                return value
            if references(value):
                result.referenced.add(path)
            try:
                return expand(value, environ=environ, base_dir=base_dir, on_secret=on_secret)
            except ConfigError as exc:
                result.failed[path] = exc
                return value
        if isinstance(value, Mapping):
            return {str(k): walk(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        return value

    result.data = {str(k): walk(v, (str(k),)) for k, v in data.items()}
    return result
