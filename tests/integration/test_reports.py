"""The analyst reports on the real chDB store, with rows inserted straight into the tables."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from schemas.catalog import Catalog
from schemas.codes import random_citizen_id, random_uscc
from sinks.ddl.subject_index import (
    backfill_index,
    drop_index,
    has_index,
    subject_records,
)
from sinks.ddl.upgrade import apply_ddl
from sinks.read import reports, risk
from sinks.store import Store, open_embedded
from sinks.write.figures import FigureKeeper
from sinks.write.rows import OUTCOME_COLUMNS, SUBJECT_COLUMNS, UPLOAD_COLUMNS, ClassRows

pytestmark = pytest.mark.integration

TODAY = dt.date(2025, 6, 10)
NOW = dt.datetime(2025, 6, 10, 9, 0, tzinfo=dt.UTC)
NOW_MS = int(NOW.timestamp() * 1000)
RNG = random.Random(7)


def put(store: Store, catalog: Catalog, code: str, subject: str, event: str, **fields: Any) -> str:
    """One stored record of class `code` about `subject`; returns its record key."""
    cls = catalog.get(code)
    key, row = record_row(catalog, code, subject, event, **fields)
    rows = ClassRows(cls)
    store.insert(cls.table, [row], rows.columns)
    return key


def record_row(
    catalog: Catalog, code: str, subject: str, event: str, **fields: Any
) -> tuple[str, list[Any]]:
    cls = catalog.get(code)
    key = fields.pop("record_key", uuid.uuid4().hex)
    meta = {
        "record_key": key, "version": 1, "subject_id": subject,
        "subject_kind": cls.subject_kind, "subject_name": fields.pop("name", "江阴某某有限公司"),
        "district": fields.pop("district", "320281"), "name_mismatch": 0, "code_flag": "",
        "event_date": event, "behaviour_end": fields.pop("behaviour_end", event),
        "ingest_provider": fields.pop("provider", "供水公司"), "ingest_channel": "file",
        "ingest_upload_id": "u-test", "ingest_row": 1, "ingest_source_key": key,
        "ingest_received_at": NOW_MS,
    }  # fmt: skip
    return key, ClassRows(cls).row({**fields, **meta}, NOW)


def register(store: Store, subject: str, kind: str, name: str, **codes: str) -> None:
    row = [
        subject,
        kind,
        name,
        "320281",
        codes.get("org_code", ""),
        codes.get("reg_no", ""),
        1,
        NOW,
    ]
    store.insert("subjects", [row], SUBJECT_COLUMNS)


@pytest.fixture(scope="module")
def shared(chdb_path: Path, catalog: Catalog) -> Iterator[Store]:
    """One database for the read-only tests; each test uses its own subjects."""
    db = f"t_{uuid.uuid4().hex[:10]}"
    store = open_embedded(chdb_path, db)
    apply_ddl(store, catalog)
    yield store
    store.command(f"DROP DATABASE IF EXISTS {db}")


def test_public_report_shows_public_classes_and_identity(shared: Store, catalog: Catalog) -> None:
    uscc = random_uscc(RNG)
    register(shared, uscc, "legal", "江阴华新纺织有限公司", org_code=uscc[8:17])
    put(shared, catalog, "legal_arrears", uscc, "2025-03-01", arrears_type="水费",
        arrears_amount=Decimal("120.50"), overdue_days=40)  # fmt: skip
    put(shared, catalog, "legal_utility_payment", uscc, "2025-04-01", payment_type="电费",
        amount=Decimal("900"))  # fmt: skip
    put(shared, catalog, "ent_industry", uscc, "2025-01-01", industry="C17 纺织业")

    public = reports.subject_report(shared, catalog, uscc.lower(), today=TODAY)
    assert public["identity"] | {"code": None} == {
        "code": None, "kind": "legal", "kind_label": "法人和其他组织",
        "name": "江阴华新纺织有限公司", "district": "320281", "registered": True,
        "industry": "C17 纺织业",
    }  # fmt: skip
    assert [c["class_code"] for c in public["classes"]] == ["ent_industry", "legal_arrears"]
    assert public["classes"][1]["labels"]["arrears_amount"] == "欠费金额"
    assert public["aggregates"] == [] and "beyond_publication" not in public["counts"]

    authorized = reports.subject_report(shared, catalog, uscc, include_authorized=True, today=TODAY)
    codes = [c["class_code"] for c in authorized["classes"]]
    assert codes == ["ent_industry", "legal_arrears", "legal_utility_payment"]
    # Found by its older organization code through the registry too.
    by_org = reports.subject_report(shared, catalog, uscc[8:17], today=TODAY)
    assert by_org["identity"]["code"] == uscc


def test_subject_index_and_its_fallback_give_the_same_records(
    shared: Store, store: Store, catalog: Catalog
) -> None:
    drop_index(store, catalog)  # the function-scoped store: the fallback path
    uscc = random_uscc(RNG)
    for target in (shared, store):
        put(target, catalog, "legal_arrears", uscc, "2025-03-01", record_key="a1",
            arrears_type="水费", arrears_amount=Decimal("120.50"), overdue_days=40,
            arrears_usage=12.25, arrears_end="2025-03-31")  # fmt: skip
        put(target, catalog, "legal_utility_payment", uscc, "2025-03-02", record_key="p1",
            prepaid=True, amount=Decimal("7"))  # fmt: skip
        put(target, catalog, "ent_admin_penalty", uscc, "2025-03-02", record_key="x1")
    wanted = [catalog.get(c) for c in ("legal_arrears", "legal_utility_payment", "ent_industry")]
    assert has_index(shared) and not has_index(store)
    indexed, scanned = (subject_records(s, uscc, wanted) for s in (shared, store))
    assert list(indexed) == ["legal_arrears", "legal_utility_payment"]
    assert indexed == scanned
    assert indexed["legal_arrears"][0]["arrears_end"] == dt.date(2025, 3, 31)
    # A store that holds records from before the index gets it at its next start, filled once.
    apply_ddl(store, catalog)
    assert backfill_index(store, catalog) == 0  # already filled by apply_ddl
    assert has_index(store) and subject_records(store, uscc, wanted) == indexed
    count = f"SELECT count() AS n FROM {store.database}.subject_index"
    indexed_rows = store.query(count)
    apply_ddl(store, catalog)  # the next start: no second backfill
    assert store.query(count) == indexed_rows == [{"n": 3}]


def test_penalty_past_its_publication_period_leaves_the_public_report(
    shared: Store, catalog: Catalog
) -> None:
    uscc = random_uscc(RNG)
    old = put(shared, catalog, "ent_admin_penalty", uscc, "2020-01-15", decision_no="罚2020-1",
              severity="严重")  # fmt: skip
    recent = put(shared, catalog, "ent_admin_penalty", uscc, "2024-12-01", decision_no="罚2024-9",
                 severity="一般")  # fmt: skip
    last_day = put(shared, catalog, "ent_admin_penalty", uscc, "2022-06-10", decision_no="罚2022-3",
                   severity="严重")  # fmt: skip
    general = put(shared, catalog, "ent_admin_penalty", uscc, "2024-06-09", decision_no="罚2024-2",
                  severity="一般")  # fmt: skip

    public = reports.subject_report(shared, catalog, uscc, today=TODAY)
    assert [r["record_key"] for r in public["classes"][0]["records"]] == [recent, last_day]
    full = reports.subject_report(shared, catalog, uscc, include_authorized=True, today=TODAY)
    records = {r["record_key"]: r for r in full["classes"][0]["records"]}
    assert set(records) == {old, recent, last_day, general}
    assert records[old]["beyond_publication"] and not records[last_day]["beyond_publication"]
    assert records[old]["published_until"] == dt.date(2023, 1, 15)
    assert records[last_day]["published_until"] == TODAY  # 严重: 36 months, the last day in
    assert records[general]["published_until"] == dt.date(2025, 6, 9)  # 一般: 12 months
    assert (records[recent]["severity"], records[recent]["repair_from"]) == (
        "一般",
        dt.date(2025, 3, 1),
    )
    assert full["counts"]["beyond_publication"] == 2
    tomorrow = reports.subject_report(shared, catalog, uscc, today=TODAY + dt.timedelta(days=1))
    assert [r["record_key"] for r in tomorrow["classes"][0]["records"]] == [recent]


def test_records_under_objection_are_withheld(shared: Store, catalog: Catalog) -> None:
    uscc = random_uscc(RNG)
    disputed = put(shared, catalog, "ent_punishment_list", uscc, "2025-05-01", doc_no="黑1")
    kept = put(shared, catalog, "ent_incentive_list", uscc, "2025-05-02")

    report = reports.subject_report(
        shared, catalog, uscc, withheld_record_keys=frozenset({disputed}), today=TODAY
    )
    keys = [r["record_key"] for c in report["classes"] for r in c["records"]]
    assert keys == [kept]
    assert report["counts"]["withheld"] == 1
    assert report["lists"]["on_black_list"] is False and report["lists"]["on_red_list"] is True
    listed = reports.subject_report(shared, catalog, uscc, today=TODAY)["lists"]
    assert listed["on_black_list"] and listed["black"][0]["class_code"] == "ent_punishment_list"


def test_natural_person_ids_never_leave_in_full(shared: Store, catalog: Catalog) -> None:
    person = random_citizen_id(RNG)
    register(shared, person, "natural", "王芳")
    put(shared, catalog, "person_punishment_list", person, "2025-02-01", id_no=person,
        person_name="王芳", name="王芳", remark=f"身份证 {person} 拒不履行")  # fmt: skip
    put(shared, catalog, "natural_arrears", person, "2025-02-01", id_no=person,
        arrears_type="燃气费", arrears_amount=Decimal("80"), overdue_days=100)  # fmt: skip

    report = reports.subject_report(shared, catalog, person, include_authorized=True, today=TODAY)
    text = json.dumps(report, ensure_ascii=False, default=str)
    assert person not in text
    assert report["identity"]["code"] == person[:6] + "********" + person[-4:]
    assert report["counts"]["classes"] == 2 and report["lists"]["on_black_list"]


def test_unknown_subject_is_not_found(shared: Store, catalog: Catalog) -> None:
    person = random_citizen_id(RNG)
    report = reports.subject_report(shared, catalog, person, today=TODAY)
    assert report == {"found": False, "code": person[:6] + "********" + person[-4:]}


def _arrears(store: Store, catalog: Catalog, subject: str, fee: str, amount: str,
             start: str, end: str, days: int = 0) -> None:  # fmt: skip
    code = "natural_arrears" if len(subject) == 18 and subject[:17].isdigit() else "legal_arrears"
    put(store, catalog, code, subject, start, district="320282", behaviour_end=end,
        arrears_type=fee, arrears_amount=Decimal(amount), overdue_days=days,
        arrears_start=start, arrears_end=end)  # fmt: skip


def test_risk_monitor_finds_arrears_across_utilities(shared: Store, catalog: Catalog) -> None:
    """Ranked from the figures: days overdue run to today, and a 补缴 payment settles a debt
    (its utility no longer counts), as the subject's report says."""
    many, one, person = (
        random_uscc(RNG, "320282"),
        random_uscc(RNG, "320282"),
        random_citizen_id(RNG, "320282"),
    )
    _arrears(shared, catalog, many, "水费", "100", "2025-01-01", "2025-01-31")  # 130 days
    _arrears(shared, catalog, many, "电费", "300.25", "2025-05-01", "2025-05-31")  # 10 days
    _arrears(shared, catalog, many, "燃气费", "50", "2025-02-01", "2025-02-28")  # 102 days
    _arrears(shared, catalog, many, "热力费", "80", "2025-02-01", "2025-02-28")
    put(shared, catalog, "legal_utility_payment", many, "2025-02-01", payment_type="热力费",
        period_start="2025-02-01", period_end="2025-02-28", amount=Decimal("80"),
        pay_date="2025-03-20")  # fmt: skip  # 补缴: the heating debt is paid
    _arrears(shared, catalog, one, "水费", "999", "2025-03-01", "2025-03-31", days=200)
    for fee in ("水费", "通信费"):  # 10 + 436 days
        _arrears(shared, catalog, person, fee, "10", "2024-01-01", "2024-03-31", days=10)
    put(
        shared, catalog, "ent_industry", many, "2025-01-01", industry="C26 化学原料和化学制品制造业"
    )
    register(shared, many, "legal", "江阴长江化工有限公司")
    FigureKeeper(shared, catalog, today=lambda: TODAY).refresh([many, one, person], "test")

    rows = risk.risk_monitor(shared, district="32028")
    assert [r["subject_id"] for r in rows][:1] == [many]
    top = rows[0]
    assert (top["utilities"], top["utility_types"]) == (3, ["水费", "燃气费", "电费"])
    assert (top["arrears_amount"], top["long_overdue_amount"]) == (450.25, 150.0)
    assert (top["max_days_overdue"], top["industry"]) == (130, "C26 化学原料和化学制品制造业")
    assert (top["name"], top["kind"], top["arrears_since"]) == (
        "江阴长江化工有限公司", "legal", dt.date(2025, 1, 1))  # from the registry  # fmt: skip
    unregistered = next(r for r in rows if r["kind"] == "natural")
    assert (unregistered["name"], unregistered["district"]) == ("江阴某某有限公司", "320282")
    assert unregistered["max_days_overdue"] == 446
    assert {r["subject_id"] for r in rows} == {many, person[:6] + "********" + person[-4:]}
    assert [
        r["subject_id"] for r in risk.risk_monitor(shared, district="320282", industry="化学")
    ] == [many]
    assert risk.risk_monitor(shared, district="320282", min_days_overdue=500) == []
    recent = risk.risk_monitor(shared, district="320282", since=dt.date(2024, 6, 1))
    assert [r["subject_id"] for r in recent] == [many]
    one_utility = risk.risk_monitor(shared, district="320282", min_utilities=1, limit=10)
    assert one in {r["subject_id"] for r in one_utility}
    listed = risk.risk_list(shared, 10, district="320282")
    assert [(r["subject_id"], r["utilities"], r["arrears_amount"]) for r in listed][:1] == [
        (many, 3, 450.25)]  # fmt: skip
    report = reports.subject_report(shared, catalog, many, include_authorized=True, today=TODAY)
    owed = {a["kind"]: a["arrears_amount"] for a in report["aggregates"] if a["arrears_flag"]}
    assert owed == {"water": 100.0, "power": 300.25, "gas": 50.0}  # heat: settled


