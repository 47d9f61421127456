"""The column rules give every row the verdict the per-record rules give it.

Over more than 100,000 generated records of every class of the catalog (plus one class with
the phone and citizen-ID checks no catalog class uses yet), written with the catalog's schema
and with hostile variants of it (fields of another type, fields left out, a banned field),
`column_rules.guilty` must flag exactly the rows that `strip_banned` + `validate` report
anything for, and every reason code those can give must occur.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import random
import re
from collections.abc import Callable
from typing import Any

import fastavro
import numpy as np
import orjson
import pytest

from schemas import envelope as env
from schemas.avro import INGEST_FIELDS, avro_schema
from schemas.avro_block import read_block
from schemas.catalog import Catalog, FieldSpec, InfoClass, default_catalog
from schemas.codec import AvroDecoder, frame_batch
from schemas.codes import (
    random_citizen_id,
    random_org_code,
    random_reg_no,
    random_uscc,
)
from schemas.exceptions import BlockError
from sinks.write.arrow_rows import records
from streams.core.banned import strip_banned
from streams.core.column_rules import PY_SPACE, guilty
from streams.core.pipeline import Pipeline
from streams.core.rules import validate

TODAY = dt.date(2026, 12, 7)
RECORDS = 104_000
EVERY_REASON = {
    "field.required", "field.type", "field.enum", "field.negative", "field.precision",
    "field.range", "field.month", "field.date_future", "field.date_order", "field.length",
    "subject.missing_code", "uscc.length", "uscc.charset", "uscc.check_digit", "uscc.org_code",
    "org_code.format", "org_code.check_digit", "reg_no.format", "reg_no.check_digit",
    "id.length", "id.format", "id.birth_date", "id.check_digit", "phone.format",
    "banned.personal_data",
}  # fmt: skip
PILOT_CODE = "91350100M0001TGQXM"  # fails its check character; registered in pilot regions
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _with_checks_class(catalog: Catalog) -> Catalog:
    """The catalog plus a class whose fields use the phone and citizen-ID checks."""
    base = catalog.get("natural_arrears")
    extra = (
        FieldSpec(name="contact_phone", label="联系电话", type="string", check="phone"),
        FieldSpec(name="holder_id", label="持有人身份证号", type="string", check="citizen_id"),
    )
    cls = base.model_copy(update={"code": "test_checks", "name": "测试校验",
                                  "fields": base.fields + extra})  # fmt: skip
    cls.__dict__.pop("by_name", None)
    return Catalog([*catalog.classes.values(), cls], catalog.enums, catalog.departments)


# --- values -----------------------------------------------------------------------------


def _broken(code: str, rng: random.Random) -> str:
    """A code with one character changed (check characters fail, mostly)."""
    i = rng.randrange(len(code))
    return code[:i] + rng.choice("0123456789AX") + code[i + 1 :]


def _code(check: str, rng: random.Random) -> Any:
    good = {
        "uscc": lambda: random_uscc(rng),
        "org_code": lambda: rng.choice([random_org_code(rng),
                                        (c := random_org_code(rng))[:8] + "-" + c[8]]),
        "reg_no": lambda: random_reg_no(rng),
        "citizen_id": lambda: random_citizen_id(rng),
        "id_by_type": lambda: rng.choice([random_citizen_id(rng), "E12345678"]),
        "phone": lambda: rng.choice(["13912345678", "+86 139-1234-5678", "0510-86123456",
                                     "4008001234", "(0510)8612345", "008613912345678"]),
    }[check]()  # fmt: skip
    roll = rng.random()
    if roll < 0.55:
        return good
    hostile = [
        _broken(good, rng), good.lower(), good[:-1], good + "1", f" {good}", good + "\x1f",
        good.translate(_FULL_WIDTH), "X" * 41, "", None, "19000101" + good[8:],
        good[:6] + "20991231" + good[14:], good[:6] + "19001332" + good[14:],
        good[:6] + "18991231" + good[14:], "123", "12X45678-9", "ABCDEFGHI", "1391234567",
        good.replace("1", "I"), PILOT_CODE,
    ]  # fmt: skip
    return rng.choice(hostile)


def _number(spec: FieldSpec, rng: random.Random) -> Any:
    pool = [
        round(rng.uniform(0, 1e5), 2), round(rng.uniform(0, 100), 1), 0.0, 12.0,
        round(rng.uniform(0, 1e4), 3), round(rng.uniform(0, 10), 4), round(rng.uniform(0, 1), 5),
        -round(rng.uniform(0, 100), 2), math.nan, math.inf, 1e-7, 2.5e-5, 1e16, 1.23e22,
        3e13 + 0.0078125, 0.1 + 0.2, 100.5, 99.99, None,
    ]  # fmt: skip
    return rng.choice(pool)


def _month(rng: random.Random) -> Any:
    ahead = (TODAY.replace(day=1) + dt.timedelta(days=40)).strftime("%Y-%m")
    return rng.choice([f"{rng.randint(2015, 2026)}-{rng.randint(1, 12):02d}", "2024-13", "2024-5",
                       f"{TODAY:%Y-%m}", ahead, " 2024-05", "２０２４-05", "2024-00", "", None])  # fmt: skip


def _date(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.75:
        return TODAY - dt.timedelta(days=rng.randint(0, 4000))
    return rng.choice([TODAY, TODAY + dt.timedelta(days=1), TODAY + dt.timedelta(days=900),
                       dt.date(1899, 1, 1), None])  # fmt: skip


def _text(rng: random.Random) -> Any:
    return rng.choice(["江阴市某某有限公司", "张三", "正常文本", "", "   ", "\x1f", "\u3000",
                       "a" * 50, None, "x"])  # fmt: skip


def catalog_value(cls: InfoClass, spec: FieldSpec, catalog: Catalog, rng: random.Random) -> Any:
    """A value of the catalog's own type for `spec`: valid mostly, hostile often."""
    if spec.check is not None:
        return _code(spec.check, rng)
    if spec.type in ("amount", "quantity", "ratio"):
        return _number(spec, rng)
    if spec.type == "int":
        return rng.choice([rng.randint(0, 10_000), -3, 0, None])
    if spec.type == "bool":
        return rng.choice([True, False, None])
    if spec.type == "month":
        return _month(rng)
    if spec.type in ("date", "period_start", "period_end"):
        return _date(rng)
    if spec.type == "enum" and spec.enum:
        enum = catalog.enums[spec.enum]
        pool = [*enum.values, *enum.values, *enum.synonyms, "未知取值", "", None]
        return rng.choice(pool)
    return _text(rng)


