"""Redaction by value in the log formatter: messages, extras, tracebacks; text and JSON."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimbridge.errors import ConfigError
from claimbridge.logs import (
    REDACTED,
    Redactor,
    TextFormatter,
    configure_logging,
    get_redactor,
    redact,
    register_secret,
)

SECRET = "sk_live_9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    get_redactor().clear()
    yield
    get_redactor().clear()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def log_everything(log: logging.Logger) -> None:
    log.info("calling with token %s", SECRET)
    log.warning("header", extra={"authorization": f"Bearer {SECRET}", "attempt": 2})
    try:
        raise RuntimeError(f"remote said: bad key {SECRET}")
    except RuntimeError:
        log.exception("push failed")


def test_text_lines_never_contain_secret() -> None:
    stream = io.StringIO()
    configure_logging("text", "debug", stream=stream)
    register_secret(SECRET)
    log_everything(logging.getLogger("claimbridge.test"))
    output = stream.getvalue()
    assert SECRET not in output
    assert f"calling with token {REDACTED}" in output
    assert f"RuntimeError: remote said: bad key {REDACTED}" in output
    assert "Traceback (most recent call last)" in output


def test_json_lines_never_contain_secret() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    register_secret(SECRET)
    log_everything(logging.getLogger("claimbridge.test"))
    output = stream.getvalue()
    assert SECRET not in output
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line["level"] for line in lines] == ["info", "warning", "error"]
    assert {"ts", "level", "logger", "message"} <= set(lines[0])
    assert lines[0]["logger"] == "claimbridge.test"
    assert lines[0]["message"] == f"calling with token {REDACTED}"
    assert lines[1]["authorization"] == f"Bearer {REDACTED}"
    assert lines[1]["attempt"] == 2
    assert f"bad key {REDACTED}" in lines[2]["exception"]


def test_cached_traceback_is_redacted_for_later_handlers() -> None:
    # logging caches the traceback text on the record; a plain handler after ours reuses it.
    ours, plain = io.StringIO(), io.StringIO()
    log = logging.getLogger("cbtest.isolated")
    log.propagate = False
    first = logging.StreamHandler(ours)
    first.setFormatter(TextFormatter())
    second = logging.StreamHandler(plain)
    log.handlers = [first, second]
    register_secret(SECRET)
    try:
        raise ValueError(SECRET)
    except ValueError:
        log.exception("boom")
    log.handlers = []
    assert SECRET not in ours.getvalue()
    assert f"ValueError: {REDACTED}" in plain.getvalue()
    assert SECRET not in plain.getvalue()


def test_encoded_forms_and_longest_match() -> None:
    redactor = Redactor()
    redactor.register("p@ss word/1")
    redactor.register("p@ss")
    assert redactor.redact("a p@ss word/1 b") == "a *** b"
    assert redactor.redact("u=p%40ss%20word%2F1") == "u=***"
    assert redactor.redact("u=p%40ss+word%2F1") == "u=***"
    assert redactor.redact('{"k": "x\\"y"}') == '{"k": "x\\"y"}'


def test_json_escaped_secret_is_redacted() -> None:
    register_secret('quo"te\\secret')
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    logging.getLogger("claimbridge.test").info("value %s", 'quo"te\\secret')
    assert "secret" not in stream.getvalue()


def test_short_values_are_ignored() -> None:
    redactor = Redactor()
    for short in ("", "a", "no", "abc"):
        redactor.register(short)
    assert len(redactor) == 0
    assert redactor.redact("abc no a") == "abc no a"


def test_redact_helper_for_cli_messages() -> None:
    register_secret(SECRET)
    assert redact(f"agency rejected {SECRET}") == f"agency rejected {REDACTED}"
    assert redact("") == ""


def test_configure_replaces_previous_handler_and_checks_arguments() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("text", "info", stream=first)
    configure_logging("text", "warning", stream=second)
    log = logging.getLogger("claimbridge.test")
    log.info("hidden")
    log.warning("shown")
    assert first.getvalue() == ""
    assert "hidden" not in second.getvalue()
    assert "shown" in second.getvalue()
    with pytest.raises(ConfigError, match="unknown log level"):
        configure_logging("text", "loud")
    with pytest.raises(ConfigError, match="unknown log format"):
        configure_logging("xml", "info")  # type: ignore[arg-type]


def test_concurrent_registration_and_redaction() -> None:
    redactor = Redactor()
    secrets = [f"secret-value-{i:04d}" for i in range(200)]

    def register(chunk: list[str]) -> None:
        for value in chunk:
            redactor.register(value)
            assert value not in redactor.redact(f"x {value} y")

    threads = [threading.Thread(target=register, args=(secrets[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    text = " ".join(secrets)
    assert all(s not in redactor.redact(text) for s in secrets)


@given(
    secret=st.text(min_size=4, max_size=30).filter(lambda s: REDACTED not in s),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_registered_secret_never_survives(secret: str, before: str, after: str) -> None:
    redactor = Redactor()
    redactor.register(secret)
    assert secret not in redactor.redact(before + secret + after)
