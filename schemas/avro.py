"""Avro schemas derived from the catalog, and the check that the checked-in `.avsc` agree.

Business fields are all nullable in Avro: a missing required value must reach the stream
rules, which refuse it with a row-level reason, instead of failing opaquely in a serializer.
Every record also carries the platform's provenance (来源可溯): provider, channel, upload,
row, source key, receipt time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro

from schemas.catalog import Catalog, FieldSpec, InfoClass
from schemas.exceptions import SchemaMismatchError

AVRO_DIR = Path(__file__).parent / "avro"
NAMESPACE = "credit.classes"

_AVRO_TYPES: dict[str, Any] = {
    "string": "string",
    "enum": "string",
    "month": "string",
    "int": "long",
    "amount": "double",
    "quantity": "double",
    "ratio": "double",
    "bool": "boolean",
    "date": {"type": "int", "logicalType": "date"},
    "period_start": {"type": "int", "logicalType": "date"},
    "period_end": {"type": "int", "logicalType": "date"},
}

# Provenance the platform stamps on every record (not provider columns).
INGEST_FIELDS: tuple[dict[str, Any], ...] = (
    {"name": "ingest_provider", "type": "string", "doc": "报送单位 (provider department)"},
    {"name": "ingest_channel", "type": "string", "doc": "报送渠道: file / api / poll / sdk"},
    {"name": "ingest_upload_id", "type": "string", "doc": "上传批次号"},
    {"name": "ingest_row", "type": ["null", "long"], "default": None, "doc": "原始行号"},
    {"name": "ingest_source_key", "type": "string", "doc": "源记录标识"},
    {
        "name": "ingest_received_at",
        "type": {"type": "long", "logicalType": "timestamp-millis"},
        "doc": "平台接收时间",
    },
)
INGEST_NAMES = tuple(f["name"] for f in INGEST_FIELDS)


def record_name(cls: InfoClass) -> str:
    return "".join(part.capitalize() for part in cls.code.split("_"))


def _field(spec: FieldSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": spec.name,
        "type": ["null", _AVRO_TYPES[spec.type]],
        "default": None,
        "doc": spec.label,
        "label": spec.label,
        "required": spec.required,
    }
    if spec.enum:
        out["enum"] = spec.enum
    if spec.check:
        out["check"] = spec.check
    return out


def avro_schema(cls: InfoClass) -> dict[str, Any]:
    """The value schema of a class topic, as a JSON-able dict."""
    return {
        "type": "record",
        "name": record_name(cls),
        "namespace": NAMESPACE,
        "doc": cls.name,
        "fields": [_field(f) for f in cls.fields] + [dict(f) for f in INGEST_FIELDS],
    }


def schema_text(cls: InfoClass) -> str:
    return json.dumps(avro_schema(cls), ensure_ascii=False, indent=2) + "\n"


def avsc_path(cls: InfoClass, directory: Path = AVRO_DIR) -> Path:
    return directory / f"{cls.code}.avsc"


def write_avsc(catalog: Catalog, directory: Path = AVRO_DIR) -> list[Path]:
    """Regenerate every `.avsc` (run after a catalog change: `credit catalog --write-avsc`)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for cls in catalog:
        path = avsc_path(cls, directory)
        path.write_text(schema_text(cls), encoding="utf-8")
        paths.append(path)
    return paths


def check_avsc(catalog: Catalog, directory: Path = AVRO_DIR) -> None:
    """Raise if a class has no `.avsc` or the file disagrees with the catalog."""
    problems = []
    for cls in catalog:
        path = avsc_path(cls, directory)
        if not path.exists():
            problems.append(f"{cls.code}: no schema file {path.name}")
        elif json.loads(path.read_text(encoding="utf-8")) != avro_schema(cls):
            problems.append(f"{cls.code}: {path.name} disagrees with the catalog")
    known = {avsc_path(c, directory).name for c in catalog}
    problems += [
        f"{p.name}: no such class" for p in directory.glob("*.avsc") if p.name not in known
    ]
    if problems:
        hint = "; run `credit catalog --write-avsc` after changing the catalog"
        raise SchemaMismatchError("; ".join(problems) + hint)


def parsed_schema(cls: InfoClass) -> Any:
    """fastavro's parsed form, for encoding and validating records of `cls`."""
    return fastavro.parse_schema(avro_schema(cls))