def test_new_blacklist_entries_since_a_date(shared: Store, catalog: Catalog) -> None:
    company, person = random_uscc(RNG), random_citizen_id(RNG)
    since = dt.date(2031, 1, 1)  # far ahead, so other tests' listings stay out
    put(shared, catalog, "ent_punishment_list", company, "2030-12-31")
    new = put(shared, catalog, "ent_dishonest_debtor", company, "2031-02-01")
    put(shared, catalog, "person_punishment_list", person, "2031-01-05", name="李强")
    put(shared, catalog, "ent_incentive_list", company, "2031-03-01")  # a red list: not news here

    rows = reports.new_blacklist_entries(shared, catalog, since)
    assert [(r["class_code"], r["event_date"]) for r in rows] == [
        ("ent_dishonest_debtor", dt.date(2031, 2, 1)),
        ("person_punishment_list", dt.date(2031, 1, 5)),
    ]
    assert rows[0]["class_name"] == "失信被执行人信息"
    newest = reports.new_blacklist_entries(shared, catalog, since, limit=1)  # across classes
    assert [(r["class_code"], r["event_date"]) for r in newest] == [
        ("ent_dishonest_debtor", dt.date(2031, 2, 1))]  # fmt: skip
    assert person not in json.dumps(rows, default=str)
    withheld = reports.new_blacklist_entries(
        shared, catalog, since, withheld_record_keys=frozenset({new})
    )
    assert [r["class_code"] for r in withheld] == ["person_punishment_list"]


