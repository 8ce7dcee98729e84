"""The mapping engine: declarative TOML files that turn one record into another's shape.

A mapping file has a ``[mapping]`` header (``name``, ``target``, ``version``) and a ``[fields]``
table. Each key is a target path (``invoice_number``, ``"reminders[0].sent_on"``; TOML dotted
keys and sub-tables nest the same way) and each value says where the value comes from::

    invoice_date = { path = "invoice_date", convert = "date", required = true }
    currency = { path = ["currency", "$default_currency"], convert = "upper" }
    "source.system" = { const = "files" }
    total = { expr = "sum(lines[].amount)" }        # JMESPath, for the rare complex case
    kid = "kid"                                      # shorthand for { path = "kid" }

``path`` is a dotted path with list indexes (``customer.addresses[0].city``) or a list of
alternatives, the first present one wins; ``$name`` reads a variable the caller passes to
:meth:`Mapping.apply` (the creditor company, a default currency). Blank text counts as
missing. A missing value takes ``default``; ``required = true`` makes it an error. ``convert``
names one converter or a chain (see :mod:`claimbridge.mappings.converters`).

Output groups (dicts and list entries) that received no value from the record are dropped:
constants alone do not make a group, so an absent second reminder yields no reminder. A field
marked ``weak = true`` counts like a constant: it describes its group (an address's country)
but does not make the group exist on its own.

Each field is compiled once into a closure, so applying a mapping is a few function calls per
field. A broken mapping file raises ``MappingError`` naming the file and field; a record that
fails raises ``RecordError`` with every field's reason, never just the first.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import BaseModel, ValidationError

from claimbridge.errors import MappingError, RecordError
from claimbridge.mappings.converters import ConversionError, Converter, build_converter

__all__ = ["TARGETS", "Mapping", "compile_path", "load_mapping", "to_model"]

PACKAGED_DIR = Path(__file__).parent
TARGETS = frozenset({"claim", "party", "payment", "credit_note", "row"})
_SPEC_KEYS = frozenset(
    {"path", "expr", "const", "default", "convert", "required", "optional", "weak"}
)
_SOURCE_KEYS = ("path", "expr", "const")

Getter = Callable[[Any], Any]
Vars = AbcMapping[str, Any]
# A compiled output node: (record, variables, reasons) -> value or None.
Builder = Callable[[Any, Vars, list[str]], Any]

_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_\-]*)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")

ModelT = TypeVar("ModelT", bound=BaseModel)


# --- paths --------------------------------------------------------------------------------


def parse_path(path: str) -> tuple[str | int, ...]:
    """``a.b[0].c`` → ``("a", "b", 0, "c")``. ``ValueError`` on bad syntax."""
    steps: list[str | int] = []
    for part in path.split("."):
        match = _STEP.fullmatch(part)
        if match is None:
            raise ValueError(f"bad path syntax {path!r}")
        steps.append(match.group(1))
        steps.extend(int(i) for i in _INDEX.findall(match.group(2)))
    return tuple(steps)


_BY_KEY, _BY_ATTRIBUTE, _NOTHING = 0, 1, 2
_ACCESS: dict[type, int] = {dict: _BY_KEY, type(None): _NOTHING, str: _NOTHING, int: _NOTHING}


def _access(kind: type) -> int:
    """How to read a named field from objects of this type (remembered per type)."""
    access = _ACCESS.get(kind)
    if access is None:
        if issubclass(kind, AbcMapping):
            access = _BY_KEY
        elif issubclass(kind, str | bytes | int | float | list | tuple):
            access = _NOTHING
        else:
            access = _BY_ATTRIBUTE
        _ACCESS[kind] = access
    return access


def _step(key: str | int) -> Getter:
    if isinstance(key, int):

        def index(obj: Any) -> Any:
            if isinstance(obj, list | tuple) and -len(obj) <= key < len(obj):
                return obj[key]
            return None

        return index

    def field(obj: Any) -> Any:
        access = _ACCESS.get(type(obj))
        if access is None:
            access = _access(type(obj))
        if access == _BY_KEY:
            return obj.get(key)
        if access == _BY_ATTRIBUTE:
            return getattr(obj, key, None)
        return None

    return field


def compile_path(path: str) -> Getter:
    """A fast getter over nested dicts, lists and objects; ``None`` where anything is absent."""
    steps = parse_path(path)
    if len(steps) == 1 and isinstance(steps[0], str):
        key, general = steps[0], _step(steps[0])

        def first(obj: Any) -> Any:
            if type(obj) is dict:
                return obj.get(key)
            return general(obj)

        return first
    getters = tuple(_step(s) for s in steps)
    if len(getters) == 2:
        one, two = getters
        return lambda obj: two(one(obj))

    def walk(obj: Any) -> Any:
        for get in getters:
            obj = get(obj)
            if obj is None:
                return None
        return obj

    return walk


# --- compiling one field ------------------------------------------------------------------


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    target: str
    getter: Callable[[Any, Vars], Any]
    chain: tuple[Converter, ...]
    default: Any
    required: bool
    is_const: bool
    plain: Getter | None  # the record getter when the source is one plain path (fast path)


class _Compiler:
    """Turns the ``[fields]`` table into builders, raising MappingError with file and field."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, field: str, message: str) -> MappingError:
        return MappingError(message, mapping=self.label, field=field)

    def source_getter(self, target: str, spec: dict[str, Any]) -> Callable[[Any, Vars], Any]:
        chosen = [k for k in _SOURCE_KEYS if k in spec]
        if len(chosen) != 1:
            raise self.fail(target, "needs exactly one of 'path', 'expr' or 'const'")
        kind = chosen[0]
        if kind == "const":
            value = spec["const"]
            return lambda record, variables: value
        if kind == "expr":
            try:
                compiled = jmespath.compile(str(spec["expr"]))
            except JMESPathError as exc:
                raise self.fail(target, f"bad JMESPath expression: {exc}") from None
            return lambda record, variables: compiled.search(record)
        paths = spec["path"] if isinstance(spec["path"], list) else [spec["path"]]
        if not paths or not all(isinstance(p, str) for p in paths):
            raise self.fail(target, "'path' must be a string or a list of strings")
        getters = [self.one_path(target, p) for p in paths]
        if len(getters) == 1:
            return getters[0]

        def coalesce(record: Any, variables: Vars) -> Any:
            for get in getters:
                value = get(record, variables)
                if not _is_blank(value):
                    return value
            return None

        return coalesce

    def one_path(self, target: str, path: str) -> Callable[[Any, Vars], Any]:
        if path.startswith("$"):
            name = path[1:]
            if not name.isidentifier():
                raise self.fail(target, f"bad variable name {path!r}")
            return lambda record, variables: variables.get(name)
        try:
            get = compile_path(path)
        except ValueError as exc:
            raise self.fail(target, str(exc)) from None
        return lambda record, variables: get(record)

    def chain(self, target: str, convert: Any) -> tuple[Converter, ...]:
        names = convert if isinstance(convert, list) else [convert]
        chain = []
        for name in names:
            if not isinstance(name, str):
                raise self.fail(target, "'convert' must be a name or a list of names")
            try:
                chain.append(build_converter(name))
            except KeyError:
                raise self.fail(target, f"unknown converter {name!r}") from None
            except ValueError as exc:
                raise self.fail(target, f"converter {name!r}: {exc}") from None
        return tuple(chain)

    def field(self, target: str, raw: Any) -> _FieldSpec:
        spec: dict[str, Any] = {"path": raw} if isinstance(raw, str | list) else dict(raw)
        unknown = set(spec) - _SPEC_KEYS
        if unknown:
            raise self.fail(target, f"unknown keys {sorted(unknown)}")
        required = spec.get("required", False)
        if not isinstance(required, bool) or not isinstance(spec.get("optional", False), bool):
            raise self.fail(target, "'required' and 'optional' must be true or false")
        if required and spec.get("optional"):
            raise self.fail(target, "cannot be both required and optional")
        if not isinstance(spec.get("weak", False), bool):
            raise self.fail(target, "'weak' must be true or false")
        return _FieldSpec(
            target=target,
            getter=self.source_getter(target, spec),
            chain=self.chain(target, spec.get("convert", [])),
            default=spec.get("default"),
            required=required,
            is_const="const" in spec or spec.get("weak", False),
            plain=self.plain_getter(spec),
        )

    def plain_getter(self, spec: dict[str, Any]) -> Getter | None:
        path = spec.get("path")
        if isinstance(path, str) and not path.startswith("$"):
            return compile_path(path)
        return None


