"""The report routes over HTTP (aiohttp's test server on the chDB store) and the CLI on them."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook

from base.metrics import create_metrics
from credit.api.app import ApiContext
from credit.api.reports import add_report_routes
from credit.cli import main as credit_main
from schemas.catalog import Catalog
from schemas.codes import random_uscc
from sinks.ddl.upgrade import apply_ddl
from sinks.store import Store, open_embedded
from sinks.write.figures import FigureKeeper
from sinks.write.rows import ClassRows

pytestmark = pytest.mark.integration

RNG = random.Random(11)
NOW = dt.datetime(2025, 6, 10, 9, 0, tzinfo=dt.UTC)


def _put(store: Store, catalog: Catalog, code: str, subject: str, key: str, **fields: Any) -> None:
    cls = catalog.get(code)
    meta = {
        "record_key": key, "version": 1, "subject_id": subject, "subject_kind": cls.subject_kind,
        "subject_name": "江阴测试有限公司", "district": "320281", "name_mismatch": 0,
        "code_flag": "", "event_date": "2025-05-01", "behaviour_end": "2025-05-01",
        "ingest_provider": "供水公司", "ingest_channel": "api", "ingest_upload_id": "u",
        "ingest_row": 1, "ingest_source_key": key, "ingest_received_at": int(NOW.timestamp() * 1000),
    }  # fmt: skip
    rows = ClassRows(cls)
    store.insert(cls.table, [rows.row({**fields, **meta}, NOW)], rows.columns)


@pytest.fixture(scope="module")
def data(chdb_path: Path, catalog: Catalog) -> Iterator[tuple[Store, str]]:
    store = open_embedded(chdb_path, f"t_api_{RNG.getrandbits(32):08x}")
    apply_ddl(store, catalog)
    company = random_uscc(RNG)
    for n, fee in enumerate(("水费", "电费")):
        _put(store, catalog, "legal_arrears", company, f"a{n}", arrears_type=fee,
             arrears_amount=Decimal("10"), overdue_days=5, arrears_start="2025-04-01",
             arrears_end="2025-04-30", account_no=f"W{n}")  # fmt: skip
    FigureKeeper(store, catalog).refresh([company], "test")  # as the sink does after a batch
    _put(store, catalog, "ent_punishment_list", company, "black-1")
    _put(store, catalog, "ent_incentive_list", company, "red-1")
    yield store, company
    store.command(f"DROP DATABASE IF EXISTS {store.database}")


Call = Callable[[TestClient[Any, Any]], Awaitable[None]]


async def wide(request: web.Request, _code: str) -> bool:
    """Stands in for governance: `X-Test-Authorized: 1` may see authorized-only classes."""
    return request.headers.get("X-Test-Authorized") == "1"


def serve(store: Store, catalog: Catalog, scenario: Call) -> None:
    """Run `scenario` against an app with only the report routes, on a free port."""

    async def go() -> None:
        app = web.Application()
        ctx = ApiContext(store, catalog, create_metrics(), lambda: {"ready": True})
        add_report_routes(app, ctx, withheld=lambda _store: frozenset({"red-1"}), authorized=wide)
        async with TestClient(TestServer(app)) as client:
            await scenario(client)

    asyncio.run(go())


def test_report_routes_answer_json(data: tuple[Store, str], catalog: Catalog) -> None:
    store, company = data

    async def scenario(client: TestClient[Any, Any]) -> None:
        resp = await client.get(f"/api/subjects/{company}")
        report = await resp.json()
        assert resp.status == 200 and report["identity"]["code"] == company
        assert report["lists"]["on_black_list"] and not report["lists"]["on_red_list"]  # withheld
        assert (await client.get("/api/subjects/91320281MA00000000")).status == 404
        resp = await client.get(f"/api/subjects/{company}", headers={"X-Test-Authorized": "1"})
        assert (await resp.json())["scope"] == "authorized" and report["scope"] == "public"

        resp = await client.get(
            "/api/risk/monitor", params={"district": "3202", "min_utilities": "2"}
        )
        assert [s["subject_id"] for s in (await resp.json())["subjects"]] == [company]
        resp = await client.get("/api/blacklist/new", params={"since": "2025-04-01"})
        assert [e["record_key"] for e in (await resp.json())["entries"]] == ["black-1"]
        resp = await client.get("/api/stats/collection", params={"today": "2025-06-24"})
        stats = await resp.json()  # nobody delivered through a ledger: every department silent
        assert stats["rows"] and all(r["late"] and r["received"] == 0 for r in stats["rows"])
        units = [r for r in stats["rows"] if r["level"] != "rollup"]
        assert stats["late"] == len(units) and len(units) < len(stats["rows"])  # + 合计 rows
        resp = await client.get("/api/stats/collection",
                                params={"today": "2025-06-24", "include_missing": "false"})  # fmt: skip
        assert (await resp.json())["rows"] == []
        census = await (await client.get("/api/stats/census")).json()
        assert census["total"] == {"records": 4, "wan": 0.0}

    serve(store, catalog, scenario)


def test_the_risk_list_filters_by_utility_and_amount_and_exports_csv_and_excel(
    data: tuple[Store, str], catalog: Catalog, tmp_path: Path
) -> None:
    store, company = data

    async def found(client: TestClient[Any, Any], **params: str) -> list[str]:
        resp = await client.get("/api/risk/monitor", params={"min_utilities": "1", **params})
        assert resp.status == 200, await resp.text()
        return [s["subject_id"] for s in (await resp.json())["subjects"]]

    async def scenario(client: TestClient[Any, Any]) -> None:
        assert await found(client, utility="water") == [company]
        assert await found(client, utility="水费") == [company]  # the label works as well
        assert await found(client, utility="gas") == []
        assert await found(client, min_amount="20") == [company]  # 10 + 10 owed
        assert await found(client, min_amount="21") == []
        assert await found(client, min_days_overdue="99999") == []  # days since 2025-04
        resp = await client.get("/api/risk/monitor", params={"utility": "oil"})
        assert resp.status == 400 and "utility" in (await resp.json())["error"]
        resp = await client.get("/api/risk/monitor", params={"format": "pdf"})
        assert resp.status == 400
        resp = await client.get("/api/risk/monitor", params={"format": "csv", "utility": "电费"})
        assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
        lines = (await resp.read()).decode("utf-8-sig").splitlines()
        assert lines[0].startswith("主体代码,主体类别,名称") and len(lines) == 2
        assert lines[1].startswith(company) and "水费、电费" in lines[1]
        resp = await client.get("/api/risk/monitor", params={"format": "xlsx"})
        (tmp_path / "risk.xlsx").write_bytes(await resp.read())
        sheet = load_workbook(tmp_path / "risk.xlsx").active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == "主体代码" and rows[1][0] == company and rows[1][7] == 20

    serve(store, catalog, scenario)


def test_collection_history_counts_decided_rows_per_month_department_and_class(
    data: tuple[Store, str], catalog: Catalog
) -> None:
    store, _ = data
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    store.insert("uploads", [["h-1", "legal_arrears", "水务集团", "file", "a.csv", 3, 2, 1, now,
                              now, "供水公司", "", None, None]],
                 ["upload_id", "class_code", "provider", "channel", "source_name", "received",
                  "sent", "rejected", "started_at", "finished_at", "department", "district",
                  "period_start", "period_end"])  # fmt: skip
    cols = ["upload_id", "row_key", "class_code", "provider", "subject_kind", "outcome",
            "record_key", "reason_codes", "received_at", "decided_at"]  # fmt: skip
    rows = [["h-1", str(n), "legal_arrears", "水务集团", "legal", outcome, f"k{n}", [], now, now]
            for n, outcome in enumerate(("stored", "stored", "rejected"))]  # fmt: skip
    store.insert("outcomes", rows, cols)
    try:

        async def scenario(client: TestClient[Any, Any]) -> None:
            answer = await (await client.get("/api/stats/history", params={"months": "3"})).json()
            month = now.date().replace(day=1).isoformat()
            assert answer["rows"] == [{"month": month, "department": "供水公司",
                                       "class_code": "legal_arrears", "stored": 2,
                                       "rejected": 1}]  # fmt: skip
            resp = await client.get("/api/stats/history", params={"department": "供电公司"})
            assert (await resp.json())["rows"] == []
            assert (await client.get("/api/stats/history?months=0")).status == 400

        serve(store, catalog, scenario)
    finally:
        store.command(f"TRUNCATE TABLE {store.database}.outcomes")
        store.command(f"TRUNCATE TABLE {store.database}.uploads")


def test_bad_requests_answer_400_with_a_reason(data: tuple[Store, str], catalog: Catalog) -> None:
    store, _ = data

    async def scenario(client: TestClient[Any, Any]) -> None:
        for method, path, body in [
            ("GET", "/api/risk/monitor?since=yesterday", None),
            ("GET", "/api/risk/monitor?min_utilities=x", None),
            ("GET", "/api/blacklist/new?since=2025-13-01", None),
        ]:
            resp = await client.request(method, path, json=body)
            assert resp.status == 400, path
            assert (await resp.json())["error"]

    serve(store, catalog, scenario)


def test_cli_prints_reports_as_tables_and_json(
    data: tuple[Store, str],
    catalog: Catalog,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, company = data
    outputs: dict[str, str] = {}

    async def scenario(client: TestClient[Any, Any]) -> None:
        monkeypatch.setenv("CREDIT_API_URL", str(client.make_url("/")))
        loop = asyncio.get_running_loop()
        for name, argv in {
            "census": ["query", "census"],
            "subject": ["query", "subject", company],
        }.items():
            code = await loop.run_in_executor(None, credit_main, argv)
            outputs[name] = f"{code}\n{capsys.readouterr().out}"

    serve(store, catalog, scenario)
    assert "法人和其他组织数据总量 (万条)" in outputs["census"] and outputs["census"].startswith(
        "0"
    )
    assert (
        "江阴测试有限公司" in outputs["subject"]
        and "black list: 社会法人失信惩戒对象名单信息" in outputs["subject"]
    )
