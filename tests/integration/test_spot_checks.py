"""Spot checks (抽查, seed 003: 虚报、误报、漏报) on the real chDB store behind the real access
middleware: the office samples one department's records of a class, reviewers judge each,
the check closes with the omissions found and its accuracy; other roles are refused."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from aiohttp import web

from base.metrics import create_metrics
from credit.api.access import DEFAULT_RULES, AccessStore, access_middleware
from credit.api.app import ApiContext
from credit.api.spot_checks import add_spot_check_routes
from producers.apikeys import ApiKeyStore
from schemas.catalog import Catalog
from schemas.codes import random_uscc
from sinks.exceptions import GovernanceError, NotFoundError, StageError
from sinks.read import spot_checks as sc
from sinks.store import Store
from tests.integration.test_governance import Api, Clock, insert, serve, shared_store, store

__all__ = ["shared_store", "store"]
pytestmark = pytest.mark.integration
RNG = random.Random(245)
NOW = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)


def _uploads(store: Store) -> None:
    rows = [[u, "legal_arrears", p, "api", "", 1, 1, 0, NOW, NOW, d, "", None, None]
            for u, p, d in (("up-w", "江阴市水务集团有限公司", "供水公司"),
                            ("up-p", "江阴供电公司", "供电公司"))]  # fmt: skip
    store.insert("uploads", rows, ["upload_id", "class_code", "provider", "channel",
                                   "source_name", "received", "sent", "rejected", "started_at",
                                   "finished_at", "department", "district", "period_start",
                                   "period_end"])  # fmt: skip


def test_a_sample_is_drawn_judged_and_closed(store: Store, catalog: Catalog) -> None:
    _uploads(store)
    arrears = catalog.get("legal_arrears")
    for i in range(30):
        insert(store, arrears, random_uscc(RNG), f"w-{i}", upload="up-w")
    for i in range(5):
        insert(store, arrears, random_uscc(RNG), f"p-{i}", upload="up-p", provider="供电公司")
    check = sc.new_check(store, catalog, "供水公司", "legal_arrears", 10, "信用办")
    keys = [i["record_key"] for i in check["items"]]
    assert len(keys) == 10 and all(k.startswith("w-") for k in keys)  # the department's only
    assert sc.get_check(store, check["check_id"])["items"] == check["items"]  # the same sample
    other = sc.new_check(store, catalog, "供水公司", "legal_arrears", 10, "信用办")
    assert {i["record_key"] for i in other["items"]} != set(keys)  # another seed, another draw
    with pytest.raises(StageError, match="not judged yet"):
        sc.close_check(store, check["check_id"], 0, "", "审核员")
    with pytest.raises(GovernanceError, match="needs a note"):
        sc.judge(store, check["check_id"], keys[0], "虚报", "", "审核员")
    for n, key in enumerate(keys):
        verdict, note = (
            ("虚报", "该户无欠费")
            if n == 0
            else ("误报", "金额应为 80")
            if n == 1
            else ("准确", "")
        )
        sc.judge(store, check["check_id"], key, verdict, note, "审核员")
    closed = sc.close_check(store, check["check_id"], 2, "台账另有 2 户未报送", "审核员")
    assert closed["closed"] and closed["omissions"] == 2
    assert closed["verdicts"] == {"准确": 8, "误报": 1, "虚报": 1} and closed["accuracy"] == 0.8
    with pytest.raises(StageError, match="closed"):
        sc.judge(store, check["check_id"], keys[0], "准确", "", "审核员")
    with pytest.raises(NotFoundError, match="no stored"):
        sc.new_check(store, catalog, "燃气公司", "legal_arrears", 10, "信用办")
    listed = sc.list_checks(store, "供水公司")
    assert {c["check_id"] for c in listed} == {check["check_id"], other["check_id"]}


def test_only_the_credit_office_runs_spot_checks(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    _uploads(store)
    insert(store, catalog.get("legal_arrears"), random_uscc(RNG), "w-1", upload="up-w")
    users = AccessStore(tmp_path / "access.json")
    tokens = {"admin": users.issue("admin", "信用办"), "bank": users.issue("bank", "经理", "某银行"),
              "provider": ApiKeyStore(tmp_path / "api-keys.json").issue(catalog, "水务", "供水公司")}  # fmt: skip
    app = web.Application(middlewares=[access_middleware(
        users, ApiKeyStore(tmp_path / "api-keys.json"), DEFAULT_RULES)])  # fmt: skip
    add_spot_check_routes(
        app, ApiContext(store, catalog, create_metrics(), dict), Clock(NOW.date())
    )

    async def body(api: Api) -> None:
        new = {"department": "供水公司", "class_code": "legal_arrears", "size": 5}
        for who in ("bank", "provider"):
            assert (await api("POST", "/api/spotchecks", who, json=new))[0] == 403
        status, check = await api("POST", "/api/spotchecks", "admin", json=new)
        assert status == 201 and len(check["items"]) == 1
        path = f"/api/spotchecks/{check['check_id']}"
        status, bad = await api("POST", path + "/judge", "admin",
                                json={"record_key": "w-1", "verdict": "很好"})  # fmt: skip
        assert status == 400 and "verdict" in bad["message"]
        status, _ = await api("POST", path + "/judge", "admin",
                              json={"record_key": "w-1", "verdict": "准确"})  # fmt: skip
        assert status == 200
        status, closed = await api("POST", path + "/close", "admin", json={"omissions": 0})
        assert status == 200 and closed["accuracy"] == 1.0
        status, _ = await api("GET", "/api/spotchecks/chk-none", "admin")
        assert status == 404

    serve(app, tokens, body)
