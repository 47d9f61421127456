"""The path through the worker, as plain functions over plain records and columns.

decode → banned data → rules → identity → enrich, ending in exactly one of: a valid record
for the class table, or a dead letter with reasons (nothing lost). No Kafka or Faust here:
the worker feeds messages in and sends the results out.

Two ways, one verdict. Record batches of a worker step are read and judged as columns
(`streams.core.block_judge`, `streams.core.column_rules`); their clean rows are resolved and enriched
as columns too (`streams.core.column_enrich`) into one Arrow table per class and schema. Rows
that break a rule, rows identity refuses, single Confluent-framed records and batches that
do not decode as a block go record by record (`process_record`), which builds the reasons.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from schemas import envelope as env
from schemas.catalog import Catalog, InfoClass
from schemas.codec import AvroDecoder, is_batch, split_batch
from schemas.exceptions import BatchHeaderError, CodecError, UnknownClassError
from schemas.violations import Violation
from streams.core import block_judge, column_enrich
from streams.core.banned import strip_banned
from streams.core.identity import Resolution, learn, resolve
from streams.core.rules import validate


@dataclass
class Outcome:
    """Either `valid` (a class-table row), `dead` (a dead letter), or `columns`: the valid
    rows of a batch's clean records at once (`changed_subjects`: whom they registered)."""

    class_code: str
    valid: dict[str, Any] | None = None
    dead: dict[str, Any] | None = None
    registry_changed: bool = False
    columns: pa.Table | None = None
    changed_subjects: set[str] = field(default_factory=set)

    @property
    def records(self) -> int:
        return self.columns.num_rows if self.columns is not None else 1


# meta keys the record's own provenance fields override (headers are only the fallback)
_INGEST_META = tuple((n, f"ingest_{n}") for n in ("provider", "channel", "upload_id", "source_key"))


def _meta(msg: env.Inbound) -> dict[str, Any]:
    h = msg.headers
    row = h.get(env.H_ROW)
    return {
        "provider": h.get(env.H_PROVIDER, ""),
        "channel": h.get(env.H_CHANNEL, ""),
        "upload_id": h.get(env.H_UPLOAD, ""),
        "row": int(row) if row and row.lstrip("-").isdigit() else None,
        "source_key": h.get(env.H_SOURCE_KEY, "") or f"{msg.topic}:{msg.partition}:{msg.offset}",
    }


def _dead(
    msg: env.Inbound,
    class_code: str,
    meta: Mapping[str, Any],
    stage: str,
    reasons: list[Violation],
    payload: Mapping[str, Any] | None,
    raw: bytes | None = None,
    received_ms: int | None = None,
) -> Outcome:
    dead = env.dead_letter(
        class_code,
        meta,
        stage,
        reasons,
        payload,
        raw=raw,
        received_ms=received_ms if received_ms is not None else msg.timestamp_ms,
        position=(msg.topic, msg.partition, msg.offset),
    )
    return Outcome(class_code, dead=dead)


def _epoch_ms(value: Any, fallback: int) -> int:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, int):
        return value
    return fallback


def _provenance(msg: env.Inbound, meta: dict[str, Any], decoded: Mapping[str, Any]) -> int:
    """The record's own provenance fields over the headers' (in `meta`); its receipt time."""
    for name, column in _INGEST_META:
        meta[name] = decoded.get(column) or meta[name]
    meta["row"] = decoded.get("ingest_row", meta["row"])
    return _epoch_ms(decoded.get("ingest_received_at"), msg.timestamp_ms)


def _event_date(cls: InfoClass, record: Mapping[str, Any], received: dt.date) -> dt.date:
    value = record.get(cls.event_date_field) if cls.event_date_field else None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and len(value) == 7:  # YYYY-MM
        return dt.date(int(value[:4]), int(value[5:7]), 1)
    return received


@dataclass(frozen=True, slots=True)
class _RowShape:
    """What `enrich` needs of a class, worked out once per class instead of once per record."""

    cls: InfoClass
    names: tuple[str, ...]  # the catalog fields, in column order
    end_fields: tuple[str, ...]  # *_end / *_to fields: when the behaviour ended
    typed: tuple[str, ...]  # fields not of text: a blank text there is no value


_SHAPES: dict[str, _RowShape] = {}


