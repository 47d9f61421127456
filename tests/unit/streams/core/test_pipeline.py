"""The worker's per-record path, without Kafka: decode, rules, banned data, identity, enrich."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import envelope as env
from schemas.avro import avro_schema
from schemas.catalog import Catalog, InfoClass, default_catalog
from schemas.codec import AvroDecoder, AvroEncoder
from schemas.codes import (
    random_citizen_id,
    random_org_code,
    random_reg_no,
    random_uscc,
    uscc_check_char,
)
from streams.core.identity import Resolution
from streams.core.pipeline import Pipeline, enrich

TODAY = dt.date(2026, 11, 23)


class Harness:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.schemas: dict[int, str] = {}
        self.encoders: dict[str, AvroEncoder] = {}
        self.subjects: dict[str, Any] = {}
        self.aliases: dict[str, Any] = {}
        self.pipeline = Pipeline(
            catalog, AvroDecoder(self.schemas.__getitem__), self.subjects, self.aliases
        )
        self.offset = 0

    def encode(self, code: str, record: dict[str, Any]) -> bytes:
        cls = self.catalog.get(code)
        if code not in self.encoders:
            sid = len(self.schemas) + 1
            self.schemas[sid] = json.dumps(avro_schema(cls))
            self.encoders[code] = AvroEncoder(avro_schema(cls), sid)
        value = {f.name: record.get(f.name) for f in cls.fields}
        value.update(ingest_provider="水务", ingest_channel="sdk", ingest_upload_id="u1",
                     ingest_row=record.get("_row", 2), ingest_source_key=record.get("_key", "k"),
                     ingest_received_at=1_790_000_000_000)  # fmt: skip
        return self.encoders[code].encode(value)

    def run(self, code: str, value: bytes | None) -> Any:
        self.offset += 1
        msg = env.Inbound(f"credit.in.{code}", 0, self.offset, b"k", value, {env.H_UPLOAD: "u1"}, 0)
        return self.pipeline.process(msg, TODAY)


def arrears(uscc: str | None, name: str = "某某有限公司", **extra: Any) -> dict[str, Any]:
    return {
        "org_name": name, "uscc": uscc, "account_no": "A1", "arrears_type": "水费",
        "arrears_start": dt.date(2026, 7, 1), "arrears_end": dt.date(2026, 9, 30),
        "overdue_days": 92, "arrears_amount": 100.5, "source_dept": "水务集团",
        "provider_org": "水务集团", "provide_date": dt.date(2026, 10, 20), **extra,
    }  # fmt: skip


def test_valid_record_is_enriched_with_subject_district_and_key(catalog: Catalog) -> None:
    h = Harness(catalog)
    uscc = random_uscc(random.Random(1), "320281")
    out = h.run("legal_arrears", h.encode("legal_arrears", arrears(uscc)))
    assert out.dead is None and out.valid is not None
    row = out.valid
    assert (row["subject_id"], row["district"], row["subject_kind"]) == (uscc, "320281", "legal")
    assert row["event_date"] == dt.date(2026, 7, 1)
    assert row["behaviour_end"] == dt.date(2026, 9, 30)
    assert h.subjects[uscc]["name"] == "某某有限公司"


def test_bad_check_digit_is_dead_lettered_with_reason_and_row(catalog: Catalog) -> None:
    h = Harness(catalog)
    uscc = random_uscc(random.Random(2))
    bad = uscc[:-1] + ("0" if uscc[-1] != "0" else "1")
    out = h.run("legal_arrears", h.encode("legal_arrears", arrears(bad, _row=7)))
    assert out.valid is None
    assert [r["code"] for r in out.dead["reasons"]] == ["uscc.check_digit"]
    assert out.dead["row"] == 7 and out.dead["upload_id"] == "u1"


def test_old_org_code_resolves_through_the_registry_once_known(catalog: Catalog) -> None:
    h = Harness(catalog)
    rng = random.Random(3)
    org = random_org_code(rng)
    body = "91320281" + org
    uscc = body + uscc_check_char(body)
    unknown = h.run("legal_arrears", h.encode("legal_arrears", arrears(None, org_code=org)))
    assert [r["code"] for r in unknown.dead["reasons"]] == ["subject.unresolved"]
    h.run("legal_arrears", h.encode("legal_arrears", arrears(uscc, org_code=org, _key="a")))
    resolved = h.run(
        "legal_arrears", h.encode("legal_arrears", arrears(None, org_code=org, _key="b"))
    )
    assert resolved.valid is not None and resolved.valid["subject_id"] == uscc


@given(st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_an_org_code_resolves_to_the_known_uscc_that_embeds_it(seed: int) -> None:
    """Characters 9-17 of a USCC are its organization code: a record with only that code,
    printed with or without its hyphen, is about the subject seen before with the USCC."""
    h = Harness(default_catalog())
    uscc = random_uscc(random.Random(seed))
    org = uscc[8:17]
    assert h.run("legal_arrears", h.encode("legal_arrears", arrears(uscc, _key="a"))).valid
    for i, printed in enumerate((org, f"{org[:8]}-{org[8]}")):
        out = h.run("legal_arrears",
                    h.encode("legal_arrears", arrears(None, org_code=printed, _key=f"b{i}")))  # fmt: skip
        assert out.valid is not None, (printed, out.dead)
        assert out.valid["subject_id"] == uscc


@given(st.integers(0, 2**32))
@settings(max_examples=40, deadline=None)
def test_a_registration_number_resolves_through_the_registry(seed: int) -> None:
    """注册号 (the 15-digit number before USCCs) is paired with the USCC the first time a
    record carries both; from then on a record with only the number is about that subject."""
    h = Harness(default_catalog())
    rng = random.Random(seed)
    uscc, reg = random_uscc(rng), random_reg_no(rng)
    alone = h.run("legal_arrears", h.encode("legal_arrears", arrears(None, reg_no=reg, _key="a")))
    assert alone.valid is None
    assert [r["code"] for r in alone.dead["reasons"]] == ["subject.unresolved"]
    both = h.run("legal_arrears", h.encode("legal_arrears", arrears(uscc, reg_no=reg, _key="b")))
    assert both.valid is not None
    later = h.run("legal_arrears", h.encode("legal_arrears", arrears(None, reg_no=reg, _key="c")))
    assert later.valid is not None and later.valid["subject_id"] == uscc


def test_name_that_disagrees_with_the_registry_is_flagged_not_refused(catalog: Catalog) -> None:
    h = Harness(catalog)
    uscc = random_uscc(random.Random(4))
    h.run("legal_arrears", h.encode("legal_arrears", arrears(uscc, "甲公司")))
    out = h.run("legal_arrears", h.encode("legal_arrears", arrears(uscc, "乙公司", _key="2")))
    assert out.valid is not None
    assert out.valid["name_mismatch"] == 1 and out.valid["subject_name"] == "甲公司"


def test_pilot_code_failing_the_check_is_accepted_only_when_registered(catalog: Catalog) -> None:
    h = Harness(catalog)
    pilot = "91350100M0001TGQXM"
    assert h.run("legal_arrears", h.encode("legal_arrears", arrears(pilot))).dead is not None
    h.subjects[pilot] = {"name": "某某有限公司", "district": "350100", "registered": True}
    out = h.run("legal_arrears", h.encode("legal_arrears", arrears(pilot, _key="p")))
    assert out.valid is not None and out.valid["code_flag"] == "uscc.pilot_registered"


def test_unreadable_bytes_become_dead_letters_with_raw_bytes(catalog: Catalog) -> None:
    h = Harness(catalog)
    for value, reason in [(b"{json}", "avro.not_framed"), (b"\x00\x00\x00\x00\x63", "avro.unknown_schema"),
                          (None, "avro.empty"), (b"\x00\x01", "avro.truncated")]:  # fmt: skip
        out = h.run("legal_arrears", value)
        assert [r["code"] for r in out.dead["reasons"]] == [reason]
        if value:
            assert out.dead["raw_b64"]


def test_natural_person_record_with_valid_id_gets_district(catalog: Catalog) -> None:
    h = Harness(catalog)
    pid = random_citizen_id(random.Random(5), "320281")
    record = {
        "person_name": "王伟", "id_type": "身份证", "id_no": pid, "account_no": "W1",
        "arrears_type": "电费", "arrears_start": dt.date(2026, 8, 1), "arrears_end": dt.date(2026, 9, 30),
        "overdue_days": 61, "arrears_amount": 88.0, "source_dept": "供电", "provider_org": "供电",
        "provide_date": dt.date(2026, 10, 20),
    }  # fmt: skip
    out = h.run("natural_arrears", h.encode("natural_arrears", record))
    assert out.valid is not None and out.valid["district"] == "320281"
    bad = dict(record, id_no=pid[:10] + "0230" + pid[14:])  # no 30 February
    dead = h.run("natural_arrears", h.encode("natural_arrears", bad)).dead
    assert "id.birth_date" in {r["code"] for r in dead["reasons"]} or dead["reasons"]


def test_row_shape_follows_the_class_object_not_only_its_code(catalog: Catalog) -> None:
    """enrich keeps each class's field list once; another class under the same code (another
    catalog) gets its own, not the first one's."""
    cls = catalog.get("legal_arrears")
    res = Resolution(subject_id="S", subject_name="N")
    meta = {"provider": "p", "channel": "sdk", "upload_id": "u", "row": 1, "source_key": "k"}
    record = arrears(random_uscc(random.Random(3)))
    row = enrich(cls, record, res, meta, 1_790_000_000_000)
    assert [k for k in row if k in cls.by_name] == list(cls.by_name)
    narrower = InfoClass.model_validate(
        {**cls.model_dump(), "fields": cls.model_dump()["fields"][:12]}
    )
    again = enrich(narrower, record, res, meta, 1_790_000_000_000)
    assert [k for k in again if k in cls.by_name] == [f.name for f in cls.fields[:12]]
    assert again["behaviour_end"] == row["behaviour_end"] == dt.date(2026, 9, 30)
    assert enrich(cls, record, res, meta, 1_790_000_000_000) == row


def test_a_row_with_a_rule_problem_and_an_unknown_subject_hears_of_both(catalog: Catalog) -> None:
    """Rules and identity both judge every row: one round trip per row, not per problem."""
    h = Harness(catalog)
    org = random_org_code(random.Random(77))
    record = arrears(None, org_code=org, arrears_amount=-5.0)
    out = h.run("legal_arrears", h.encode("legal_arrears", record))
    assert out.dead is not None
    codes = {r["code"] for r in out.dead["reasons"]}
    assert {"subject.unresolved", "field.negative"} <= codes, codes