def clean_value(spec: FieldSpec, catalog: Catalog, rng: random.Random, day: dt.date) -> Any:
    """A value that breaks no rule; start dates lie before end dates (`day` is the end)."""
    if spec.check is not None:
        check = "citizen_id" if spec.check == "id_by_type" else spec.check
        makers: dict[str, Callable[[random.Random], str]] = {
            "uscc": random_uscc, "org_code": random_org_code, "reg_no": random_reg_no,
            "citizen_id": random_citizen_id, "phone": lambda r: "13912345678"}  # fmt: skip
        return makers[check](rng)
    if spec.type == "ratio":
        return round(rng.uniform(0, 100), 1)
    if spec.type in ("amount", "quantity"):
        return round(rng.uniform(0, 1e4), 2)
    if spec.type == "int":
        return rng.randint(0, 10_000)
    if spec.type == "bool":
        return rng.random() < 0.5
    start = spec.name.endswith(("_start", "_from")) or spec.name == "period_start"
    if spec.type == "month":
        return f"{day - dt.timedelta(days=31 if start else 0):%Y-%m}"
    if spec.type in ("date", "period_start", "period_end"):
        return day - dt.timedelta(days=30 if start else 0)
    if spec.type == "enum" and spec.enum:
        return rng.choice(catalog.enums[spec.enum].values)
    return "正常文本"