def test_collection_stats_counts_rates_and_lateness(store: Store, catalog: Catalog) -> None:
    def upload(uid: str, provider: str, code: str, received: int, at: dt.datetime,
               department: str = "") -> None:  # fmt: skip
        store.insert("uploads", [[uid, code, provider, "file", "x.xlsx", received, received, 0, at, at,
                                  department, "", None, None]], UPLOAD_COLUMNS)  # fmt: skip
        outcomes: list[list[Any]] = [
            [uid, f"r{i}", code, provider, "legal", "stored" if i < received - 1 else "rejected",
             f"k{i}", [], at, at]
            for i in range(received)
        ]  # fmt: skip
        store.insert("outcomes", outcomes, OUTCOME_COLUMNS)

    upload("u1", "供水公司", "legal_arrears", 40, dt.datetime(2025, 6, 3, 8, 0))  # monthly, on time
    upload(
        "u2", "供电公司", "legal_arrears", 10, dt.datetime(2025, 5, 20, 8, 0)
    )  # only May's own days
    upload("u3", "交通运输局", "logistics_freight", 5, dt.datetime(2025, 4, 2, 8, 0))  # quarterly
    rows = reports.collection_stats(store, catalog, dt.date(2025, 6, 24))
    got = {(r["department"], r["class_code"]): r for r in rows}
    water = got[("供水公司", "legal_arrears")]
    assert (water["received"], water["stored"], water["rejected"], water["pending"]) == (
        40,
        39,
        1,
        0,
    )
    assert water["valid_rate"] == 0.975 and water["valid_full_marks"] is True
    assert (water["cycle"], water["due_day"], water["late"]) == ("monthly", 23, False)
    assert water["next_due"] == dt.date(2025, 7, 23) and water["last_arrival"] == dt.date(
        2025, 6, 3
    )
    power = got[("供电公司", "legal_arrears")]
    assert power["late"] is True and power["valid_rate"] == 0.9 and not power["valid_full_marks"]
    assert got[("交通运输局", "logistics_freight")]["late"] is False
    missing = reports.collection_stats(store, catalog, dt.date(2025, 6, 24), include_missing=True)
    never = {(r["department"], r["class_code"]): r for r in missing}[("燃气公司", "legal_arrears")]
    assert never["received"] == 0 and never["late"] is True and never["last_arrival"] is None
    # every catalog department × class is listed: the silent ones are late
    listed = {(r["department"], r["class_code"]) for r in missing}
    assert {(p, c.code) for c in catalog for p in c.providers} <= listed
    # one department's calendar: exactly its rows of the whole, judged the same
    water_only = reports.collection_stats(store, catalog, dt.date(2025, 6, 24),
                                          include_missing=True, department="供水公司")  # fmt: skip
    assert water_only == [r for r in missing if r["department"] == "供水公司"] != []


