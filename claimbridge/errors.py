"""The one exception tree of claimbridge.

Every error knows how the program ends (``exit_code``) and whether trying again later can help
(``retryable``). The CLI never maps message strings to codes; it asks the exception.

    ClaimbridgeError                       exit 1   anything we raise on purpose
    ├── UserError                          exit 2   the user must change something
    │   ├── ConfigError                    exit 3   config file invalid; lists every problem
    │   ├── SecretError                    exit 3   secret missing, or its file too open
    │   ├── UsageError                     exit 2   bad command-line use
    │   ├── NotFoundError                  exit 4   an invoice, case or file that is not there
    │   └── NotResolvableError             exit 14  a delivery whose outcome is not for a person
    ├── ConnectorError                     exit 5   a source or agency failed
    │   ├── AuthError                      exit 6   credentials rejected (fix config)
    │   ├── UnreachableError               exit 7   network / DNS / TLS / timeout   (retryable)
    │   │   └── OutcomeUnknownError        exit 7   sent, no answer: resolve by lookup, not resend
    │   ├── RateLimitedError               exit 8   rate limit exhausted            (retryable)
    │   ├── RemoteError                    exit 5   the remote said no (vendor message and code)
    │   └── HostKeyError                   exit 6   SFTP host key unknown or changed
    ├── DataError                          exit 9   input that cannot be used
    │   ├── ParseError                     exit 9   a file or body unreadable (names line, field)
    │   ├── MappingError                   exit 9   a mapping file is wrong (names file and field)
    │   └── RecordError                    —        one record invalid: quarantined, run goes on
    ├── StateError                         exit 10  the state store is unusable
    │   └── LeaseHeldError                 exit 11  another run of this pipeline holds the lease
    └── PolicyError                        exit 12  a hand-over the law forbids (even with --force)

Exit code 0 is success; 13 means a run finished but quarantined or rejected something (the CLI
uses it for ``--strict``). 130 is an interrupt.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthError",
    "ClaimbridgeError",
    "ConfigError",
    "ConfigProblem",
    "ConnectorError",
    "DataError",
    "HostKeyError",
    "LeaseHeldError",
    "MappingError",
    "NotFoundError",
    "NotResolvableError",
    "OutcomeUnknownError",
    "ParseError",
    "PolicyError",
    "RateLimitedError",
    "RecordError",
    "RemoteError",
    "SecretError",
    "StateError",
    "UnreachableError",
    "UsageError",
    "UserError",
]

EXIT_OK = 0
EXIT_PARTIAL = 13
EXIT_INTERRUPTED = 130


class ClaimbridgeError(Exception):
    """Base of every error claimbridge raises on purpose."""

    exit_code: ClassVar[int] = 1
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UserError(ClaimbridgeError):
    exit_code = 2


class UsageError(UserError):
    exit_code = 2


class NotFoundError(UserError):
    exit_code = 4


class NotResolvableError(UserError):
    """Only an outcome left unknown (or ``sending`` by a run that died) can be resolved by hand;
    a delivery still pending, or one the agency already answered, is not a person's to decide."""

    exit_code = 14


class ConfigProblem:
    """One problem in a config file, with its dotted path (``pipelines.main.agency.url``)."""

    __slots__ = ("message", "path")

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message

    def __repr__(self) -> str:
        return f"ConfigProblem({self.path!r}, {self.message!r})"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(UserError):
    """The config is invalid. Carries every problem found, not just the first."""

    exit_code = 3

    def __init__(self, message: str, problems: list[ConfigProblem] | None = None) -> None:
        self.problems = list(problems or [])
        if self.problems:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{message}\n{lines}"
        super().__init__(message)


class SecretError(ConfigError):
    exit_code = 3


class ConnectorError(ClaimbridgeError):
    """A source or agency failed. ``code`` is the remote's own error code, when it has one."""

    exit_code = 5

    def __init__(self, message: str, *, connector: str = "", code: str | None = None) -> None:
        prefix = f"{connector}: " if connector else ""
        suffix = f" [{code}]" if code else ""
        super().__init__(f"{prefix}{message}{suffix}")
        self.connector = connector
        self.code = code


class AuthError(ConnectorError):
    """Credentials refused. ``status`` is the HTTP status when one said so: a 401 (the token
    itself is dead, renew it) reads differently from a 403 (this account may not do that)."""

    exit_code = 6

    def __init__(
        self,
        message: str,
        *,
        connector: str = "",
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, connector=connector, code=code)
        self.status = status


class HostKeyError(ConnectorError):
    exit_code = 6


class UnreachableError(ConnectorError):
    exit_code = 7
    retryable = True


class OutcomeUnknownError(UnreachableError):
    """The request may have reached the remote, but no answer came back (read timeout, dropped
    connection after sending). Resolve by asking the remote what it did; never resend blindly."""

    outcome_unknown = True


class RateLimitedError(ConnectorError):
    exit_code = 8
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        connector: str = "",
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, connector=connector, code=code)
        self.retry_after = retry_after


class RemoteError(ConnectorError):
    """The remote answered with an error of its own (4xx/5xx with a body we understood)."""

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        connector: str = "",
        code: str | None = None,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, connector=connector, code=code)
        self.status = status
        self.retryable = retryable  # a 503 is worth retrying, a 400 is not


class DataError(ClaimbridgeError):
    exit_code = 9


class ParseError(DataError):
    """A file or body could not be read. Says where: file, line and field or element."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        where = ":".join(str(p) for p in (file, line) if p is not None)
        if field:
            where = f"{where} ({field})" if where else field
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.line = line
        self.field = field


class MappingError(DataError):
    """A mapping file is wrong, or a record cannot go through it. Names the file and field."""

    def __init__(self, message: str, *, mapping: str = "", field: str = "") -> None:
        where = " ".join(p for p in (mapping, f"field {field!r}" if field else "") if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.mapping = mapping
        self.field = field


class RecordError(DataError):
    """One record is invalid. The pipeline quarantines it with ``reasons`` and goes on."""

    def __init__(self, reasons: list[str], *, record_id: str = "", location: str = "") -> None:
        self.reasons = list(reasons)
        self.record_id = record_id
        self.location = location
        head = location or record_id or "record"
        super().__init__(f"{head}: " + "; ".join(self.reasons))


class StateError(ClaimbridgeError):
    exit_code = 10


class LeaseHeldError(StateError):
    exit_code = 11
    retryable = True


class PolicyError(ClaimbridgeError):
    """A hand-over the law does not allow. ``--force`` overrides creditor rules, never these."""

    exit_code = 12
