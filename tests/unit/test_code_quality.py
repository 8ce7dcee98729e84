"""ruff and mypy are part of the tests: style and types regress like behaviour does."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import ROOT, skip_or_fail

PATHS = ["claimbridge", "tests", "benchmarks"]


def _tool(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        skip_or_fail(f"{module} is not installed (pip install -e '.[dev]')")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_check() -> None:
    _tool("ruff")
    done = _run("ruff", "check", "--output-format", "concise", *PATHS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format() -> None:
    _tool("ruff")
    done = _run("ruff", "format", "--check", *PATHS)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_strict() -> None:
    _tool("mypy")
    done = _run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr
