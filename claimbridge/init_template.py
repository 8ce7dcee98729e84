"""The commented starter config ``claimbridge init`` writes.

Each connector can contribute its own commented block through an optional ``config_example``
class attribute (a string, or a classmethod returning one): TOML lines that go under its table,
after ``type``. A classmethod may take a variant (``--agency file_drop:indebted_csv`` calls
``config_example("indebted_csv")``; the table is then named after the variant). A connector
without one gets a block generated from its ``Settings`` model: each field with its
description, required fields filled with a placeholder, optional ones commented out with their
default, nested settings models as a commented sub-table after the scalar keys, and secrets as
``${ENV_VAR}`` references — so a third-party connector gets a usable template without writing
one. A commented-out setting with a value is valid as it stands once its ``#`` is removed; one
that is unset by default shows its key with no value (``# key =``), or the field's first
example when it declares one.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import typing
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import AnyUrl, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from claimbridge.config import DEFAULT_STATE_URL, policy_settings_model, reconcile_settings_model
from claimbridge.connectors.registry import Kind, Registry, load_registry
from claimbridge.errors import ConfigError
from claimbridge.secrets import is_secret_annotation, references

__all__ = ["env_var_name", "render_config", "required_environment", "settings_block"]

SOURCE_NAME = "ledger"
PIPELINE_NAME = "main"
PLACEHOLDER = "CHANGE-ME"
PLACEHOLDER_URL = "https://agency.example"  # reserved name (RFC 2606): never a real host


def env_var_name(*parts: str) -> str:
    """``CLAIMBRIDGE_SANDBOX_TOKEN`` from ("sandbox", "token")."""
    joined = "_".join(("claimbridge", *parts))
    return re.sub(r"[^A-Za-z0-9]+", "_", joined).strip("_").upper()


def required_environment(text: str) -> list[str]:
    """The environment variables a config's live (uncommented) lines refer to, in order."""
    names = [
        ref.strip()
        for line in text.splitlines()
        if not line.lstrip().startswith("#")
        for ref in references(line)
        if not ref.startswith("file:")
    ]
    return list(dict.fromkeys(names))


def render_config(
    source: str,
    agency: str,
    *,
    creditor_name: str = "Your Company AS",
    org_number: str = "000000000",
    country: str = "NO",
    registry: Registry | None = None,
) -> str:
    """A commented config for the ``source`` and ``agency`` connector types.

    Raises ``ConfigError`` (listing what is installed) for an unknown type.
    """
    registry = registry or load_registry()
    source_cls = registry.get("source", source)
    agency, _, variant = agency.partition(":")  # file_drop:indebted_csv: a type's variant
    agency_cls = registry.get("agency", agency)
    agency_name = re.sub(r"[^A-Za-z0-9_-]+", "_", variant or agency)
    policy = policy_settings_model()

    body = [
        "# Where claimbridge keeps its state: cursors, the outbox, the audit log.",
        "[state]",
        "# A SQLite file next to this config. When several workers share the work, use",
        "# postgresql+psycopg://user:${CLAIMBRIDGE_DB_PASSWORD}@host/db instead.",
        f"url = {_toml(DEFAULT_STATE_URL)}",
        "",
        "# The creditor: the company that is owed money, as the agency knows it.",
        "[creditor]",
        "# Legal name.",
        f"name = {_toml(creditor_name)}",
        "# Organization number in the company register.",
        f"organization_number = {_toml(org_number)}",
        "# ISO 3166-1 country code; selects the legal rules of the collection policy.",
        f"country = {_toml(country)}",
        "# Your creditor id at the agency, once it has given you one.",
        f'# reference = "${{{env_var_name("creditor", "ref")}}}"',
        "",
        "# Logging. Secrets resolved from references are masked in every line.",
        "[log]",
        "# text for people, json (one object per line) for schedulers and log collectors.",
        'format = "text"',
        "# debug, info, warning, error or critical.",
        'level = "info"',
        "",
        *_connector_table("source", "sources", SOURCE_NAME, source, source_cls),
        "",
        *_connector_table("agency", "agencies", agency_name, agency, agency_cls, variant),
        "",
        "# A pipeline: this source, through the collection policy, to this agency.",
        "# `claimbridge run` runs it; name it with --pipeline when there are several.",
        f"[pipelines.{PIPELINE_NAME}]",
        "# The source table above, by name.",
        f"source = {_toml(SOURCE_NAME)}",
        "# The agency table above, by name.",
        f"agency = {_toml(agency_name)}",
        "",
        "# Who goes to collection, when, and grouped how. Defaults follow the country preset.",
        f"[pipelines.{PIPELINE_NAME}.policy]",
        *settings_block(policy, env_prefix=("policy",), overrides={"country": country}),
        "",
        "# Reconciliation (`claimbridge reconcile`): the accounts settlements are booked to,",
        "# and how the agency's own pay-outs are recognized. docs/reconciliation.md",
        f"[pipelines.{PIPELINE_NAME}.reconcile]",
        *settings_block(reconcile_settings_model(), env_prefix=("reconcile",)),
    ]
    head = [
        "# claimbridge configuration, written by `claimbridge init`.",
        "# Reference: docs/configuration.md. Relative paths mean this file's directory.",
        "#",
        "# Secrets are never written in this file. They are read from environment variables",
        "# (${NAME}) or from files only you can read (${file:/path/to/secret}, mode 0600).",
    ]
    needed = required_environment("\n".join(body))
    if needed:
        head.append("# Set before running: " + ", ".join(needed))
    return "\n".join([*head, "", *body]) + "\n"


