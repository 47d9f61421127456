"""Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary body.

Kept as two visible functions plus two small classes so that any Confluent-compatible client
(Java, Go, ksqlDB, Kafka Connect) reads what we write and vice versa.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from typing import Any

import fastavro

from schemas.exceptions import CodecError

MAGIC = 0
_HEADER = struct.Struct(">bI")


def frame(schema_id: int, body: bytes) -> bytes:
    return _HEADER.pack(MAGIC, schema_id) + body


def unframe(data: bytes | None) -> tuple[int, bytes]:
    """Split a message value into (schema id, Avro body); refuse anything else."""
    if not data:
        raise CodecError("avro.empty", "empty message value / 消息为空")
    if len(data) < _HEADER.size:
        raise CodecError("avro.truncated", f"{len(data)} bytes, shorter than the 5-byte header")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CodecError("avro.not_framed", f"magic byte {magic}, expected 0 (Confluent framing)")
    return schema_id, data[_HEADER.size :]


class AvroEncoder:
    """Encodes records of one schema registered under `schema_id`."""

    def __init__(self, schema: dict[str, Any], schema_id: int) -> None:
        self.parsed = fastavro.parse_schema(schema)
        self.schema_id = schema_id

    def encode(self, record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        buf.write(_HEADER.pack(MAGIC, self.schema_id))
        fastavro.schemaless_writer(buf, self.parsed, record)
        return buf.getvalue()


class AvroDecoder:
    """Decodes any framed record whose schema id `fetch_schema` can resolve (cached)."""

    def __init__(self, fetch_schema: Callable[[int], str]) -> None:
        self._fetch = fetch_schema
        self._parsed: dict[int, Any] = {}

    def _schema(self, schema_id: int) -> Any:
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            try:
                text = self._fetch(schema_id)
            except Exception as exc:
                raise CodecError("avro.unknown_schema", f"schema id {schema_id}: {exc}") from exc
            parsed = self._parsed[schema_id] = fastavro.parse_schema(json.loads(text))
        return parsed

    def decode(self, data: bytes | None) -> tuple[int, dict[str, Any]]:
        schema_id, body = unframe(data)
        schema = self._schema(schema_id)
        buf = io.BytesIO(body)
        try:
            record = fastavro.schemaless_reader(buf, schema, None)
        except (EOFError, StopIteration) as exc:
            raise CodecError("avro.truncated", f"body ends early: {exc}") from exc
        except Exception as exc:
            raise CodecError("avro.malformed", f"not a valid Avro body: {exc}") from exc
        if buf.tell() != len(body):
            raise CodecError("avro.malformed", f"{len(body) - buf.tell()} trailing bytes")
        if not isinstance(record, dict):
            raise CodecError("avro.malformed", "body is not a record")
        return schema_id, record
