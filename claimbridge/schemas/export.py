"""Export the canonical models as versioned JSON Schema files."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from claimbridge.schemas import (
    SCHEMA_VERSION,
    Case,
    CaseEvent,
    Claim,
    CreditNote,
    Party,
    Payment,
    Settlement,
)

EXPORTED: dict[str, type[BaseModel]] = {
    "party": Party,
    "claim": Claim,
    "case": Case,
    "payment": Payment,
    "credit_note": CreditNote,
    "settlement": Settlement,
    "case_event": CaseEvent,
}

PACKAGED_DIR = Path(__file__).parent / "json"


def schema_documents() -> dict[str, str]:
    """File name → JSON text, deterministic so a stale committed copy is detectable."""
    documents = {}
    for name, model in EXPORTED.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://claimbridge.dev/schemas/v{SCHEMA_VERSION}/{name}.json"
        documents[f"{name}.v{SCHEMA_VERSION}.json"] = (
            json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )
    return documents


def export_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in schema_documents().items():
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