_OTHER_TYPES: dict[str, Any] = {
    "string": lambda rng: rng.choice(["2024-05-01", "12.5", "", " ", None, "是"]),
    "long": lambda rng: rng.choice([1, -1, 20240501, None]),
    "double": lambda rng: rng.choice([1.5, -2.0, None, 3.0]),
    "boolean": lambda rng: rng.choice([True, False, None]),
    "date": lambda rng: rng.choice([dt.date(2024, 5, 1), None]),
    "timestamp": lambda rng: rng.choice([dt.datetime(2024, 5, 1, tzinfo=dt.UTC), None]),
}
_AVRO_OF = {"string": "string", "long": "long", "double": "double", "boolean": "boolean",
            "date": {"type": "int", "logicalType": "date"},
            "timestamp": {"type": "long", "logicalType": "timestamp-millis"}}  # fmt: skip


# --- schemas ----------------------------------------------------------------------------


class Variant:
    """One schema a provider might register for a class, and how to fill its records."""

    def __init__(self, cls: InfoClass, kind: str, rng: random.Random) -> None:
        self.cls = cls
        schema = avro_schema(cls)
        self.retyped: dict[str, str] = {}
        fields = [
            f for f in schema["fields"] if f["name"] not in {i["name"] for i in INGEST_FIELDS}
        ]
        if kind == "retyped":
            for f in fields:
                if rng.random() < 0.3:
                    self.retyped[f["name"]] = other = rng.choice(list(_OTHER_TYPES))
                    f["type"] = ["null", _AVRO_OF[other]]
        elif kind == "missing":
            fields = [f for f in fields if rng.random() < 0.7]
        elif kind == "banned":
            fields.append({"name": "marital_status", "type": ["null", "string"], "default": None})
        schema["fields"] = fields + [dict(f) for f in INGEST_FIELDS]
        self.names = [f["name"] for f in fields]
        self.text = json.dumps(schema, ensure_ascii=False)
        self.parsed = fastavro.parse_schema(json.loads(self.text))

    def record(self, catalog: Catalog, rng: random.Random, n: int) -> dict[str, Any]:
        """Half the records clean, the others with a few or many hostile values."""
        by_name = self.cls.by_name
        hostility = rng.choice([0.0, 0.0, 0.03, 0.3])
        day = TODAY - dt.timedelta(days=rng.randint(60, 4000))
        out: dict[str, Any] = {}
        for name in self.names:
            bad = rng.random() < hostility
            if name in self.retyped:
                out[name] = _OTHER_TYPES[self.retyped[name]](rng) if bad else None
            elif name in by_name:
                spec = by_name[name]
                out[name] = (catalog_value(self.cls, spec, catalog, rng) if bad
                             else clean_value(spec, catalog, rng, day))  # fmt: skip
            else:
                out[name] = "已婚"
        if self.cls.subject_kind == "legal" and rng.random() < hostility:  # no code at all
            for code in (self.cls.subject.code, *self.cls.subject.alt_codes):
                if code in out and code not in self.retyped:
                    out[code] = rng.choice([None, "", " "])
        out.update(ingest_provider="供水公司", ingest_channel="sdk", ingest_upload_id="u",
                   ingest_row=n, ingest_source_key=f"k{n}",
                   ingest_received_at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC))  # fmt: skip
        return out

    def body(self, record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.parsed, record)
        return buf.getvalue()


def batches(catalog: Catalog, records: int, seed: int = 20) -> list[tuple[Variant, list[bytes]]]:
    """(schema variant, bodies) per class and variant, `records` bodies in all."""
    rng = random.Random(seed)
    classes = list(catalog.classes.values())
    kinds = ("catalog", "catalog", "retyped", "missing", "banned")
    per = records // (len(classes) * len(kinds)) + 1
    out = []
    n = 0
    for cls in classes:
        for kind in kinds:
            variant = Variant(cls, kind, rng)
            out.append((variant, [variant.body(variant.record(catalog, rng, n + i))
                                  for i in range(per)]))  # fmt: skip
            n += per
    return out


# --- the comparison ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return _with_checks_class(default_catalog())