def _shape(cls: InfoClass) -> _RowShape:
    # keyed by code: hashing the pydantic model itself cost more than the scan it saves
    shape = _SHAPES.get(cls.code)
    if shape is None or shape.cls is not cls:
        names = tuple(cls.by_name)
        ends = tuple(n for n in names if n.endswith("_end") or n.endswith("_to"))
        typed = tuple(f.name for f in cls.fields if f.type not in ("string", "month", "enum"))
        shape = _SHAPES[cls.code] = _RowShape(cls, names, ends, typed)
    return shape


def _behaviour_end(shape: _RowShape, record: Mapping[str, Any], event: dt.date) -> dt.date:
    """When the behaviour ended: the latest *_end / *_to date the record carries, else its date."""
    ends = [v for k in shape.end_fields if isinstance(v := record.get(k), dt.date)]
    return max(ends) if ends else event


@functools.lru_cache(maxsize=256)
def _received_date(received_ms: int) -> dt.date:
    """UTC day of a receipt time; cached because the records of a batch share a few ms."""
    return dt.datetime.fromtimestamp(received_ms / 1000, dt.UTC).date()


def enrich(
    cls: InfoClass,
    record: dict[str, Any],
    res: Resolution,
    meta: Mapping[str, Any],
    received_ms: int,
) -> dict[str, Any]:
    """The class-table row: catalog fields plus subject, idempotency key and version."""
    shape = _shape(cls)
    event = _event_date(cls, record, _received_date(received_ms))
    provide = record.get("provide_date")
    provide_days = provide.toordinal() if isinstance(provide, dt.date) else 0
    rkey = env.record_key(meta["provider"], cls.code, meta["source_key"])
    row = dict(zip(shape.names, map(record.get, shape.names), strict=True))
    for name in shape.typed:  # a blank text passed the rules as "no value" (a provider
        if isinstance(row[name], str):  # schema that types the field as text)
            row[name] = None
    row.update(
        record_key=rkey,
        # latest provider date wins; among equal dates, the later receipt
        version=provide_days * 10**13 + received_ms,
        subject_id=res.subject_id,
        subject_kind=cls.subject_kind,
        subject_name=res.subject_name,
        district=res.district,
        name_mismatch=int(res.name_mismatch),
        code_flag=res.code_flag,
        event_date=event,
        behaviour_end=_behaviour_end(shape, record, event),
        ingest_provider=meta["provider"],
        ingest_channel=meta["channel"],
        ingest_upload_id=meta["upload_id"],
        ingest_row=meta["row"],
        ingest_source_key=meta["source_key"],
        ingest_received_at=received_ms,
    )
    return row


def is_subject_check_digit(cls: InfoClass, v: Violation) -> bool:
    """A check-digit failure of the subject's own USCC: identity decides (pilot-region codes)."""
    return (
        cls.subject_kind == "legal" and v.code == "uscc.check_digit" and v.field == cls.subject.code
    )


@dataclass
class _Clean:
    """The clean rows of one batch message, waiting to be enriched with the step's others."""

    cls: InfoClass
    schema_id: int
    msg: env.Inbound
    meta: Mapping[str, Any]
    rows: list[int | None]
    frame: pl.DataFrame  # the rows (those identity refused taken out)
    indices: np.ndarray  # their records' places in the batch
    subjects: column_enrich.Subjects = field(default_factory=column_enrich.Subjects)
    outcomes: list[Outcome] = field(default_factory=list)  # the message's outcomes
    changed: set[str] = field(default_factory=set)  # subjects the registry learned


