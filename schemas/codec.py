"""Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary body.

Kept as two visible functions plus two small classes so that any Confluent-compatible client
(Java, Go, ksqlDB, Kafka Connect) reads what we write and vice versa.

Record batches (issue 10): one Kafka message per record costs ~100 µs of Faust and broker
work, more than validating the record. The SDK therefore packs many records of one schema
into one message: magic byte 1 (so a Confluent deserializer refuses it instead of misreading
it), the 4-byte schema id, then per record a zig-zag varint length and the Avro body. The
lengths let a reader skip one corrupt record and still read the rest of the batch.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from typing import Any

import fastavro

from schemas.exceptions import CodecError
from schemas.flat_reader import FlatReader, NotFlat, compile_reader

MAGIC = 0
BATCH_MAGIC = 1
DEFAULT_BATCH_RECORDS = 500
_HEADER = struct.Struct(">bI")


def frame(schema_id: int, body: bytes) -> bytes:
    return _HEADER.pack(MAGIC, schema_id) + body


def unframe(data: bytes | None, magic_expected: int = MAGIC) -> tuple[int, bytes]:
    """Split a message value into (schema id, Avro body); refuse anything else."""
    if not data:
        raise CodecError("avro.empty", "empty message value / 消息为空")
    if len(data) < _HEADER.size:
        raise CodecError("avro.truncated", f"{len(data)} bytes, shorter than the 5-byte header")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != magic_expected:
        framing = "Confluent framing" if magic_expected == MAGIC else "credit record batch"
        raise CodecError(
            "avro.not_framed", f"magic byte {magic}, expected {magic_expected} ({framing})"
        )
    return schema_id, data[_HEADER.size :]


def varint(n: int) -> bytes:
    """Avro's zig-zag varint (the same encoding Avro uses for `long`)."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = z = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise CodecError("avro.truncated", f"record length cut off at byte {pos}")
        b = data[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        if not b & 0x80:
            return (z >> 1) ^ -(z & 1), pos
        shift += 7


def frame_batch(schema_id: int, bodies: list[bytes]) -> bytes:
    """A record batch: header, then each Avro body prefixed by its length."""
    parts = [_HEADER.pack(BATCH_MAGIC, schema_id)]
    for body in bodies:
        parts.append(varint(len(body)))
        parts.append(body)
    return b"".join(parts)


def split_batch(data: bytes | None) -> tuple[int, list[bytes], CodecError | None]:
    """(schema id, the bodies that could be cut out, the error that stopped the cut, if any).

    A broken length makes the rest of the batch unreadable; the caller accounts for the
    records it did not get from the batch's row list.
    """
    schema_id, _ = unframe(data, BATCH_MAGIC)
    assert data is not None
    bodies: list[bytes] = []
    pos = _HEADER.size
    try:
        while pos < len(data):
            size, pos = _read_varint(data, pos)
            if size < 0 or pos + size > len(data):
                raise CodecError("avro.truncated", f"record {len(bodies)}: {size} bytes announced, "
                                 f"{len(data) - pos} left")  # fmt: skip
            bodies.append(data[pos : pos + size])
            pos += size
    except CodecError as exc:
        return schema_id, bodies, exc
    return schema_id, bodies, None


def is_batch(data: bytes | None) -> bool:
    return bool(data) and data[0] == BATCH_MAGIC  # type: ignore[index]


class AvroEncoder:
    """Encodes records of one schema registered under `schema_id`."""

    def __init__(self, schema: dict[str, Any], schema_id: int) -> None:
        self.parsed = fastavro.parse_schema(schema)
        self.schema_id = schema_id

    def encode(self, record: dict[str, Any]) -> bytes:
        return frame(self.schema_id, self.body(record))

    def body(self, record: dict[str, Any]) -> bytes:
        """The Avro body alone (for a record batch); raises on a value the schema refuses."""
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.parsed, record)
        return buf.getvalue()


class AvroDecoder:
    """Decodes any framed record whose schema id `fetch_schema` can resolve (cached).

    Flat record schemas (all class topics) are read by `schemas.flat_reader`, twice as fast
    as fastavro; whatever that reader does not vouch for is decoded by fastavro as before.
    """

    def __init__(self, fetch_schema: Callable[[int], str]) -> None:
        self._fetch = fetch_schema
        self._parsed: dict[int, Any] = {}
        self._flat: dict[int, FlatReader | None] = {}
        self._texts: dict[int, str] = {}

    def _schema(self, schema_id: int) -> Any:
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            try:
                text = self._fetch(schema_id)
            except Exception as exc:
                raise CodecError("avro.unknown_schema", f"schema id {schema_id}: {exc}") from exc
            raw = json.loads(text)
            parsed = fastavro.parse_schema(raw)
            self._flat[schema_id] = compile_reader(raw)
            self._texts[schema_id] = text
            self._parsed[schema_id] = parsed
        return parsed

    def flat_schema(self, schema_id: int) -> str | None:
        """The schema's text when it is flat (its bodies can be read as columns), else None;
        raises CodecError for an unknown schema id."""
        self._schema(schema_id)
        return self._texts[schema_id] if self._flat.get(schema_id) is not None else None

    def decode(self, data: bytes | None) -> tuple[int, dict[str, Any]]:
        schema_id, body = unframe(data)
        return schema_id, self.decode_body(schema_id, body)

    def decode_body(self, schema_id: int, body: bytes) -> dict[str, Any]:
        """One Avro body written with schema `schema_id` (from a frame or a record batch)."""
        schema = self._schema(schema_id)
        flat = self._flat.get(schema_id)
        if flat is not None:
            try:
                return flat(body)
            except NotFlat:
                pass  # fastavro decides: the canonical value, or the canonical error
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
        return record
