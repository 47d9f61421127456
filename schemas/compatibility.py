"""Avro schema-evolution checks, as the schema registry enforces them before a version lands.

BACKWARD compatibility means a consumer using the *new* schema (the reader) can decode every
record produced with the *old* one (the writer). The rules are those of Avro schema
resolution (https://avro.apache.org/docs/current/specification/#schema-resolution):

- records: a reader field missing from the writer needs a default; writer fields the reader
  dropped are skipped; fields match by name or by one of the reader field's aliases;
- enums: every writer symbol must exist in the reader, unless the reader enum has a default;
- named types (record, enum, fixed) must keep their name, or alias the old one;
- promotions: int → long/float/double, long → float/double, float → double, string ↔ bytes;
- unions: every branch the writer could have used must be readable by some reader branch;
- logical types: adding or dropping an annotation keeps the bytes readable, but changing one
  (date → timestamp-millis, decimal(10,2) → decimal(12,4)) would silently misread old values,
  so it is refused, as the spec does for decimals whose scale or precision differ.

Everything here is a pure function over JSON values (``json.loads`` of a schema), so the
registry, the catalog release check and tests share it without any I/O. Problems are plain
sentences naming the field path: ``payments[].amount`` for an array item's field, ``tags{}``
for a map's values.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, TypeAlias

import fastavro

from schemas.exceptions import (
    IncompatibleSchemaError,
    InvalidCompatibilityLevelError,
    InvalidSchemaError,
)

AvroSchema: TypeAlias = dict[str, Any] | list[Any] | str
"""A schema as JSON: a type name, a union (list) or a complex type (dict)."""

PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
_COMPLEX: Final = frozenset({"record", "error", "enum", "fixed", "array", "map"})
_NAMED: Final = frozenset({"record", "error", "enum", "fixed"})

# writer type → reader types that can decode it (Avro spec, "Schema Resolution").
PROMOTIONS: Final[Mapping[str, frozenset[str]]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


class CompatibilityLevel(StrEnum):
    """The Confluent levels the embedded registry enforces.

    FORWARD and FULL are left out on purpose: this platform only ever upgrades consumers
    first (readers before writers), and refusing them loudly beats accepting a level that
    would not be checked.
    """

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    NONE = "NONE"


_CONFLUENT_ONLY_LEVELS: Final = frozenset(
    {"FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}
)


def parse_level(text: str) -> CompatibilityLevel:
    """Read a level as clients send it (any case); say plainly when it is not enforced here."""
    name = text.strip().upper()
    if name in CompatibilityLevel.__members__:
        return CompatibilityLevel(name)
    supported = ", ".join(level.value for level in CompatibilityLevel)
    if name in _CONFLUENT_ONLY_LEVELS:
        raise InvalidCompatibilityLevelError(
            f"compatibility level {name} is not enforced by the embedded registry; "
            f"use one of {supported}"
        )
    raise InvalidCompatibilityLevelError(
        f"unknown compatibility level {text!r}; use one of {supported}"
    )


def parse_avro(text: str) -> AvroSchema:
    """Decode schema text and let fastavro confirm it is Avro; the JSON value is returned."""
    try:
        schema = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise InvalidSchemaError(f"schema is not valid JSON: {exc}") from exc
    _resolve_names(schema)
    return schema  # type: ignore[no-any-return]


def check_backward(reader: AvroSchema, writer: AvroSchema) -> list[str]:
    """Problems that stop `reader` from decoding data written with `writer`; empty if none."""
    reader_parsed, reader_names = _resolve_names(reader)
    writer_parsed, writer_names = _resolve_names(writer)
    ctx = _Context(reader_names, writer_names)
    return _check(ctx, reader_parsed, writer_parsed, "")


def assert_backward(reader: AvroSchema, writer: AvroSchema, subject: str) -> None:
    """Raise `IncompatibleSchemaError` listing every problem when the change is not backward."""
    problems = check_backward(reader, writer)
    if problems:
        raise IncompatibleSchemaError(_incompatible_message(subject, problems))


def check_against_versions(
    level: CompatibilityLevel,
    new: AvroSchema,
    earlier: Sequence[tuple[int, AvroSchema]],
) -> list[str]:
    """Problems of `new` against the subject's `earlier` (version, schema) pairs, oldest first.

    BACKWARD looks at the latest version only (older data is assumed re-processed or
    expired); BACKWARD_TRANSITIVE at all of them, because topics keep years of records.
    Each problem is prefixed with the version it concerns.
    """
    if level is CompatibilityLevel.NONE or not earlier:
        return []
    targets = earlier if level is CompatibilityLevel.BACKWARD_TRANSITIVE else earlier[-1:]
    problems: list[str] = []
    for version, old in targets:
        problems.extend(f"version {version}: {p}" for p in check_backward(new, old))
    return problems


def assert_against_versions(
    level: CompatibilityLevel,
    new: AvroSchema,
    earlier: Sequence[tuple[int, AvroSchema]],
    subject: str,
) -> None:
    """Like `check_against_versions`, raising `IncompatibleSchemaError` on any problem."""
    problems = check_against_versions(level, new, earlier)
    if problems:
        raise IncompatibleSchemaError(_incompatible_message(subject, problems))


def _incompatible_message(subject: str, problems: Sequence[str]) -> str:
    return (
        f"schema for subject '{subject}' cannot read data written with an earlier version: "
        + "; ".join(problems)
    )


# --- resolution -------------------------------------------------------------------------


@dataclass
class _Context:
    """Named types of each side, and the record pairs already compared (recursive types)."""

    reader_names: Mapping[str, Any]
    writer_names: Mapping[str, Any]
    seen: set[tuple[str, str]] = field(default_factory=set)


def _resolve_names(schema: AvroSchema) -> tuple[Any, dict[str, Any]]:
    """Let fastavro validate and fully qualify every name, returning its name table too."""
    names: dict[str, Any] = {}
    try:
        parsed = fastavro.parse_schema(copy.deepcopy(schema), named_schemas=names)
    except Exception as exc:  # fastavro raises KeyError/ValueError/its own types alike
        raise InvalidSchemaError(f"not a valid Avro schema: {type(exc).__name__}: {exc}") from exc
    return parsed, names


def _deref(schema: Any, names: Mapping[str, Any]) -> Any:
    """Follow named references and ``{"type": ...}`` wrappers down to a concrete type."""
    while True:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            schema = names[schema]
        elif isinstance(schema, dict) and not _is_type_name(schema.get("type")):
            schema = schema["type"]
        else:
            return schema


def _is_type_name(value: Any) -> bool:
    return isinstance(value, str) and (value in PRIMITIVES or value in _COMPLEX)


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    kind: str = schema["type"]
    return "record" if kind == "error" else kind


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _names_match(reader: Mapping[str, Any], writer: Mapping[str, Any]) -> bool:
    """Avro compares unqualified names, and lets the reader alias the writer's old name."""
    aliases = {_short(alias) for alias in reader.get("aliases", [])}
    writer_name = _short(writer["name"])
    return _short(reader["name"]) == writer_name or writer_name in aliases