def _leaf(spec: _FieldSpec) -> Builder:
    get, chain, default, required, target = (
        spec.getter,
        spec.chain,
        spec.default,
        spec.required,
        spec.target,
    )
    plain = spec.plain

    def build(record: Any, variables: Vars, reasons: list[str]) -> Any:
        value = plain(record) if plain is not None else get(record, variables)
        if value is None or (type(value) is str and not value.strip()):
            if default is None:
                if required:
                    reasons.append(f"{target}: missing (required)")
                return None
            value = default
        if chain:
            try:
                for convert in chain:
                    value = convert(value)
                    if value is None:
                        return None
            except ConversionError as exc:
                reasons.append(f"{target}: {exc.reason}")
                return None
            if type(value) is str and not value.strip():
                if required:
                    reasons.append(f"{target}: missing (required)")
                return None
        return value

    return build


# --- the output tree ----------------------------------------------------------------------


@dataclass
class _Node:
    """One output group while compiling: named children (dict) or indexed ones (list)."""

    children: dict[str | int, _Node | _FieldSpec]

    def builder(self) -> Builder:
        keys = list(self.children)
        is_list = bool(keys) and isinstance(keys[0], int)
        parts: list[tuple[str | int, Builder, bool]] = []
        for key in sorted(keys, key=lambda k: (isinstance(k, str), k)) if is_list else keys:
            child = self.children[key]
            if isinstance(child, _Node):
                parts.append((key, child.builder(), False))
            else:
                parts.append((key, _leaf(child), child.is_const))
        return _list_builder(parts) if is_list else _dict_builder(parts)