class Pipeline:
    """Holds what the per-record functions need: catalog, decoder, registry mappings."""

    def __init__(
        self,
        catalog: Catalog,
        decoder: AvroDecoder,
        subjects: MutableMapping[str, Any],
        aliases: MutableMapping[str, Any],
    ) -> None:
        self.catalog = catalog
        self.decoder = decoder
        self.subjects = subjects
        self.aliases = aliases

    def process(self, msg: env.Inbound, today: dt.date | None = None) -> Outcome:
        meta = _meta(msg)
        try:
            cls = self.catalog.by_topic(msg.topic)
        except UnknownClassError as exc:
            why = Violation("class.unknown", None, "未知信息类", str(exc))
            return _dead(msg, "", meta, "decode", [why], None, msg.value)
        try:
            _, decoded = self.decoder.decode(msg.value)
        except CodecError as exc:
            why = Violation(exc.reason, None, "消息无法解码", str(exc))
            return _dead(msg, cls.code, meta, "decode", [why], None, msg.value)
        return self.process_record(cls, msg, meta, decoded, today or dt.date.today())

    def process_messages(
        self, msgs: list[env.Inbound], today: dt.date | None = None
    ) -> list[list[Outcome]]:
        """`process_message` of each message, in order, their batches judged together
        (`streams.core.block_judge`)."""
        day = today or dt.date.today()
        verdicts = block_judge.judge_all(self.catalog, self.decoder, msgs, day)
        pending: list[_Clean] = []
        out = [self.process_message(m, day, verdicts.get(block_judge.position(m)), pending)
               for m in msgs]  # fmt: skip
        self._enrich(pending, day)
        return out

    def process_message(
        self,
        msg: env.Inbound,
        today: dt.date | None = None,
        verdicts: block_judge.Verdicts | None = None,
        pending: list[_Clean] | None = None,
    ) -> list[Outcome]:
        """Every record of a message: one for a Confluent-framed record, N for a record batch.

        Each record of a batch ends as a valid row or a dead letter; records the batch promised
        (its `credit-batch` count) but that cannot be cut out of it are dead-lettered with the
        rows its `credit-rows` header names, so a damaged batch still adds up.
        """
        if not is_batch(msg.value):
            return [self.process(msg, today)]
        day = today or dt.date.today()
        meta = _meta(msg)
        count = env.batch_count(msg.headers)
        limit = len(msg.value or b"")  # every record takes at least one byte of the body
        try:
            rows = env.parse_rows(msg.headers.get(env.H_ROWS, ""), limit)
            if count is not None and count > limit:
                raise BatchHeaderError(f"credit-batch announces {count} records; the body "
                                           f"of {limit} bytes holds at most {limit}")  # fmt: skip
        except BatchHeaderError as exc:  # one dead letter for the whole message
            why = Violation("batch.header", None, "批次消息头与消息体不符，整条消息拒收", str(exc))
            return [_dead(msg, self._class_of(msg), meta, "decode", [why], None, msg.value)]
        try:
            cls = self.catalog.by_topic(msg.topic)
            if verdicts is not None:  # cut out already, whole
                schema_id, bodies, broken = verdicts.schema_id, verdicts.bodies, None
            else:
                schema_id, bodies, broken = split_batch(msg.value)
        except (UnknownClassError, CodecError) as exc:
            code = exc.reason if isinstance(exc, CodecError) else "class.unknown"
            why = Violation(code, None, "消息无法解码", str(exc))
            class_code = "" if isinstance(exc, UnknownClassError) else cls.code
            expected = count if count is not None else max(len(rows), 1)
            return self._lost(msg, class_code, meta, rows, 0, expected, why)
        expected = count if count is not None else len(bodies)
        if verdicts is None and broken is None and bodies:
            verdicts = self._judge(cls, schema_id, bodies, day)
        if verdicts is not None and len(verdicts.guilty) == len(bodies):
            later = [] if pending is None else pending  # alone: enriched right away
            out = self._judged_together(cls, msg, meta, rows, schema_id, bodies, verdicts, day,
                                        later)  # fmt: skip
            if pending is None:
                self._enrich(later, day)
        else:
            out = [self._batch_record(cls, msg, self._row_meta(meta, msg, rows, i), schema_id,
                                      body, day) for i, body in enumerate(bodies)]  # fmt: skip
        if broken is not None or len(bodies) < expected:
            reason = broken or CodecError(
                "avro.truncated", f"batch announced {expected} records, holds {len(bodies)}"
            )
            why = Violation(reason.reason, None, "消息无法解码", str(reason))
            out += self._lost(msg, cls.code, meta, rows, len(bodies), expected, why)
        return out

    def _judge(
        self, cls: InfoClass, schema_id: int, bodies: list[bytes], today: dt.date
    ) -> block_judge.Verdicts | None:
        """The bodies judged on their columns; None sends them the per-record way (which
        says what is wrong with each)."""
        return block_judge.judge(self.catalog, self.decoder, cls, schema_id, bodies, today)

    def _judged_together(
        self,
        cls: InfoClass,
        msg: env.Inbound,
        meta: Mapping[str, Any],
        rows: list[int | None],
        schema_id: int,
        bodies: list[bytes],
        verdicts: block_judge.Verdicts,
        today: dt.date,
        pending: list[_Clean],
    ) -> list[Outcome]:
        """The batch's rules ran on its columns (`streams.core.column_rules`): a row that breaks
        one goes the per-record way, which builds its reasons. The others wait in `pending`
        to be resolved and enriched as columns with the rest of the step (`_enrich`); legal
        persons are resolved here, in order (a record may name a subject an earlier one
        registered)."""
        clean = verdicts.clean
        if not column_enrich.readable(clean):  # provenance of odd types: record by record
            records = iter(clean.to_dicts())
            out = []
            for i, body in enumerate(bodies):
                row_meta = self._row_meta(meta, msg, rows, i)
                if verdicts.guilty[i]:
                    out.append(self._batch_record(cls, msg, row_meta, schema_id, body, today))
                else:
                    out.append(self.process_record(cls, msg, row_meta, next(records), today,
                                                   clean=True))  # fmt: skip
            return out
        indices = np.flatnonzero(~verdicts.guilty)
        part = _Clean(cls, schema_id, msg, meta, rows, clean, indices)
        if cls.subject_kind == "natural":
            part.outcomes += [self._batch_record(cls, msg, self._row_meta(meta, msg, rows, int(i)),
                                                 schema_id, bodies[i], today)
                              for i in np.flatnonzero(verdicts.guilty)]  # fmt: skip
        else:
            part.subjects, ok = self._legal_in_order(part, bodies, verdicts, today)
            self._refuse(part, ok, today)
        pending.append(part)
        return part.outcomes

    def _refuse(self, part: _Clean, ok: np.ndarray, today: dt.date) -> None:
        """Rows identity refuses go the per-record way, for their reasons; the others stay."""
        for j in np.flatnonzero(~ok):
            row_meta = self._row_meta(part.meta, part.msg, part.rows, int(part.indices[j]))
            record = part.frame.row(int(j), named=True)
            part.outcomes.append(
                self.process_record(part.cls, part.msg, row_meta, record, today, clean=True)
            )
        if not ok.all():
            part.frame, part.indices = part.frame.filter(pl.Series(ok)), part.indices[ok]

    def _enrich(self, pending: list[_Clean], today: dt.date) -> None:
        """The clean rows of a step's batches, a class and schema at a time: natural persons
        resolved, then all enriched at once (`column_enrich.rows`); the outcome goes with
        the last message of each group."""
        groups: dict[tuple[str, int], list[_Clean]] = {}
        for part in pending:
            groups.setdefault((part.cls.code, part.schema_id), []).append(part)
        for parts in groups.values():
            cls = parts[0].cls
            if cls.subject_kind == "natural":
                for part, (subjects, ok) in zip(parts, self._natural(parts, today), strict=True):
                    part.subjects = subjects.only(ok)
                    self._refuse(part, ok, today)
            parts = [p for p in parts if p.frame.height]
            if not parts:
                continue
            headers, subjects = column_enrich.Headers(), column_enrich.Subjects()
            for p in parts:
                position = f"{p.msg.topic}:{p.msg.partition}:{p.msg.offset}"
                headers.add(p.meta, position, p.rows, p.indices.tolist(), p.msg.timestamp_ms)
                subjects.extend(p.subjects)
            frame = pl.concat([p.frame for p in parts])
            table = column_enrich.rows(cls, frame, subjects, headers)
            changed = set().union(*(p.changed for p in parts))
            parts[-1].outcomes.append(Outcome(cls.code, columns=table, changed_subjects=changed))

    @staticmethod
    def _natural(
        parts: list[_Clean], today: dt.date
    ) -> list[tuple[column_enrich.Subjects, np.ndarray]]:
        """`natural_subjects` of the parts' rows in one query, cut back into the parts."""
        every, ok = column_enrich.natural_subjects(
            parts[0].cls, pl.concat([p.frame for p in parts]), today
        )
        out, start = [], 0
        for p in parts:
            stop = start + p.frame.height
            out.append((every.slice(start, stop), ok[start:stop]))
            start = stop
        return out

    def _legal_in_order(
        self,
        part: _Clean,
        bodies: list[bytes],
        verdicts: block_judge.Verdicts,
        today: dt.date,
    ) -> tuple[column_enrich.Subjects, np.ndarray]:
        """Legal persons record by record, in the batch's order: a record may name a subject
        an earlier one registered. Clean rows are resolved from their subject columns only;
        which resolve without a violation."""
        cls, spec = part.cls, part.cls.subject
        names = [n for n in dict.fromkeys((spec.name, spec.code, *spec.alt_codes))
                 if n in part.frame.columns]  # fmt: skip
        clean = iter(part.frame.select(names).iter_rows())
        subjects = column_enrich.Subjects()
        ok: list[bool] = []
        for i, body in enumerate(bodies):
            if verdicts.guilty[i]:
                row_meta = self._row_meta(part.meta, part.msg, part.rows, i)
                part.outcomes.append(
                    self._batch_record(cls, part.msg, row_meta, part.schema_id, body, today)
                )
                continue
            record = dict(zip(names, next(clean), strict=True))
            res = resolve(cls, record, self.subjects, self.aliases, today)
            ok.append(not res.violations)
            if res.violations:
                continue
            if learn(cls, record, res, self.subjects, self.aliases):
                part.changed.add(res.subject_id)
            subjects.add(res)
        return subjects, np.array(ok, dtype=bool)

    def _class_of(self, msg: env.Inbound) -> str:
        try:
            return self.catalog.by_topic(msg.topic).code
        except UnknownClassError:
            return ""

    @staticmethod
    def _row_meta(
        meta: Mapping[str, Any], msg: env.Inbound, rows: list[int | None], i: int
    ) -> dict[str, Any]:
        return {**meta, "row": rows[i] if i < len(rows) else None,
                "source_key": f"{msg.topic}:{msg.partition}:{msg.offset}:{i}"}  # fmt: skip

    def _batch_record(
        self,
        cls: InfoClass,
        msg: env.Inbound,
        meta: dict[str, Any],
        schema_id: int,
        body: bytes,
        today: dt.date,
    ) -> Outcome:
        try:
            decoded = self.decoder.decode_body(schema_id, body)
        except CodecError as exc:
            why = Violation(exc.reason, None, "消息无法解码", str(exc))
            return _dead(msg, cls.code, meta, "decode", [why], None, body)
        return self.process_record(cls, msg, meta, decoded, today)

    def _lost(
        self,
        msg: env.Inbound,
        class_code: str,
        meta: Mapping[str, Any],
        rows: list[int | None],
        start: int,
        expected: int,
        why: Violation,
    ) -> list[Outcome]:
        """Dead letters for records of a batch that could not be cut out (raw bytes once)."""
        out = []
        for i in range(start, max(expected, start + 1)):
            raw = msg.value if i == start else None
            row_meta = self._row_meta(meta, msg, rows, i)
            out.append(_dead(msg, class_code, row_meta, "decode", [why], None, raw))
        return out

    def _forgive_pilot_code(
        self, cls: InfoClass, record: Mapping[str, Any], problems: list[Violation]
    ) -> list[Violation]:
        """Drop the subject's check-digit failure when registration records know the code."""
        if not problems:  # nothing to forgive: spare the registry look-up
            return problems
        code = str(record.get(cls.subject.code) or "").strip().upper()
        known = self.subjects.get(code) if code else None
        if known and known.get("registered"):
            return [v for v in problems if not is_subject_check_digit(cls, v)]
        return problems

    def process_record(
        self,
        cls: InfoClass,
        msg: env.Inbound,
        meta: dict[str, Any],
        decoded: dict[str, Any],
        today: dt.date,
        clean: bool = False,
    ) -> Outcome:
        """One decoded record to its outcome. `clean`: the column rules found nothing against
        it (no banned field, no rule broken), so only identity can still refuse it."""
        received_ms = _provenance(msg, meta, decoded)
        record, problems = decoded, []
        if not clean:
            record, banned = strip_banned(decoded, cls.subject_kind)
            problems = self._forgive_pilot_code(
                cls, record, banned + validate(cls, record, self.catalog, today)
            )
        res = resolve(cls, record, self.subjects, self.aliases, today)
        if problems or res.violations:  # every problem of the row in one answer
            seen = {v.code for v in problems}  # the rules check the subject's code too
            found = problems + [v for v in res.violations if v.code not in seen]
            stage = "rules" if problems else "identity"
            return _dead(msg, cls.code, meta, stage, found, record, received_ms=received_ms)
        changed = learn(cls, record, res, self.subjects, self.aliases)
        row = enrich(cls, record, res, meta, received_ms)
        return Outcome(cls.code, valid=row, registry_changed=changed)
