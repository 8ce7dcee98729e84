"""The committed JSON Schema files are what the models export today.

Agencies and integrators read ``claimbridge/schemas/json/*``; a model change without a fresh
export would ship a schema that no longer describes what claimbridge sends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from claimbridge.schemas.export import export_schemas, schema_documents

COMMITTED = Path(__file__).resolve().parents[2] / "claimbridge" / "schemas" / "json"


def test_every_exported_document_is_committed_and_nothing_else() -> None:
    assert sorted(p.name for p in COMMITTED.glob("*.json")) == sorted(schema_documents())


@pytest.mark.parametrize("name", sorted(schema_documents()))
def test_committed_file_matches_the_model(name: str) -> None:
    assert (COMMITTED / name).read_text(encoding="utf-8") == schema_documents()[name]


def test_all_committed_files_are_fresh() -> None:
    stale = [
        name
        for name, text in schema_documents().items()
        if (COMMITTED / name).read_text(encoding="utf-8") != text
    ]
    assert stale == []


def test_export_is_deterministic(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in export_schemas(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in export_schemas(tmp_path / "b")}
    assert first == second
    assert all(body.endswith(b"\n") for body in first.values())