def _dict_builder(parts: list[tuple[str | int, Builder, bool]]) -> Builder:
    def build(record: Any, variables: Vars, reasons: list[str]) -> Any:
        out: dict[str | int, Any] = {}
        real = False
        for key, child, is_const in parts:
            value = child(record, variables, reasons)
            if value is not None:
                out[key] = value
                real = real or not is_const
        return out if real else None

    return build


def _list_builder(parts: list[tuple[str | int, Builder, bool]]) -> Builder:
    def build(record: Any, variables: Vars, reasons: list[str]) -> Any:
        out = []
        for _, child, is_const in parts:
            value = child(record, variables, reasons)
            if value is not None and not is_const:
                out.append(value)
        return out or None

    return build


def _is_spec(value: Any) -> bool:
    return isinstance(value, str | list) or (
        isinstance(value, dict) and any(k in value for k in _SOURCE_KEYS)
    )


def _flatten(fields: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested TOML tables of fields → ``(dotted target, spec)`` pairs."""
    pairs: list[tuple[str, Any]] = []
    for key, value in fields.items():
        target = f"{prefix}{key}"
        if _is_spec(value) or not isinstance(value, dict):
            pairs.append((target, value))
        else:
            pairs.extend(_flatten(value, f"{target}."))
    return pairs


def _insert(root: _Node, steps: tuple[str | int, ...], spec: _FieldSpec) -> None:
    node = root
    for pos, key in enumerate(steps):
        keys = list(node.children)
        if keys and isinstance(keys[0], int) != isinstance(key, int):
            raise ValueError("mixes list indexes and names at the same level")
        if pos == len(steps) - 1:
            if key in node.children:
                raise ValueError("is mapped twice, or clashes with a nested target")
            node.children[key] = spec
            return
        child = node.children.setdefault(key, _Node({}))
        if not isinstance(child, _Node):
            raise ValueError("clashes with another target that is not a group")
        node = child


# --- the public API -----------------------------------------------------------------------


class Mapping:
    """A compiled mapping file. Build with :func:`load_mapping`; apply to many records."""

    def __init__(self, name: str, target: str, version: int, root: Builder, label: str) -> None:
        self.name = name
        self.target = target
        self.version = version
        self.label = label
        self._root = root

    def __repr__(self) -> str:
        return f"Mapping({self.name!r}, target={self.target!r}, version={self.version})"

    def apply(
        self,
        record: AbcMapping[str, Any],
        variables: AbcMapping[str, Any] | None = None,
        *,
        location: str = "",
    ) -> dict[str, Any]:
        """Map one record; ``RecordError`` with every field's reason if any field failed."""
        reasons: list[str] = []
        out = self._root(record, variables or {}, reasons)
        if reasons:
            raise RecordError(reasons, location=location)
        return out or {}

    @classmethod
    def from_toml(cls, text: str, label: str) -> Mapping:
        """Compile mapping text; ``label`` names it in errors (a file name)."""
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"invalid TOML: {exc}", mapping=label) from None
        header = document.get("mapping")
        fields = document.get("fields")
        if not isinstance(header, dict) or not isinstance(fields, dict) or not fields:
            raise MappingError("needs a [mapping] header and a non-empty [fields]", mapping=label)
        name, target = header.get("name"), header.get("target")
        version = header.get("version", 1)
        if not isinstance(name, str) or not name:
            raise MappingError("[mapping] needs a 'name'", mapping=label)
        if target not in TARGETS:
            raise MappingError(
                f"unknown target {target!r}; use one of {sorted(TARGETS)}", mapping=label
            )
        if not isinstance(version, int):
            raise MappingError("[mapping] 'version' must be an integer", mapping=label)
        compiler = _Compiler(label)
        allowed = _model_fields(target)
        root = _Node({})
        for dotted, raw in _flatten(fields):
            if not isinstance(raw, str | list | dict):
                raise compiler.fail(dotted, "must be a path string or a table")
            try:
                steps = parse_path(dotted)
            except ValueError as exc:
                raise compiler.fail(dotted, f"target: {exc}") from None
            if allowed is not None and steps[0] not in allowed:
                raise compiler.fail(dotted, f"{steps[0]!r} is not a field of {target}")
            try:
                _insert(root, steps, compiler.field(dotted, raw))
            except ValueError as exc:
                raise compiler.fail(dotted, str(exc)) from None
        build = root.builder()

        def top(record: Any, variables: Vars, reasons: list[str]) -> Any:
            return build(record, variables, reasons) or {}

        return cls(name, str(target), version, top, label)


