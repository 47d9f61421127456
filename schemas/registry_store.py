"""State of the embedded schema registry: subjects, versions, global ids and compatibility.

It behaves like Confluent's registry where clients can tell the difference:

- ids are global: the same schema registered under two subjects gets one id, so a consumer
  that only knows the 4-byte id in a message finds the schema whatever the topic;
- registering a schema the subject already has returns its id and adds no version;
- a schema that breaks the subject's compatibility level is refused, naming the fields;
- ids survive a subject's deletion, because messages on the topics still carry them.

"The same schema" means the same JSON once whitespace and key order are ignored (sorted-key
JSON), not Avro's parsing canonical form: that form drops docs, defaults and logical types,
which here carry the Chinese labels and the evolution rules.

Everything lives in one JSON file, rewritten atomically (temp file + ``os.replace``) on every
change and read back on start; a lock makes the store safe to share between the HTTP server
thread and in-process producers.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, TypeVar

from schemas.compatibility import (
    CompatibilityLevel,
    check_against_versions,
    parse_avro,
    parse_level,
)
from schemas.errors import CreditError
from schemas.exceptions import (
    IncompatibleSchemaError,
    InvalidSchemaError,
    InvalidVersionError,
    RegistryStateError,
    SchemaNotFoundError,
    SchemaVersionNotFoundError,
    SubjectNotFoundError,
)

VersionRef: TypeAlias = int | Literal["latest"]
SCHEMA_TYPES: Final = ("AVRO",)
_FORMAT: Final = 1
_T = TypeVar("_T")


@dataclass(frozen=True)
class StoredSchema:
    """A schema as the registry knows it by id."""

    schema_id: int
    schema: str
    schema_type: str = "AVRO"


@dataclass(frozen=True)
class SubjectVersion:
    """One version of a subject: which schema (id and text) it is."""

    subject: str
    version: int
    schema_id: int
    schema: str
    schema_type: str = "AVRO"


@dataclass
class _State:
    """The registry's data, exactly what the state file holds."""

    schemas: dict[int, StoredSchema] = field(default_factory=dict)
    subjects: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # (version, id)
    global_level: CompatibilityLevel = CompatibilityLevel.BACKWARD
    subject_levels: dict[str, CompatibilityLevel] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "schemas": [
                {"id": s.schema_id, "schema": s.schema, "schemaType": s.schema_type}
                for s in self.schemas.values()
            ],
            "subjects": {
                subject: [{"version": v, "id": i} for v, i in versions]
                for subject, versions in self.subjects.items()
            },
            "config": {
                "global": self.global_level.value,
                "subjects": {s: level.value for s, level in self.subject_levels.items()},
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _State:
        if data.get("format") != _FORMAT:
            raise ValueError(f"unknown state format {data.get('format')!r}")
        schemas = [
            StoredSchema(int(s["id"]), str(s["schema"]), str(s.get("schemaType", "AVRO")))
            for s in data["schemas"]
        ]
        config = data["config"]
        return cls(
            schemas={s.schema_id: s for s in schemas},
            subjects={
                subject: [(int(v["version"]), int(v["id"])) for v in versions]
                for subject, versions in data["subjects"].items()
            },
            global_level=parse_level(config["global"]),
            subject_levels={s: parse_level(lvl) for s, lvl in config["subjects"].items()},
        )


def canonical_key(schema: Any, schema_type: str = "AVRO") -> str:
    """Identity of a schema: its type plus sorted-key compact JSON."""
    body = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{schema_type}:{body}"


class RegistryStore:
    """Subjects → ordered versions → global schema ids, persisted to one JSON file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._state = self._load()
        self._ids_by_key = self._index()

    # --- registration ----------------------------------------------------------------------

    def register(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> int:
        """Add `schema_str` as the subject's next version and return its global id.

        Steps, in order:
        1. parse and validate the schema (InvalidSchemaError, error 42201 over HTTP);
        2. already a version of this subject → return that id, change nothing;
        3. check it against earlier versions under the subject's level (IncompatibleSchemaError);
        4. reuse the id of an identical schema under any subject, or allocate the next id;
        5. append the version and persist the file before answering.
        """
        schema_type = schema_type.upper()
        schema = _parse(schema_str, schema_type)
        key = canonical_key(schema, schema_type)
        with self._lock:
            existing = self._find_in_subject(subject, key)
            if existing is not None:
                return existing.schema_id
            problems = self._problems(subject, schema, None)
            if problems:
                raise IncompatibleSchemaError(
                    f"schema for subject '{subject}' is incompatible with an earlier version "
                    f"({self._level(subject).value}): " + "; ".join(problems)
                )
            return self._commit(lambda: self._add_version(subject, key, schema_str, schema_type))

    def _add_version(self, subject: str, key: str, schema_str: str, schema_type: str) -> int:
        schema_id = self._ids_by_key.get(key)
        if schema_id is None:
            schema_id = max(self._state.schemas, default=0) + 1
            self._state.schemas[schema_id] = StoredSchema(schema_id, schema_str, schema_type)
            self._ids_by_key[key] = schema_id
        versions = self._state.subjects.setdefault(subject, [])
        versions.append((versions[-1][0] + 1 if versions else 1, schema_id))
        return schema_id

    # --- reads -----------------------------------------------------------------------------

    def get_by_id(self, schema_id: int) -> StoredSchema:
        with self._lock:
            stored = self._state.schemas.get(schema_id)
        if stored is None:
            raise SchemaNotFoundError(f"Schema {schema_id} not found")
        return stored

    def versions_of_id(self, schema_id: int) -> list[tuple[str, int]]:
        """Every (subject, version) that currently uses the schema with this id."""
        with self._lock:
            self.get_by_id(schema_id)
            return [
                (subject, version)
                for subject, versions in sorted(self._state.subjects.items())
                for version, used_id in versions
                if used_id == schema_id
            ]

    def subjects(self) -> list[str]:
        with self._lock:
            return sorted(self._state.subjects)

    def versions(self, subject: str) -> list[int]:
        with self._lock:
            return [version for version, _ in self._versions(subject)]

    def get_version(self, subject: str, version: VersionRef = "latest") -> SubjectVersion:
        with self._lock:
            versions = self._versions(subject)
            wanted = _check_version(version)
            for number, schema_id in reversed(versions):
                if wanted == "latest" or number == wanted:
                    return self._subject_version(subject, number, schema_id)
        raise SchemaVersionNotFoundError(f"Version {version} not found.")

    def lookup(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> SubjectVersion:
        """The subject's version holding this schema (compared ignoring layout and key order)."""
        schema_type = schema_type.upper()
        key = canonical_key(_parse(schema_str, schema_type), schema_type)
        with self._lock:
            self._versions(subject)
            found = self._find_in_subject(subject, key)
        if found is None:
            raise SchemaNotFoundError(f"Schema not found under subject '{subject}'")
        return found

    def test_compatibility(
        self, subject: str, schema_str: str, version: VersionRef | None = "latest"
    ) -> tuple[bool, list[str]]:
        """Would `schema_str` be accepted? `None` checks like `register` does (per level);
        "latest" or a number checks against that one version only, as Confluent does."""
        schema = _parse(schema_str, "AVRO")
        with self._lock:
            if version is None and subject not in self._state.subjects:
                return True, []
            problems = self._problems(subject, schema, version)
        return not problems, problems

    # --- configuration ---------------------------------------------------------------------

    def get_config(self, subject: str | None = None) -> CompatibilityLevel:
        """The level in force: the subject's own if set, else the global one."""
        with self._lock:
            return self._level(subject)

    def get_subject_config(self, subject: str) -> CompatibilityLevel | None:
        with self._lock:
            return self._state.subject_levels.get(subject)

    def set_config(
        self, level: str | CompatibilityLevel, subject: str | None = None
    ) -> CompatibilityLevel:
        parsed = parse_level(level)
        with self._lock:
            return self._commit(lambda: self._set_level(parsed, subject))

    def _set_level(self, level: CompatibilityLevel, subject: str | None) -> CompatibilityLevel:
        if subject is None:
            self._state.global_level = level
        else:
            self._state.subject_levels[subject] = level
        return level

    def delete_config(self, subject: str) -> CompatibilityLevel | None:
        """Drop the subject's own level (back to the global one); return what it was."""
        with self._lock:
            if subject not in self._state.subject_levels:
                return None
            return self._commit(lambda: self._state.subject_levels.pop(subject))

    def delete_subject(self, subject: str) -> list[int]:
        """Forget the subject's versions and level; the schema ids stay resolvable."""
        with self._lock:
            deleted = self.versions(subject)
            self._commit(lambda: self._drop_subject(subject))
            return deleted

    def _drop_subject(self, subject: str) -> None:
        del self._state.subjects[subject]
        self._state.subject_levels.pop(subject, None)

    # --- internals -------------------------------------------------------------------------

    def _versions(self, subject: str) -> list[tuple[int, int]]:
        versions = self._state.subjects.get(subject)
        if not versions:
            raise SubjectNotFoundError(f"Subject '{subject}' not found.")
        return versions

    def _level(self, subject: str | None) -> CompatibilityLevel:
        if subject is not None and subject in self._state.subject_levels:
            return self._state.subject_levels[subject]
        return self._state.global_level

    def _subject_version(self, subject: str, version: int, schema_id: int) -> SubjectVersion:
        stored = self._state.schemas[schema_id]
        return SubjectVersion(subject, version, schema_id, stored.schema, stored.schema_type)

    def _find_in_subject(self, subject: str, key: str) -> SubjectVersion | None:
        schema_id = self._ids_by_key.get(key)
        for version, used_id in self._state.subjects.get(subject, []):
            if used_id == schema_id:
                return self._subject_version(subject, version, used_id)
        return None

    def _problems(self, subject: str, schema: Any, version: VersionRef | None) -> list[str]:
        """Compatibility problems against the subject's level (None) or one chosen version."""
        level = self._level(subject)
        if version is None:
            earlier = [
                (number, parse_avro(self._state.schemas[schema_id].schema))
                for number, schema_id in self._state.subjects.get(subject, [])
            ]
            return check_against_versions(level, schema, earlier)
        target = self.get_version(subject, version)
        if level is CompatibilityLevel.NONE:
            return []
        earlier_one = [(target.version, parse_avro(target.schema))]
        return check_against_versions(CompatibilityLevel.BACKWARD, schema, earlier_one)

    def _commit(self, change: Callable[[], _T]) -> _T:
        """Apply `change` to memory and persist it; on a failed write, undo the change."""
        before = self._state.to_json()
        try:
            result = change()
            self._save()
        except BaseException:
            self._state = _State.from_json(before)
            self._ids_by_key = self._index()
            raise
        return result

    def _index(self) -> dict[str, int]:
        return {
            canonical_key(json.loads(s.schema), s.schema_type): s.schema_id
            # newest first, so that were two ids ever equal the oldest one wins
            for s in sorted(self._state.schemas.values(), key=lambda s: -s.schema_id)
        }

    def _load(self) -> _State:
        if not self.path.exists():
            return _State()
        try:
            return _State.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, CreditError) as exc:
            raise RegistryStateError(
                f"cannot read the schema registry state {self.path}: {exc}"
            ) from exc

    def _save(self) -> None:
        try:
            _write_atomically(self.path, self._state.to_json())
        except OSError as exc:
            raise RegistryStateError(
                f"cannot write the schema registry state {self.path}: {exc}"
            ) from exc


def _parse(schema_str: str, schema_type: str) -> Any:
    if schema_type not in SCHEMA_TYPES:
        raise InvalidSchemaError(
            f"schema type {schema_type!r} is not supported: the embedded registry keeps AVRO only"
        )
    return parse_avro(schema_str)


def _check_version(version: VersionRef) -> VersionRef:
    if version == "latest" or (isinstance(version, int) and version >= 1):
        return version
    raise InvalidVersionError(
        f"The specified version '{version}' is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"'
    )


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Readers (and a crash) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            json.dump(data, tmp, ensure_ascii=False, indent=1)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
