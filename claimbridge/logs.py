"""Logging set-up with secret redaction by value.

Masking by key name (``token=…``) leaks the day a secret turns up somewhere unexpected: in a URL,
a vendor's error body, an exception message deep in a traceback. So every secret the config
resolves is registered here, and the *formatter* replaces each registered value in the final
text of the log line — message, extra fields, traceback and stack alike.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any, Literal, TextIO
from urllib.parse import quote, quote_plus

from claimbridge.errors import ConfigError

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "JsonFormatter",
    "Redactor",
    "TextFormatter",
    "configure_logging",
    "get_redactor",
    "redact",
    "register_secret",
    "value_pattern",
]

REDACTED = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not registered: redacting every "no" or "1" would garble all output."""

LEVELS = ("debug", "info", "warning", "error", "critical")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


def value_pattern(values: Iterable[str], *, ignore_case: bool = False) -> re.Pattern[str]:
    """One pattern matching any of ``values``, longest first so that a value containing
    another is replaced whole."""
    ordered = sorted(values, key=len, reverse=True)
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile("|".join(re.escape(v) for v in ordered), flags)


class Redactor:
    """A set of secret values, replaced by ``***`` wherever they occur in a text.

    Thread-safe: secrets may be registered while other threads log. Besides the value itself,
    its URL-encoded and JSON-escaped forms are registered, since that is how a secret most often
    reappears in a request line or a serialized body.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, value: str) -> None:
        """Remember ``value`` as a secret; values shorter than four characters are ignored."""
        if len(value) < MIN_SECRET_LENGTH:
            return
        variants = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
        with self._lock:
            before = len(self._values)
            self._values.update(v for v in variants if len(v) >= MIN_SECRET_LENGTH)
            if len(self._values) != before:
                self._pattern = value_pattern(self._values)

    def register_all(self, values: Iterable[str]) -> None:
        for value in values:
            self.register(value)

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``."""
        pattern = self._pattern  # one read: a concurrent register swaps the whole object
        if pattern is None or not text:
            return text
        return pattern.sub(REDACTED, text)

    def clear(self) -> None:
        """Forget every secret (tests, and a long-lived process reloading its config)."""
        with self._lock:
            self._values.clear()
            self._pattern = None

    def __len__(self) -> int:
        return len(self._values)


_REDACTOR = Redactor()


def get_redactor() -> Redactor:
    """The process-wide redactor every claimbridge formatter uses."""
    return _REDACTOR


def register_secret(value: str) -> None:
    """Register a secret with the process-wide redactor."""
    _REDACTOR.register(value)


def redact(text: str) -> str:
    """Redact registered secrets from any text, e.g. an error message the CLI prints."""
    return _REDACTOR.redact(text)


class TextFormatter(logging.Formatter):
    """Plain lines for people; redacts the whole formatted line, traceback included."""

    def __init__(self, fmt: str = TEXT_FORMAT, redactor: Redactor | None = None) -> None:
        super().__init__(fmt)
        self.redactor = redactor or _REDACTOR

    def formatException(self, ei: Any) -> str:
        # Also redacted here because logging caches the result on the record (exc_text),
        # where another handler's formatter may pick it up.
        return self.redactor.redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return self.redactor.redact(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line for schedulers: ts, level, logger, message, then extras."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or _REDACTOR

    def formatException(self, ei: Any) -> str:
        return self.redactor.redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return self.redactor.redact(super().formatStack(stack_info))

    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        entry: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(_redact_tree(entry, self.redactor), default=str, ensure_ascii=False)
        # Values that only became text inside json.dumps (default=str) are caught here.
        return self.redactor.redact(line)


def _redact_tree(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, dict):
        return {str(k): _redact_tree(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_tree(v, redactor) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redactor.redact(str(value))


def _level_number(level: str) -> int:
    name = level.strip().lower()
    if name not in LEVELS:
        raise ConfigError(f"unknown log level {level!r} (one of: {', '.join(LEVELS)})")
    return int(logging.getLevelName(name.upper()))


def configure_logging(
    format: Literal["text", "json"] = "text",
    level: str = "info",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send all log records (ours and libraries') through one redacting handler.

    Installs the handler on the root logger, so urllib3's or paramiko's lines are redacted too,
    and replaces the handler an earlier call installed. ``stream`` defaults to the *current*
    ``sys.stderr``. Returns the handler.
    """
    if format not in ("text", "json"):
        raise ConfigError(f"unknown log format {format!r} (one of: text, json)")
    number = _level_number(level)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    handler.set_name("claimbridge")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "claimbridge"]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(number)
    logging.captureWarnings(True)
    return handler
