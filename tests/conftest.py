"""Shared test plumbing: the real public fixtures in ../shared and system programs.

Under CI (``CI=true``) a test that would skip because ../shared or a system program is missing
fails instead: CI installs everything those tests need.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_EXTERNAL = ROOT.parent / "shared" / "fixtures" / "external"
LOCAL_FIXTURES = Path(__file__).resolve().parent / "fixtures"
UNDER_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    """Skip on a user's machine; fail under CI, where the missing piece must be present."""
    if UNDER_CI:
        pytest.fail(f"{reason} (CI=true: this must not be skipped)", pytrace=False)
    pytest.skip(reason)


def require_program(name: str, *candidates: str) -> str:
    """Path of a system program, or skip/fail with the reason."""
    for candidate in (name, *candidates):
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found:
            return found
    skip_or_fail(f"system program {name!r} is not installed")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def external_fixtures() -> Path:
    """``../shared/fixtures/external``: real public files written outside this project."""
    if not SHARED_EXTERNAL.is_dir():
        skip_or_fail(f"real public fixtures not found at {SHARED_EXTERNAL}")
    return SHARED_EXTERNAL


@pytest.fixture(scope="session")
def local_fixtures() -> Path:
    return LOCAL_FIXTURES
