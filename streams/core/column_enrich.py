"""Identity and enrichment of a batch's clean rows as columns: the class-table rows in Arrow.

Why: once the rules ran on columns, turning every clean row into a dict, resolving and
enriching it in Python and building Arrow again from the dicts cost ~25 µs per record
(`pyarrow.Table.from_pylist` alone 6.5). Here `streams.core.pipeline.enrich` and
`streams.core.identity.resolve_natural` are spelled as column expressions over the decoded
batch. Legal persons keep their per-row resolution (`streams.core.identity.resolve_legal` and
`learn`: a record may name a subject an earlier record of the same batch registered), over
a few small columns instead of whole records. `tests/unit/streams/core/test_column_rules.py`
compares the rows with the per-record path's, field by field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from schemas import envelope as env
from schemas.catalog import InfoClass
from streams.core.column_rules import PY_SPACE, citizen_id_shaped, id_check_chars_ok
from streams.core.identity import CITIZEN_ID_TYPE, Resolution

# provenance columns the record may carry, and the types the columnar path can read
_PROVENANCE = ("ingest_provider", "ingest_channel", "ingest_upload_id", "ingest_source_key")
_ORDINAL_EPOCH = dt.date(1970, 1, 1).toordinal()  # date.toordinal() of day 0 of Date columns


@dataclass
class Headers:
    """Per row, what its message's headers say (`streams.core.pipeline._meta`): the fallbacks
    of its provenance."""

    provider: list[str] = field(default_factory=list)
    channel: list[str] = field(default_factory=list)
    upload_id: list[str] = field(default_factory=list)
    source_key: list[str] = field(default_factory=list)  # "topic:partition:offset:<index>"
    row: list[int | None] = field(default_factory=list)  # the row `credit-rows` names
    timestamp_ms: list[int] = field(default_factory=list)  # the message's time

    def add(self, meta: Mapping[str, Any], position: str, rows: list[int | None],
            indices: Sequence[int], timestamp_ms: int) -> None:  # fmt: skip
        """The rows `indices` of one message (`position`: topic:partition:offset)."""
        n = len(indices)
        self.provider += [meta["provider"]] * n
        self.channel += [meta["channel"]] * n
        self.upload_id += [meta["upload_id"]] * n
        self.source_key += [f"{position}:{i}" for i in indices]
        self.row += [rows[i] if i < len(rows) else None for i in indices]
        self.timestamp_ms += [timestamp_ms] * n


@dataclass
class Subjects:
    """Who each row is about (`streams.core.identity.Resolution`, as columns)."""

    subject_id: list[str] = field(default_factory=list)
    subject_name: list[str] = field(default_factory=list)
    district: list[str] = field(default_factory=list)
    name_mismatch: list[int] = field(default_factory=list)
    code_flag: list[str] = field(default_factory=list)

    def add(self, res: Resolution) -> None:
        self.subject_id.append(res.subject_id)
        self.subject_name.append(res.subject_name)
        self.district.append(res.district)
        self.name_mismatch.append(int(res.name_mismatch))
        self.code_flag.append(res.code_flag)

    def extend(self, other: Subjects) -> None:
        self.subject_id += other.subject_id
        self.subject_name += other.subject_name
        self.district += other.district
        self.name_mismatch += other.name_mismatch
        self.code_flag += other.code_flag

    def slice(self, start: int, stop: int) -> Subjects:
        return Subjects(self.subject_id[start:stop], self.subject_name[start:stop],
                        self.district[start:stop], self.name_mismatch[start:stop],
                        self.code_flag[start:stop])  # fmt: skip

    def only(self, keep: np.ndarray) -> Subjects:
        """The rows where `keep`."""
        pick = np.flatnonzero(keep).tolist()
        return Subjects([self.subject_id[i] for i in pick], [self.subject_name[i] for i in pick],
                        [self.district[i] for i in pick], [self.name_mismatch[i] for i in pick],
                        [self.code_flag[i] for i in pick])  # fmt: skip


def readable(frame: pl.DataFrame) -> bool:
    """Whether the provenance columns are of types this module reads like `enrich` does
    (a provider schema may type them otherwise: then the per-record path decides)."""
    schema = frame.schema
    ok = all(schema.get(n, pl.String) == pl.String for n in _PROVENANCE)
    ok = ok and schema.get("ingest_row", pl.Int64) == pl.Int64
    received = schema.get("ingest_received_at", pl.Int64)
    return ok and (received == pl.Int64 or isinstance(received, pl.Datetime))


def _text(name: str | None, frame: pl.DataFrame) -> pl.Expr:
    """`identity._text`: the value as text, stripped; "" when absent."""
    if not name or name not in frame.columns:
        return pl.lit("")
    return pl.col(name).cast(pl.String).str.strip_chars(PY_SPACE).fill_null("")


def natural_subjects(
    cls: InfoClass, frame: pl.DataFrame, today: dt.date
) -> tuple[Subjects, np.ndarray]:
    """`resolve_natural` of every row, and which rows it resolves without a violation.

    Rows whose number is not ASCII (full-width digits) are left out (False): `normalize_code`
    folds them, which the per-record path does."""
    if frame.height == 0:  # literal-only columns would make one row of nothing
        return Subjects([], [], [], [], []), np.zeros(0, dtype=bool)
    spec = cls.subject
    given, raw = _text(spec.id_type, frame), _text(spec.code, frame)
    number = raw.str.to_uppercase()
    kind = pl.when(given == "").then(pl.lit(CITIZEN_ID_TYPE)).otherwise(given)
    citizen = kind == CITIZEN_ID_TYPE
    ascii_ = raw.str.len_bytes() == raw.str.len_chars()
    got = frame.select(
        pl.when(citizen).then(number).otherwise(kind + ":" + number).alias("id"),
        _text(spec.name, frame).alias("name"),
        pl.when(citizen).then(number.str.slice(0, 6)).otherwise(pl.lit("")).alias("district"),
        citizen.alias("citizen"),
        ascii_.alias("ascii"),
        (citizen & citizen_id_shaped(number, today)).alias("shaped"),
    )
    ids = got.get_column("id")
    shaped = got.get_column("shaped").to_numpy().astype(bool)
    valid = np.zeros(frame.height, dtype=bool)
    valid[shaped] = id_check_chars_ok(ids.filter(got.get_column("shaped")).to_list())
    citizen_ = got.get_column("citizen").to_numpy().astype(bool)
    ok = got.get_column("ascii").to_numpy().astype(bool) & (~citizen_ | valid)
    n = frame.height
    subjects = Subjects(ids.to_list(), got.get_column("name").to_list(),
                        got.get_column("district").to_list(), [0] * n, [""] * n)  # fmt: skip
    return subjects, ok


def rows(cls: InfoClass, frame: pl.DataFrame, subjects: Subjects, headers: Headers) -> pa.Table:
    """The class-table rows (`enrich`) of `frame`'s rows; `subjects` says who each is
    about, `headers` what its message said. Meant for all the rows of a worker step at once:
    a polars query costs ~1 ms however few its rows."""
    schema = frame.schema
    got = frame.select(*_provenance(frame, headers), _received_ms(frame, headers))
    provider = got.get_column("ingest_provider").to_list()
    source = got.get_column("ingest_source_key").to_list()
    code = cls.code
    keys = [hashlib.blake2b(f"{p}\x1f{code}\x1f{s}".encode(), digest_size=12).hexdigest()
            for p, s in zip(provider, source, strict=True)]  # fmt: skip
    received_day = (pl.col("received_ms") // 86_400_000).cast(pl.Int32).cast(pl.Date)
    event = _event_date(cls, frame, received_day)
    ends = [pl.col(f.name) for f in cls.fields
            if f.name.endswith(("_end", "_to")) and schema[f.name] == pl.Date]  # fmt: skip
    provide = (
        pl.col("provide_date").cast(pl.Int64) + _ORDINAL_EPOCH
        if schema.get("provide_date") == pl.Date
        else pl.lit(None)
    )
    target = env.valid_schema(cls)
    out = (
        frame.lazy()
        .with_columns(*got.get_columns())
        .with_columns(
            pl.lit(pl.Series("record_key", keys, pl.String)),
            _version(provide, pl.col("received_ms")).alias("version"),
            pl.lit(pl.Series("subject_id", subjects.subject_id, pl.String)),
            pl.lit(cls.subject_kind).alias("subject_kind"),
            pl.lit(pl.Series("subject_name", subjects.subject_name, pl.String)),
            pl.lit(pl.Series("district", subjects.district, pl.String)),
            pl.lit(pl.Series("name_mismatch", subjects.name_mismatch, pl.UInt8)),
            pl.lit(pl.Series("code_flag", subjects.code_flag, pl.String)),
            event.alias("event_date"),
            (pl.max_horizontal(ends).fill_null(event) if ends else event).alias("behaviour_end"),
            pl.col("received_ms").cast(pl.Datetime("ms", "UTC")).alias("ingest_received_at"),
        )
        .select(_typed(name, target.field(name).type, schema) for name in target.names)
        .collect()
    )
    return out.to_arrow().cast(target)


_POLARS_TYPES: dict[pa.DataType, pl.DataType] = {
    pa.string(): pl.String(), pa.int64(): pl.Int64(), pa.float64(): pl.Float64(),
    pa.bool_(): pl.Boolean(), pa.date32(): pl.Date(), pa.uint64(): pl.UInt64(),
    pa.uint8(): pl.UInt8(), pa.timestamp("ms", tz="UTC"): pl.Datetime("ms", "UTC"),
}  # fmt: skip
_ENRICHED = {name for name, _ in env.ENRICHED}


def _typed(name: str, target: pa.DataType, decoded: pl.Schema) -> pl.Expr:
    """A column as the valid schema types it. A decoded field of another type holds no
    value in a clean row (else the rules had found a type violation): at most blank text,
    which `enrich` turns into no value."""
    dtype = _POLARS_TYPES[target]
    if name in _ENRICHED:
        return pl.col(name).cast(dtype)
    source = decoded.get(name)
    same = source == dtype or (dtype == pl.Float64 and source == pl.Int64)
    return pl.col(name).cast(dtype) if same else pl.lit(None, dtype).alias(name)


def _version(provide_days: pl.Expr, received_ms: pl.Expr) -> pl.Expr:
    """Latest provider date wins; among equal dates, the later receipt (`enrich`)."""
    days = provide_days.fill_null(0).cast(pl.UInt64)
    return days * pl.lit(10**13, pl.UInt64) + received_ms.cast(pl.UInt64)


def _provenance(frame: pl.DataFrame, headers: Headers) -> list[pl.Expr]:
    """The record's provenance over the headers' (`pipeline._provenance`), per row."""
    fallback = {
        "ingest_provider": headers.provider,
        "ingest_channel": headers.channel,
        "ingest_upload_id": headers.upload_id,
        "ingest_source_key": headers.source_key,
    }
    out = []
    for name, default in fallback.items():
        given = pl.col(name) if name in frame.columns else pl.lit(None, pl.String)
        value = pl.when(given.is_not_null() & (given != ""))
        out.append(
            value.then(given).otherwise(pl.lit(pl.Series(default, dtype=pl.String))).alias(name)
        )
    if "ingest_row" in frame.columns:
        out.append(pl.col("ingest_row"))
    else:
        out.append(pl.lit(pl.Series("ingest_row", headers.row, dtype=pl.Int64)))
    return out


def _received_ms(frame: pl.DataFrame, headers: Headers) -> pl.Expr:
    """`pipeline._epoch_ms` of the record's receipt time, else its message's time."""
    fallback = pl.lit(pl.Series(headers.timestamp_ms, dtype=pl.Int64))
    if "ingest_received_at" not in frame.columns:
        return fallback.alias("received_ms")
    col = pl.col("ingest_received_at")
    if isinstance(frame.schema["ingest_received_at"], pl.Datetime):
        col = col.dt.epoch("ms")
    return col.cast(pl.Int64).fill_null(fallback).alias("received_ms")


def _event_date(cls: InfoClass, frame: pl.DataFrame, received_day: pl.Expr) -> pl.Expr:
    """`pipeline._event_date`: the event field's day (a month's first day), else the day
    the record was received."""
    name = cls.event_date_field
    fallback = received_day
    if not name or name not in frame.columns:
        return fallback
    col = pl.col(name)
    dtype = frame.schema[name]
    if dtype == pl.Date:
        return col.fill_null(fallback)
    if dtype == pl.String:
        month = pl.when(col.str.len_chars() == 7).then(
            (col + "-01").str.to_date("%Y-%m-%d", strict=False)
        )
        return month.fill_null(fallback)
    return fallback