def test_collection_stats_count_an_organization_under_its_catalog_department(
    store: Store, catalog: Catalog
) -> None:
    """A water company uploads as 供水公司: its rows count for that department, which is then
    no longer silent."""
    at = dt.datetime(2025, 6, 3, 8, 0)
    org = "江阴市水务集团有限公司"
    store.insert("uploads", [["u9", "legal_arrears", org, "file", "x.xlsx", 3, 3, 0, at, at,
                              "供水公司", "", None, None]], UPLOAD_COLUMNS)  # fmt: skip
    store.insert("outcomes", [["u9", f"r{i}", "legal_arrears", org, "legal", "stored", f"k{i}",
                               [], at, at] for i in range(3)], OUTCOME_COLUMNS)  # fmt: skip
    rows = reports.collection_stats(store, catalog, dt.date(2025, 6, 24), include_missing=True)
    water = [
        r for r in rows if r["class_code"] == "legal_arrears" and r["department"] == "供水公司"
    ]
    assert len(water) == 1 and (water[0]["received"], water[0]["stored"]) == (3, 3)
    assert water[0]["providers"] == [org] and water[0]["late"] is False
    assert not [r for r in rows if r["department"] == org]


def test_census_totals_in_wan(store: Store, catalog: Catalog) -> None:
    cls = catalog.get("legal_arrears")
    columns = ClassRows(cls).columns
    batch = [
        record_row(catalog, cls.code, f"S{i % 7}", "2025-01-01", record_key=f"k{i}")[1]
        for i in range(12_345)
    ]
    store.insert(cls.table, batch, columns)
    store.insert(cls.table, batch[:100], columns)  # a re-send counts once
    person = random_citizen_id(RNG)
    put(store, catalog, "natural_arrears", person, "2025-01-01")
    register(store, person, "natural", "张伟")

    result = reports.census(store, catalog)
    assert result["total"] == {"records": 12_346, "wan": 1.23}
    assert result["legal"] == {"records": 12_345, "wan": 1.23}
    assert result["natural"] == {"records": 1, "wan": 0.0}
    # distinct subjects with a stored record: 7 enterprises (S0..S6) and the person — the
    # registry alone knows only enterprises
    assert result["subjects"] == {"natural": 1, "legal": 7}
    ratio = result["collection_ratio"]
    assert (ratio["classes_reporting"], ratio["classes_in_catalog"]) == (2, len(catalog.classes))
    assert result["classes"][0] | {"name": None} == {
        "class_code": "legal_arrears", "name": None, "subject_kind": "legal", "records": 12_345, "wan": 1.23,
    }  # fmt: skip