def _connector_table(
    kind: Kind, section: str, name: str, type_name: str, cls: type[Any], variant: str = ""
) -> list[str]:
    group = {"source": "claimbridge.sources", "agency": "claimbridge.agencies"}.get(kind, "")
    doc = (cls.__doc__ or "").strip().splitlines()
    lines = [f"# The {kind}: {doc[0]}" if doc else f"# The {kind}."]
    lines += [
        f"[{section}.{name}]",
        f"# Connector type: the name it is registered under (entry point group {group}).",
        f"type = {_toml(type_name)}",
    ]
    example = getattr(cls, "config_example", None)
    if variant and not callable(example):
        raise ConfigError(f"{kind} type {type_name!r} has no variants (asked for {variant!r})")
    if callable(example):
        example = example(variant) if variant else example()
    if isinstance(example, str) and example.strip():
        lines += example.strip("\n").splitlines()
    else:
        lines += settings_block(cls.Settings, env_prefix=(name,), table=f"{section}.{name}")
    return lines


def settings_block(
    model: type[BaseModel],
    *,
    env_prefix: tuple[str, ...],
    overrides: Mapping[str, Any] | None = None,
    table: str | None = None,
) -> list[str]:
    """Commented TOML lines for a settings model's fields (see the module docstring).

    ``table`` is the dotted name of the model's own table; with it, an optional field holding
    a settings model is shown as a commented sub-table, else as an inline table.
    """
    overrides = overrides or {}
    lines: list[str] = []
    nested: list[str] = []  # sub-tables go last: keys after a table header would belong to it
    for name, info in model.model_fields.items():
        key = info.alias or name
        about = (info.description or name.replace("_", " ")).rstrip(".")
        secret = is_secret_annotation(info.annotation)
        if key in overrides or name in overrides:
            value = overrides.get(key, overrides.get(name))
            lines += [f"# {about}.", f"{key} = {_toml(value)}"]
        elif secret:
            ref = _toml("${" + env_var_name(*env_prefix, name) + "}")
            note = "secret: set this environment variable, or use ${file:/path}"
            live = info.is_required()
            lines += [f"# {about} ({note}).", f"{key} = {ref}" if live else f"# {key} = {ref}"]
        elif info.is_required():
            lines += [f"# {about} (required).", f"{key} = {_toml(_placeholder(name, info))}"]
        else:
            default = info.get_default(call_default_factory=True)
            if default is None or default is PydanticUndefined:
                lines += [f"# {about} (optional, not set by default).", _unset(key, info)]
            elif table is not None and isinstance(default, BaseModel):
                nested += [
                    f"# {about} (optional; defaults shown, uncomment the header to change any).",
                    f"# [{table}.{key}]",
                    *(
                        f"# {k} = {_toml(v)}" if v is not None else f"# {k} ="
                        for k, v in default.model_dump(mode="json").items()
                    ),
                ]
            else:
                lines += [f"# {about} (optional; default shown).", f"# {key} = {_toml(default)}"]
    return lines + nested


def _unset(key: str, info: FieldInfo) -> str:
    return f"# {key} = {_toml(info.examples[0])}" if info.examples else f"# {key} ="


def _placeholder(name: str, info: FieldInfo) -> Any:
    if info.examples:
        return info.examples[0]
    if name == "url" or name.endswith("_url"):
        return PLACEHOLDER_URL
    return _placeholder_for(info.annotation)


def _placeholder_for(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return typing.get_args(annotation)[0]
    if origin in (list, tuple, set, frozenset):
        return []
    if origin is dict:
        return {}
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return next(iter(annotation)).value
        if issubclass(annotation, bool):
            return False
        if issubclass(annotation, int | float | Decimal):
            return 0
        if issubclass(annotation, AnyUrl):
            return PLACEHOLDER_URL
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return _placeholder_for(args[0]) if args else PLACEHOLDER


def _toml(value: Any) -> str:
    """A TOML literal for a default or placeholder (JSON strings are valid TOML strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _toml(value.value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(  # TOML has no null: unset keys are left out
            f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items() if v is not None
        )
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, BaseModel):
        return _toml(value.model_dump(mode="json"))
    return json.dumps(str(value), ensure_ascii=False)
