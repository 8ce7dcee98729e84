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

A mapping file is compiled once into one generated Python function (``Mapping.source`` shows
it), so applying a mapping costs one call plus a few inline tests per field. A broken mapping
file raises ``MappingError`` naming the file and field; a record that fails raises
``RecordError`` with every field's reason, never just the first.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
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
_NO_VARIABLES: Vars = MappingProxyType({})


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

# Where a field's value comes from: ("key", name) one field of the record, ("path", getter) a
# nested path, ("var", name) a caller's variable, ("expr", JMESPath), ("const", value).
_Source = tuple[str, Any]


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    target: str
    sources: tuple[_Source, ...]  # alternatives: the first present one wins
    chain: tuple[Converter, ...]
    default: Any
    required: bool
    is_const: bool


class _Compiler:
    """Checks the ``[fields]`` entries, raising MappingError with file and field."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, field: str, message: str) -> MappingError:
        return MappingError(message, mapping=self.label, field=field)

    def sources(self, target: str, spec: dict[str, Any]) -> tuple[_Source, ...]:
        chosen = [k for k in _SOURCE_KEYS if k in spec]
        if len(chosen) != 1:
            raise self.fail(target, "needs exactly one of 'path', 'expr' or 'const'")
        kind = chosen[0]
        if kind == "const":
            return (("const", spec["const"]),)
        if kind == "expr":
            try:
                return (("expr", jmespath.compile(str(spec["expr"]))),)
            except JMESPathError as exc:
                raise self.fail(target, f"bad JMESPath expression: {exc}") from None
        paths = spec["path"] if isinstance(spec["path"], list) else [spec["path"]]
        if not paths or not all(isinstance(p, str) for p in paths):
            raise self.fail(target, "'path' must be a string or a list of strings")
        return tuple(self.one_path(target, p) for p in paths)

    def one_path(self, target: str, path: str) -> _Source:
        if path.startswith("$"):
            name = path[1:]
            if not name.isidentifier():
                raise self.fail(target, f"bad variable name {path!r}")
            return ("var", name)
        try:
            steps = parse_path(path)
        except ValueError as exc:
            raise self.fail(target, str(exc)) from None
        if len(steps) == 1:
            return ("key", steps[0])
        return ("path", compile_path(path))

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
            sources=self.sources(target, spec),
            chain=self.chain(target, spec.get("convert", [])),
            default=spec.get("default"),
            required=required,
            is_const="const" in spec or spec.get("weak", False),
        )


# --- the output tree ----------------------------------------------------------------------


@dataclass
class _Node:
    """One output group while compiling: named children (dict) or indexed ones (list)."""

    children: dict[str | int, _Node | _FieldSpec]

    @property
    def is_list(self) -> bool:
        return bool(self.children) and isinstance(next(iter(self.children)), int)

    def ordered(self) -> list[tuple[str | int, _Node | _FieldSpec]]:
        if self.is_list:
            return sorted(self.children.items(), key=lambda item: item[0])
        return list(self.children.items())


def _reader(record: Any) -> Callable[[str], Any]:
    """``get(name)`` for a record that is not a plain dict (a mapping, an object, or neither)."""
    access = _ACCESS.get(type(record))
    if access is None:
        access = _access(type(record))
    if access == _BY_KEY:
        return record.get  # type: ignore[no-any-return]
    if access == _BY_ATTRIBUTE:
        return lambda key: getattr(record, key, None)
    return lambda key: None


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


_BLANK = "value is None or (type(value) is str and not value.strip())"
_BLANK_ALTERNATIVE = "value is None or (isinstance(value, str) and not value.strip())"


class _Generator:
    """Writes one Python function for a whole mapping, as dataclasses and attrs do for
    ``__init__``: one call per record instead of a few closure calls per field.

    Only the mapping file's validated names reach the source text, as ``repr`` literals (target
    keys and variable names) and comments (target paths); every other value — converters,
    getters, defaults, constants, reasons — is bound in the function's namespace by a generated
    name. Nothing from a record is ever part of the source.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {"ConversionError": ConversionError, "_reader": _reader}
        self.count = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def bind(self, prefix: str, value: Any) -> str:
        name = self.fresh(f"_{prefix}")
        self.namespace[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def function(self, root: _Node) -> str:
        self.emit(0, "def apply(record, variables, reasons):")
        self.emit(1, "get = record.get if type(record) is dict else _reader(record)")
        out, real = self.group(root, 1)
        self.emit(1, f"return {out} if {real} else {{}}")
        return "\n".join(self.lines) + "\n"

    def group(self, node: _Node, indent: int) -> tuple[str, str]:
        """Emit one output group; return its variable and the test for "it got a value"."""
        is_list = node.is_list
        out = self.fresh("items" if is_list else "group")
        real = out if is_list else self.fresh("real")
        self.emit(indent, f"{out} = []" if is_list else f"{out} = {{}}")
        if not is_list:
            self.emit(indent, f"{real} = False")
        for key, child in node.ordered():
            if isinstance(child, _Node):
                value, present = self.group(child, indent)
                makes_real = True
            else:
                self.leaf(child, indent)
                value, present, makes_real = "value", "value is not None", not child.is_const
                if is_list and child.is_const:
                    continue  # a constant alone never makes a list entry
            self.emit(indent, f"if {present}:")
            if is_list:
                self.emit(indent + 1, f"{out}.append({value})")
            else:
                self.emit(indent + 1, f"{out}[{key!r}] = {value}")
                if makes_real:
                    self.emit(indent + 1, f"{real} = True")
        return out, real

    def source(self, source: _Source) -> str:
        kind, what = source
        if kind == "key":
            return f"get({what!r})"
        if kind == "var":
            return f"variables.get({what!r})"
        if kind == "path":
            return f"{self.bind('path', what)}(record)"
        if kind == "expr":
            return f"{self.bind('expr', what)}.search(record)"
        return self.bind("const", what)

    def leaf(self, spec: _FieldSpec, indent: int) -> None:
        """Emit the code that leaves one field's final value (or None) in ``value``."""
        self.emit(indent, f"# {spec.target}")
        first, *alternatives = spec.sources
        self.emit(indent, f"value = {self.source(first)}")
        for alternative in alternatives:
            self.emit(indent, f"if {_BLANK_ALTERNATIVE}:")
            self.emit(indent + 1, f"value = {self.source(alternative)}")
        if alternatives:
            self.emit(indent, f"if {_BLANK_ALTERNATIVE}:")
            self.emit(indent + 1, "value = None")
        missing = (
            self.bind("missing", f"{spec.target}: missing (required)") if spec.required else ""
        )
        if first[0] == "const" and not alternatives and not _is_blank(first[1]):
            pass  # a constant is always present
        elif spec.default is None:
            self.emit(indent, f"if {_BLANK}:")
            if spec.required:
                self.emit(indent + 1, f"reasons.append({missing})")
            self.emit(indent + 1, "value = None")
        else:
            self.emit(indent, f"if {_BLANK}:")
            self.emit(indent + 1, f"value = {self.bind('default', spec.default)}")
        if not spec.chain:
            return
        first_convert, *more = (self.bind("convert", c) for c in spec.chain)
        self.emit(indent, "if value is not None:")
        self.emit(indent + 1, "try:")
        self.emit(indent + 2, f"value = {first_convert}(value)")
        for convert in more:
            self.emit(indent + 2, "if value is not None:")
            self.emit(indent + 3, f"value = {convert}(value)")
        self.emit(indent + 1, "except ConversionError as exc:")
        self.emit(
            indent + 2, f"reasons.append({self.bind('field', spec.target + ': ')} + exc.reason)"
        )
        self.emit(indent + 2, "value = None")
        # hostile values (a signalling NaN, a 10**10**6 exponent) must not escape as crashes
        self.emit(indent + 1, "except (ArithmeticError, TypeError, ValueError):")
        self.emit(
            indent + 2,
            f"reasons.append({self.bind('field', spec.target + ': not a usable value')})",
        )
        self.emit(indent + 2, "value = None")
        self.emit(indent + 1, "else:")
        self.emit(indent + 2, "if type(value) is str and not value.strip():")
        if spec.required:
            self.emit(indent + 3, f"reasons.append({missing})")
        self.emit(indent + 3, "value = None")


def _generate(root: _Node, label: str) -> tuple[Builder, str]:
    """The mapping's function and its source text (kept for ``Mapping.source``)."""
    generator = _Generator()
    source = generator.function(root)
    code = compile(source, f"<mapping {label}>", "exec")
    exec(code, generator.namespace)  # noqa: S102 - source built only from validated names
    build: Builder = generator.namespace["apply"]
    return build, source


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

    def __init__(
        self, name: str, target: str, version: int, root: Builder, label: str, source: str = ""
    ) -> None:
        self.name = name
        self.target = target
        self.version = version
        self.label = label
        self.source = source  # the generated function's text, for reading and debugging
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
        out: dict[str, Any] = self._root(record, variables or _NO_VARIABLES, reasons)
        if reasons:
            raise RecordError(reasons, location=location)
        return out

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
        build, source = _generate(root, label)
        return cls(name, str(target), version, build, label, source)


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
    reasons: list[str] = []
    try:
        data = mapping._root(record, variables or _NO_VARIABLES, reasons)
    except (ArithmeticError, TypeError, ValueError):
        # a hostile value outside any converter (a signalling NaN compared on the way)
        reasons.append("the record holds a value that cannot be used (e.g. NaN)")
    if reasons:
        raise RecordError(reasons, location=location, record_id=record_id)
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise RecordError(validation_reasons(exc), location=location, record_id=record_id) from None
    except (ArithmeticError, TypeError) as exc:
        raise RecordError(
            [f"the record holds a value that cannot be used ({type(exc).__name__})"],
            location=location,
            record_id=record_id,
        ) from None