def test_column_verdicts_equal_the_per_record_verdicts(catalog: Catalog) -> None:
    texts: dict[int, str] = {}
    decoder = AvroDecoder(texts.__getitem__)
    seen: set[str] = set()
    total = flagged = 0
    for sid, (variant, bodies) in enumerate(batches(catalog, RECORDS), start=1):
        texts[sid] = variant.text
        cls = variant.cls
        frame = read_block(variant.text, bodies)
        column = guilty(cls, catalog, frame, TODAY)
        expected = np.zeros(len(bodies), dtype=bool)
        for i, body in enumerate(bodies):
            record, banned = strip_banned(decoder.decode_body(sid, body), cls.subject_kind)
            reasons = banned + validate(cls, record, catalog, TODAY)
            expected[i] = bool(reasons)
            seen.update(v.code for v in reasons)
        wrong = np.flatnonzero(column != expected)
        assert not len(wrong), (
            f"{cls.code} ({variant.names}): rows {wrong[:5].tolist()} column says "
            f"{column[wrong[:5]].tolist()}; first record "
            f"{decoder.decode_body(sid, bodies[wrong[0]])}"
        )
        total += len(bodies)
        flagged += int(expected.sum())
    assert total >= 100_000
    assert 0.2 * total < flagged < 0.95 * total  # both verdicts are well represented
    assert seen >= EVERY_REASON, f"never produced: {sorted(EVERY_REASON - seen)}"


def test_python_white_space_is_blank(catalog: Catalog) -> None:
    """Every character `str.strip` removes makes a required field blank here too."""
    assert all(c.isspace() for c in PY_SPACE)
    assert {chr(c) for c in range(0x110000) if chr(c).isspace()} == set(PY_SPACE)


def test_a_block_is_taken_only_when_each_body_is_exactly_its_record() -> None:
    """polars reads a bad union index or boolean byte as some value and ignores bytes after
    the last record; the layout check refuses such a block (the bodies then go one by one)."""
    text = json.dumps({"type": "record", "name": "r", "fields": [
        {"name": "a", "type": ["null", "string"]}, {"name": "b", "type": ["null", "boolean"]},
        {"name": "n", "type": "long"}]})  # fmt: skip
    good = [b"\x02\x02a\x02\x01\x04", b"\x00\x00\x03", b"\x02\x00\x02\x00\x80\x01"]
    assert read_block(text, good).to_dicts() == [
        {"a": "a", "b": True, "n": 2}, {"a": None, "b": None, "n": -2},
        {"a": "", "b": False, "n": 64}]  # fmt: skip
    for bad in (
        [b"\x04\x02a\x02\x01\x04", *good[1:]],  # union index 2 of a 2-branch union
        [b"\x02\x02a\x02\x02\x04", *good[1:]],  # boolean byte 2
        [*good[:2], good[2] + b"\x00"],  # a byte after the last record
        [good[0] + good[1][:1], good[1][1:], good[2]],  # a record's byte counted with another
        [good[0], b"\x00\x00\x83\x00", good[2]],  # -2 written in two bytes
        [good[0], good[1][:-1], good[2]],  # cut short
        [good[0], b"\x02\x04\xff\xfe\x00\x00", good[2]],  # invalid UTF-8
        [good[0], b"\x02\xfe\xff\xff\xff\x0f", good[2]],  # a length past the end
    ):
        with pytest.raises(BlockError):
            read_block(text, bad)


# --- the whole pipeline, both ways --------------------------------------------------------


def _damaged(body: bytes, rng: random.Random) -> bytes:
    """A body with a flipped byte, cut short, or with a byte too many."""
    i = rng.randrange(len(body))
    return rng.choice([body[:i] + bytes([body[i] ^ (1 << rng.randrange(8))]) + body[i + 1 :],
                       body[:i], body + b"\x00", b"\x02" + b"\xfe" * 9 + b"\x01"])  # fmt: skip


class PerRecord(Pipeline):
    """Today's path before the columns: every body decoded and judged on its own."""

    def process_messages(self, msgs: list[env.Inbound], today: Any = None) -> Any:
        return [self.process_message(m, today) for m in msgs]

    def _judge(self, *args: Any) -> Any:
        return None