# --- descriptions for messages -------------------------------------------------------------


def _describe(schema: Any) -> str:
    """A short human name of a type: ``nullable long(timestamp-millis)``, ``record Address``."""
    if isinstance(schema, list):
        return _describe_union(schema)
    if isinstance(schema, str):
        return schema
    kind = _kind(schema)
    if kind in _NAMED:
        size = f"[{schema['size']}]" if kind == "fixed" else ""
        return f"{kind} {schema['name']}{size}{_describe_logical(schema)}"
    if kind == "array":
        return f"array<{_describe(schema['items'])}>"
    if kind == "map":
        return f"map<{_describe(schema['values'])}>"
    return f"{kind}{_describe_logical(schema)}"


def _describe_union(branches: list[Any]) -> str:
    others = [b for b in branches if b != "null"]
    if len(branches) == 2 and len(others) == 1:
        return f"nullable {_describe(others[0])}"
    return "union[" + ", ".join(_describe(b) for b in branches) + "]"


def _describe_logical(schema: Mapping[str, Any]) -> str:
    logical = schema.get("logicalType")
    if logical is None:
        return ""
    if logical == "decimal":
        return f"(decimal({schema.get('precision')},{schema.get('scale', 0)}))"
    return f"({logical})"


def _label(path: str) -> str:
    return f"field '{path}'" if path else "the top-level schema"


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# --- the check ----------------------------------------------------------------------------


def _check(ctx: _Context, reader: Any, writer: Any, path: str) -> list[str]:
    reader = _deref(reader, ctx.reader_names)
    writer = _deref(writer, ctx.writer_names)
    if not isinstance(reader, list) and not isinstance(writer, list):
        return _check_single(ctx, reader, writer, path)
    return _check_union(ctx, reader, writer, path)


def _check_union(ctx: _Context, reader: Any, writer: Any, path: str) -> list[str]:
    """Each branch the writer may have used must land on a reader branch that can read it."""
    reader_branches = reader if isinstance(reader, list) else [reader]
    writer_branches = writer if isinstance(writer, list) else [writer]
    problems: list[str] = []
    unreadable: list[str] = []
    for branch in writer_branches:
        written = _deref(branch, ctx.writer_names)
        target = _select_branch(ctx, reader_branches, written)
        if target is None:
            unreadable.append(_describe(written))
        else:
            problems.extend(_check_single(ctx, target, written, path))
    if unreadable:
        problems.insert(
            0,
            f"{_label(path)}: type changed from {_describe(writer)} to {_describe(reader)} "
            f"(old {', '.join(unreadable)} values cannot be read)",
        )
    return problems


