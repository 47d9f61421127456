"""A record batch's bodies read at once into columns, as one Avro object container block.

Why: reading a body at a time in Python cost ~9 µs per record; polars reads a container
block of the same bodies in ~1.4 µs. A record batch (`schemas.codec`) holds exactly what a
block holds — Avro bodies of one schema, back to back — so the block is the batch's bodies
behind a container header, with no re-encoding.

polars reads leniently: a union index or boolean byte out of range is read as some value,
and bytes left after the last record are ignored. So a block is taken only when its layout
proves every body is the exact encoding of the row read from it (`_check_layout`): each
value's encoded length, worked out from the value, adds up to its body's length, and each
union and boolean byte is 0 or 1 as the value says. Such a body decodes to the same record
body by body (`schemas.flat_reader`); any other block raises `BlockError` and the caller
reads its bodies one by one, each getting its own verdict. Only flat schemas come here
(`schemas.flat_reader.flat_steps`), so the columns are String, Int64, Float64, Boolean,
Date or Datetime.
"""

from __future__ import annotations

import io
import json

import numpy as np
import polars as pl
from polars.exceptions import PanicException

from schemas.codec import varint
from schemas.exceptions import BlockError
from schemas.flat_reader import BOOLEAN, DOUBLE, STRING, Step, flat_steps

_SYNC = b"credit-ingest-bk"  # any 16 bytes: the block is read once, never appended to
# a varint of n bytes holds values below 2**(7n): the thresholds for n = 1 … 9
_VARINT_LIMITS = np.array([1 << (7 * n) for n in range(1, 10)], dtype=np.uint64)


def _bytes(value: bytes) -> bytes:
    return varint(len(value)) + value


def container(schema_text: str, data: bytes, count: int) -> bytes:
    """An Avro object container file of one block: `count` bodies in `data`, codec null."""
    meta = varint(2) + _bytes(b"avro.schema") + _bytes(schema_text.encode())
    meta += _bytes(b"avro.codec") + _bytes(b"null") + varint(0)
    return b"Obj\x01" + meta + _SYNC + varint(count) + _bytes(data) + _SYNC


def read_block(schema_text: str, bodies: list[bytes]) -> pl.DataFrame:
    """The bodies as columns, one row per body; BlockError unless each body is exactly the
    encoding of its row."""
    steps = flat_steps(json.loads(schema_text))
    if steps is None:
        raise BlockError("the schema is not flat: its bodies are read one by one")
    data = b"".join(bodies)
    try:
        frame = pl.read_avro(io.BytesIO(container(schema_text, data, len(bodies))))
    except (Exception, PanicException) as exc:
        # ComputeError, OSError, …; a length past the end panics in its Rust code (a
        # BaseException) after printing the panic to stderr
        raise BlockError(f"the batch does not decode as one block: {exc}") from exc
    if frame.height != len(bodies):
        raise BlockError(f"the block decoded {frame.height} records of {len(bodies)}")
    _check_layout(steps, frame, data, np.fromiter(map(len, bodies), np.int64, len(bodies)))
    return frame


def _varint_len(zigzag: np.ndarray) -> np.ndarray:
    return np.searchsorted(_VARINT_LIMITS, zigzag, side="right").astype(np.int64) + 1


def _zigzag(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.int64)
    zigzag: np.ndarray = ((v << 1) ^ (v >> 63)).view(np.uint64)
    return zigzag


def _value_lengths(kind: int, col: pl.Series) -> np.ndarray:
    """Encoded length of each value of a column (0 where null)."""
    if kind == STRING:
        n: np.ndarray = col.str.len_bytes().fill_null(0).to_numpy().astype(np.int64)
        lengths: np.ndarray = n + _varint_len(_zigzag(n))
        return lengths
    if kind == DOUBLE:
        return np.full(len(col), 8, dtype=np.int64)
    if kind == BOOLEAN:
        return np.ones(len(col), dtype=np.int64)
    physical = col.to_physical().fill_null(0).to_numpy()  # longs, days, epoch ms
    return _varint_len(_zigzag(physical))


def _check_layout(steps: tuple[Step, ...], frame: pl.DataFrame, data: bytes,
                  sizes: np.ndarray) -> None:  # fmt: skip
    """BlockError unless every body is exactly the encoding of its row (module doc)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    at = np.concatenate(([0], np.cumsum(sizes)[:-1]))  # where each row's next field starts
    for name, kind, nullable in steps:
        col = frame.get_column(name)
        null = col.is_null().to_numpy()
        if nullable:
            if (at >= len(raw)).any() or (
                raw[np.minimum(at, len(raw) - 1)] != np.where(null, 0, 2)
            ).any():
                raise BlockError(f"a union index of {name} is not the one its value needs")
            at = at + 1
        elif null.any():
            raise BlockError(f"{name} has no value")
        if kind == BOOLEAN:
            present = ~null
            flags = raw[np.minimum(at[present], len(raw) - 1)]
            if (at[present] >= len(raw)).any() or (flags != col.to_numpy()[present]).any():
                raise BlockError(f"a boolean byte of {name} is neither 0 nor 1 as read")
        at = at + np.where(null, 0, _value_lengths(kind, col))
    if (at != np.cumsum(sizes)).any():
        raise BlockError("a body is not exactly the encoding of the record read from it")