def _outcomes(pipeline: Pipeline, msgs: list[env.Inbound]) -> list[tuple[list[bytes], set[str]]]:
    """Per message: its records' outcomes as sorted JSON (rows in columns one by one), and
    the subjects it registered (what the worker sends on `credit.subjects`)."""
    out = []
    for outcomes in pipeline.process_messages(msgs, TODAY):
        found, changed = [], set()
        for o in outcomes:
            dead = None if o.dead is None else {k: v for k, v in o.dead.items()
                                                if k != "rejected_ms"}  # fmt: skip
            valid = [o.valid] if o.columns is None else records(o.columns)
            changed |= o.changed_subjects
            if o.registry_changed and o.valid is not None:
                changed.add(o.valid["subject_id"])
            for row in valid:
                # as JSON: a NaN in a dead letter's payload is not equal to itself;
                # fastavro's messages name a buffer's address
                text = orjson.dumps({"class": o.class_code, "valid": row, "dead": dead},
                                    option=orjson.OPT_SORT_KEYS, default=str)  # fmt: skip
                found.append(re.sub(rb" at 0x[0-9a-f]+", b"", text))
        out.append((sorted(found), changed))
    return out


def test_the_pipeline_gives_the_same_outcomes_both_ways(catalog: Catalog) -> None:
    """Rows, dead letters with their reasons, and the registry they leave: the same. A
    registered subject makes its pilot-region code (a check-digit failure) acceptable."""
    texts: dict[int, str] = {}
    msgs = []
    rng = random.Random(5)
    for sid, (variant, bodies) in enumerate(batches(catalog, 30_000, seed=21), start=1):
        texts[sid] = variant.text
        if rng.random() < 0.3:  # a damaged body: the block fails, the bodies go one by one
            bodies[rng.randrange(len(bodies))] = _damaged(bodies[0], rng)
        headers = {env.H_PROVIDER: "供水公司", env.H_UPLOAD: "u", env.H_BATCH: str(len(bodies)),
                   env.H_ROWS: env.rows_header(list(range(2, 2 + len(bodies))))}  # fmt: skip
        msgs.append(env.Inbound(variant.cls.topic, 0, sid, b"k", frame_batch(sid, bodies),
                                headers, 1_790_000_000_000))  # fmt: skip
    registered = {"registered": True, "name": "试点企业", "district": "350100"}
    ways = []
    for kind in (Pipeline, PerRecord):
        subjects: dict[str, Any] = {PILOT_CODE: dict(registered)}
        aliases: dict[str, Any] = {}
        pipeline = kind(catalog, AvroDecoder(texts.__getitem__), subjects, aliases)
        ways.append((_outcomes(pipeline, msgs), subjects, aliases))
    (columns, subjects_c, aliases_c), (one_by_one, subjects_r, aliases_r) = ways
    for got, want in zip(columns, one_by_one, strict=True):
        assert got == want
    assert (subjects_c, aliases_c) == (subjects_r, aliases_r)
    every = [o for message, _ in columns for o in message]
    assert len(every) == sum(len(b) for _, b in batches(catalog, 30_000, 21))
    valid = [o for o in every if b'"valid":null' not in o]
    assert 0.2 * len(every) < len(valid) < 0.8 * len(every)
    assert any(b"uscc.pilot_registered" in o for o in valid)  # forgiven the same way
    assert sum(len(changed) for _, changed in columns) > 100  # the registry learned the same


def test_a_natural_class_block_with_no_clean_row_resolves_to_nothing(catalog: Catalog) -> None:
    """Every row of a person class's block broke a rule: the identity step gets an empty
    frame. When the provider's schema has none of the subject fields (a hostile schema:
    every row then breaks the required-field rules), the columns read as literals were one
    row long there, and the mismatch failed the whole batch (the worker exits and reads it
    again: a crash loop)."""
    import datetime as dt

    import polars as pl

    from streams.core import column_enrich

    cls = catalog.get("natural_arrears")
    subject = {cls.subject.name, cls.subject.code, cls.subject.id_type}
    present = [f.name for f in cls.fields if f.name not in subject]
    empty = pl.DataFrame({name: pl.Series([], dtype=pl.String) for name in present})
    subjects, ok = column_enrich.natural_subjects(cls, empty, dt.date(2026, 12, 8))
    assert subjects.subject_id == [] and len(ok) == 0
