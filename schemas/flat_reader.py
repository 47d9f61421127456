"""A fast reader for the flat Avro records of our class topics; fastavro stays the reference.

fastavro interprets the schema anew for every value (≈1 µs per field here), and decoding was
the worker's largest per-record cost once the rules were compiled. Class schemas are flat:
a record of `null`-unions and plain values (`string`, `long`, `double`, `boolean`, `date`,
`timestamp-millis`). `compile_reader` turns such a schema into one loop over
(name, kind, nullable) steps, once per schema; any other schema gets no reader (None).

The reader only ever answers for input it fully understands: anything unusual (a union
index other than 0/1, a boolean byte other than 0/1, a length that runs past the body,
an oversized varint, bad UTF-8, trailing bytes) raises `NotFlat`, and the caller then
decodes with fastavro, which gives the canonical value or error. The wire format is Avro's
binary encoding, unchanged.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable
from typing import Any

# The first four are zig-zag varints on the wire (`kind < DOUBLE`).
STRING, LONG, DATE, TIMESTAMP_MS, DOUBLE, BOOLEAN = range(6)
_KINDS: dict[tuple[str, str | None], int] = {
    ("string", None): STRING,
    ("long", None): LONG,
    ("double", None): DOUBLE,
    ("boolean", None): BOOLEAN,
    ("int", "date"): DATE,
    ("long", "timestamp-millis"): TIMESTAMP_MS,
}
_DOUBLE = struct.Struct("<d")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()
_day = dt.date.fromordinal  # bound once: looked up per value otherwise
_timedelta = dt.timedelta

Step = tuple[str, int, bool]  # field name, kind, nullable (["null", type] union)
FlatReader = Callable[[bytes], dict[str, Any]]


class NotFlat(Exception):
    """This body is not one the flat reader vouches for: decode it with fastavro."""


def _kind(avro_type: Any) -> int | None:
    if isinstance(avro_type, str):
        return _KINDS.get((avro_type, None))
    if isinstance(avro_type, dict) and set(avro_type) <= {"type", "logicalType"}:
        base, logical = avro_type.get("type"), avro_type.get("logicalType")
        if isinstance(base, str) and isinstance(logical, str):
            return _KINDS.get((base, logical))
    return None


def _step(field: Any) -> Step | None:
    if not isinstance(field, dict) or not isinstance(field.get("name"), str):
        return None
    avro_type = field.get("type")
    if isinstance(avro_type, list):  # only the ["null", type] union is flat
        if len(avro_type) != 2 or avro_type[0] != "null":
            return None
        kind = _kind(avro_type[1])
        return None if kind is None else (field["name"], kind, True)
    kind = _kind(avro_type)
    return None if kind is None else (field["name"], kind, False)


def flat_steps(schema: Any) -> tuple[Step, ...] | None:
    """The (name, kind, nullable) steps of a flat record schema, or None for any other."""
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return None
    steps = [_step(f) for f in schema.get("fields", ())]
    if not steps or any(s is None for s in steps):
        return None
    return tuple(s for s in steps if s is not None)


def compile_reader(schema: Any) -> FlatReader | None:
    """A reader for a flat record schema (parsed or not), or None for any other schema."""
    plan = flat_steps(schema)
    return None if plan is None else lambda body: read_flat(plan, body)


def _varint_rest(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a zig-zag varint whose `first` byte said more follow: (zig-zag value,
    position after it). A 64-bit long takes at most 10 bytes; anything longer or larger is
    left to fastavro and its own arithmetic."""
    z, shift = first & 0x7F, 7
    while True:
        b = data[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        if not b & 0x80:
            if z >> 64:
                raise NotFlat("varint beyond 64 bits")
            return z, pos
        shift += 7
        if shift > 63:
            raise NotFlat("varint longer than 10 bytes")


def read_flat(plan: tuple[Step, ...], data: bytes) -> dict[str, Any]:  # noqa: C901, PLR0912, PLR0915
    """One record body read by `plan`; raises NotFlat on anything it does not vouch for.

    One flat loop on purpose (over the size rules): a helper call per field would cost what
    this module exists to save."""
    out: dict[str, Any] = {}
    pos, size = 0, len(data)
    try:
        for name, kind, nullable in plan:
            if nullable:
                branch = data[pos]
                pos += 1
                if branch == 0:  # zig-zag 0: the null branch
                    out[name] = None
                    continue
                if branch != 2:  # zig-zag 1: the value branch; anything else → fastavro
                    raise NotFlat(f"union index byte {branch}")
            if kind < DOUBLE:  # a zig-zag varint: a length, a number, days or ms
                z = data[pos]
                pos += 1
                if z > 0x7F:  # more bytes follow
                    z, pos = _varint_rest(data, pos, z)
                if kind == STRING:  # a length: zig-zag odd would be negative
                    end = pos + (z >> 1)
                    if z & 1 or end > size:
                        raise NotFlat("string length negative or past the body")
                    out[name] = data[pos:end].decode()
                    pos = end
                    continue
                n = (z >> 1) ^ -(z & 1)
                if kind == LONG:
                    out[name] = n
                elif kind == DATE:
                    out[name] = _day(n + _EPOCH_DAY)
                else:
                    out[name] = _EPOCH + _timedelta(microseconds=n * 1000)
            elif kind == DOUBLE:
                out[name] = _DOUBLE.unpack_from(data, pos)[0]
                pos += 8
            else:
                flag = data[pos]
                pos += 1
                if flag > 1:
                    raise NotFlat(f"boolean byte {flag}")
                out[name] = flag == 1
    except (IndexError, struct.error, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise NotFlat(str(exc)) from exc
    if pos != size:
        raise NotFlat(f"{size - pos} trailing bytes")
    return out