def _select_branch(ctx: _Context, reader_branches: list[Any], written: Any) -> Any | None:
    """The reader branch Avro would pick: same type (and name), else the first promotion."""
    candidates = [_deref(b, ctx.reader_names) for b in reader_branches]
    kind = _kind(written)
    for candidate in candidates:
        if _kind(candidate) == kind and (kind not in _NAMED or _names_match(candidate, written)):
            return candidate
    for candidate in candidates:
        if _kind(candidate) in PROMOTIONS.get(kind, frozenset()):
            return candidate
    return None


def _check_single(ctx: _Context, reader: Any, writer: Any, path: str) -> list[str]:
    reader_kind, writer_kind = _kind(reader), _kind(writer)
    if reader_kind != writer_kind:
        if reader_kind in PROMOTIONS.get(writer_kind, frozenset()):
            return _check_logical(ctx, reader, writer, path)
        return [f"{_label(path)}: type changed from {_describe(writer)} to {_describe(reader)}"]
    check = _SAME_KIND_CHECKS.get(reader_kind, _check_logical)
    return check(ctx, reader, writer, path)


def _check_record(ctx: _Context, reader: Any, writer: Any, path: str) -> list[str]:
    pair = (reader["name"], writer["name"])
    if pair in ctx.seen:  # recursive type: the pair is already being compared above us
        return []
    ctx.seen.add(pair)
    problems = _rename_problems("record", reader, writer, path)
    written = {f["name"]: f for f in writer["fields"]}
    for reader_field in reader["fields"]:
        child = _child(path, reader_field["name"])
        writer_field = _matching_field(reader_field, written)
        if writer_field is not None:
            problems.extend(_check(ctx, reader_field["type"], writer_field["type"], child))
        elif "default" not in reader_field:
            problems.append(f"field '{child}' added without a default")
    return problems


def _matching_field(
    reader_field: Mapping[str, Any], written: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    for name in (reader_field["name"], *reader_field.get("aliases", [])):
        if name in written:
            return written[name]
    return None


def _check_enum(ctx: _Context, reader: Any, writer: Any, path: str) -> list[str]:
    problems = _rename_problems("enum", reader, writer, path)
    missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
    if missing and reader.get("default") is None:
        problems.append(
            f"{_label(path)}: enum {reader['name']} lost symbol(s) {', '.join(missing)} "
            "that old data may contain (keep them, or give the enum a default)"
        )
    return problems


def _check_fixed(ctx: _Context, reader: Any, writer: Any, path: str) -> list[str]:
    problems = _rename_problems("fixed", reader, writer, path)
    if reader["size"] != writer["size"]:
        problems.append(
            f"{_label(path)}: type changed from {_describe(writer)} to {_describe(reader)}"
        )
        return problems
    return problems + _check_logical(ctx, reader, writer, path)


def _check_array(ctx: _Context, reader: Any, writer: Any, path: str) -> list[str]:
    return _check(ctx, reader["items"], writer["items"], f"{path}[]")


def _check_map(ctx: _Context, reader: Any, writer: Any, path: str) -> list[str]:
    return _check(ctx, reader["values"], writer["values"], f"{path}{{}}")


def _check_logical(ctx: _Context, reader: Any, writer: Any, path: str) -> list[str]:
    """Same physical type: only a changed logical annotation would misread old values."""
    reader_logical = _logical(reader)
    writer_logical = _logical(writer)
    if reader_logical is None or writer_logical is None or reader_logical == writer_logical:
        return []
    return [f"{_label(path)}: type changed from {_describe(writer)} to {_describe(reader)}"]


def _logical(schema: Any) -> tuple[Any, ...] | None:
    """The logical annotation with the parameters that change the meaning of the bytes."""
    if not isinstance(schema, dict) or "logicalType" not in schema:
        return None
    if schema["logicalType"] == "decimal":
        return ("decimal", schema.get("precision"), schema.get("scale", 0))
    return (schema["logicalType"],)


def _rename_problems(kind: str, reader: Any, writer: Any, path: str) -> list[str]:
    if _names_match(reader, writer):
        return []
    return [
        f"{_label(path)}: {kind} renamed from {writer['name']} to {reader['name']} "
        f"(add the alias '{_short(writer['name'])}' to read old data)"
    ]


_Check: TypeAlias = Callable[[_Context, Any, Any, str], list[str]]

# Explicit dispatch on the (shared) type kind; primitives fall through to `_check_logical`.
_SAME_KIND_CHECKS: Final[Mapping[str, _Check]] = {
    "record": _check_record,
    "enum": _check_enum,
    "fixed": _check_fixed,
    "array": _check_array,
    "map": _check_map,
}