def _model_fields(target: str) -> frozenset[str] | None:
    from claimbridge.schemas import Claim, CreditNote, Party, Payment

    models: dict[str, type[BaseModel]] = {
        "claim": Claim,
        "party": Party,
        "payment": Payment,
        "credit_note": CreditNote,
    }
    model = models.get(target)
    return frozenset(model.model_fields) if model else None


@lru_cache(maxsize=64)
def _load_cached(resolved: Path) -> Mapping:
    try:
        text = resolved.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(
            f"cannot read: {exc.__class__.__name__}", mapping=str(resolved)
        ) from None
    return Mapping.from_toml(text, resolved.name)


def resolve_packaged(name_or_path: str | Path, directory: Path = PACKAGED_DIR) -> Path:
    """A bare name (``open_items_invoice``) is a packaged file; anything else is a path."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and re.fullmatch(r"[A-Za-z0-9_\-]+", text):
        path = directory / f"{text}.toml"
        if not path.is_file():
            raise MappingError(f"no packaged file named {text!r}", mapping=text)
        return path
    path = Path(name_or_path).expanduser().resolve()
    if not path.is_file():
        raise MappingError("file not found", mapping=str(path))
    return path


def load_mapping(name_or_path: str | Path) -> Mapping:
    """Load and compile a mapping (packaged name or file path); compiled once, then cached."""
    return _load_cached(resolve_packaged(name_or_path))


def validation_reasons(exc: ValidationError) -> list[str]:
    """Readable reasons from a pydantic error: field path and message, never the input."""
    reasons = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        reasons.append(f"{loc}: {message}" if loc else message)
    return reasons


def to_model(
    mapping: Mapping,
    record: AbcMapping[str, Any],
    model_cls: type[ModelT],
    variables: AbcMapping[str, Any] | None = None,
    *,
    location: str = "",
    record_id: str = "",
) -> ModelT:
    """Map and validate one record; any failure is one ``RecordError`` with all reasons."""
    try:
        data = mapping.apply(record, variables)
    except RecordError as exc:
        raise RecordError(exc.reasons, location=location, record_id=record_id) from None
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise RecordError(validation_reasons(exc), location=location, record_id=record_id) from None
