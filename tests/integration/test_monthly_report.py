"""The monthly statistics report on the real chDB store (issue 24 item 3): the records of a
month as of its end, deduplicated, natural vs legal, per class and department, and the
归集比例 — what had reached the provincial platform by then — with seed 003's alarm level;
the same figures for a past month whatever arrived since; Excel from the API."""

from __future__ import annotations

import datetime as dt
import io
import random
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from base.metrics import create_metrics
from credit.api.app import ApiContext
from credit.api.reports import add_report_routes
from credit.cli.report_views import format_monthly
from schemas.catalog import Catalog
from schemas.codes import random_citizen_id, random_uscc
from sinks.read import outbound
from sinks.read.monthly import alarm, monthly_report
from sinks.store import Store
from tests.integration.test_governance import insert, shared_store, store

__all__ = ["shared_store", "store"]
pytestmark = pytest.mark.integration

RNG = random.Random(24)
BJ = dt.timezone(dt.timedelta(hours=8))
OCT = dt.datetime(2026, 10, 20, 10, 0, tzinfo=BJ)
LAST_OCT = dt.datetime(2026, 10, 31, 23, 59, tzinfo=BJ)  # still October in Beijing
NOV = dt.datetime(2026, 11, 1, 0, 30, tzinfo=BJ)  # already November (16:30 UTC on Oct 31)


def _plant(store: Store, catalog: Catalog) -> None:
    arrears, person = catalog.get("legal_arrears"), catalog.get("natural_arrears")
    store.insert("uploads", [["up-water", "legal_arrears", "江阴市水务集团有限公司", "api", "",
                              3, 3, 0, OCT, OCT, "供水公司", "", None, None]],
                 ["upload_id", "class_code", "provider", "channel", "source_name", "received",
                  "sent", "rejected", "started_at", "finished_at", "department", "district",
                  "period_start", "period_end"])  # fmt: skip
    for i in range(3):
        insert(store, arrears, random_uscc(RNG), f"oct-{i}", stored=OCT, upload="up-water")
    insert(store, arrears, random_uscc(RNG), "oct-late", stored=LAST_OCT, upload="up-water")
    insert(store, arrears, random_uscc(RNG), "oct-0", version=2, stored=NOV, upload="up-water")
    insert(store, person, random_citizen_id(RNG), "nov-p", stored=NOV, provider="供电公司")


def _ack(store: Store, target: str, key: str, code: str, at: dt.datetime) -> None:
    outbound.save_ledger(store, [{"target": target, "delivery_id": f"d-{key}",
                                  "class_code": code, "record_key": key, "record_version": 1,
                                  "subject_id": "x", "action": "upsert", "seq": 0,
                                  "state": "acked", "attempts": 1, "last_error": "",
                                  "queued_at": at, "acked_at": at}])  # fmt: skip


def test_a_month_is_counted_as_of_its_end_and_stays_so(store: Store, catalog: Catalog) -> None:
    _plant(store, catalog)
    outbound.save_target(store, catalog, {"name": "province", "address": "http://p/x",
                                          "format": "province"}, "admin")  # fmt: skip
    for key in ("oct-0", "oct-1", "oct-2"):
        _ack(store, "province", key, "legal_arrears", OCT + dt.timedelta(days=1))
    _ack(store, "province", "oct-late", "legal_arrears", NOV + dt.timedelta(days=2))

    october = monthly_report(store, catalog, "2026-10")
    assert october["total"] == {"records": 4, "wan": 0.0} and october["natural"]["records"] == 0
    assert [(c["class_code"], c["records"], c["pushed"]) for c in october["classes"]] == [
        ("legal_arrears", 4, 3)]  # fmt: skip
    assert october["departments"] == [{"department": "供水公司", "records": 4, "wan": 0.0}]
    ratio = october["collection_ratio"]
    assert (ratio["target"], ratio["ratio"], ratio["level"]) == ("province", 0.75, "低于80%")
    printed = format_monthly(october)  # `credit query monthly --month 2026-10`
    assert "75.0%" in printed and "暂缓受理示范创建城市申报" in printed and "供水公司" in printed

    november = monthly_report(store, catalog, "2026-11")
    assert (november["total"]["records"], november["natural"]["records"]) == (5, 1)  # oct-0 once
    assert november["collection_ratio"]["ratio"] == 0.8  # oct-late acked in November
    assert {d["department"] for d in november["departments"]} == {"供水公司", "供电公司"}
    insert(
        store,
        catalog.get("legal_arrears"),
        random_uscc(RNG),
        "dec",
        stored=NOV + dt.timedelta(days=40),
    )
    assert monthly_report(store, catalog, "2026-10") == october  # reproducible


def test_the_alarm_levels_are_seed_003s() -> None:
    assert alarm(0.59)["level"] == "低于60%" and "调减" in alarm(0.59)["consequence"]
    assert alarm(0.79)["level"] == "低于80%" and "暂缓" in alarm(0.79)["consequence"]
    assert alarm(0.89)["level"] == "低于90%" and alarm(0.9)["level"].startswith("达标")
    assert alarm(None, None)["level"] == "无推送目标"


def test_the_office_downloads_the_month_as_excel(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    _plant(store, catalog)
    app = web.Application()
    add_report_routes(app, ApiContext(store, catalog, create_metrics(), dict))

    async def main() -> tuple[Any, ...]:
        async with TestClient(TestServer(app)) as client:
            bad = await client.get("/api/stats/monthly?month=2026-13")
            xlsx = await client.get("/api/stats/monthly?month=2026-11&format=xlsx")
            return bad.status, xlsx.status, await xlsx.read()

    import asyncio

    bad, status, body = asyncio.run(main())
    assert bad == 400 and status == 200
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows[0][:4] == ["分组", "名称", "代码", "条数"]
    assert rows[1][0] == "合计" and rows[1][3] == 5 and rows[1][7] == "无推送目标"
    assert ["报送部门", "供水公司"] in [r[:2] for r in rows]
