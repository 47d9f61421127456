"""Red and black lists in use and verification, on the real chDB store behind the real access
middleware: the public notice (no token) shows current entries with only their published
fields and follows objections, repairs and the calendar; the 联合奖惩 look-up answers
departments with the measures; 数据核验 answers yes/no or a band, figures only under
authorization; every look-up and answer is in the usage log."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from credit.api.access import DEFAULT_RULES, AccessStore, access_middleware
from credit.api.lists import add_list_routes
from credit.api.verify import add_verify_route
from producers.apikeys import ApiKeyStore
from schemas.catalog import Catalog
from schemas.codes import random_citizen_id, random_uscc
from schemas.exceptions import CatalogError
from schemas.list_rules import default_list_rules, load_list_rules
from sinks.read import governance as gov
from sinks.read import repairs
from sinks.store import Store
from tests.integration.test_governance import Api, Clock, insert, serve, shared_store, store

__all__ = ["shared_store", "store"]  # the governance tests' store fixtures

pytestmark = pytest.mark.integration

RNG = random.Random(23)
ENT, OLD_ENT, GOOD_ENT, GONE_ENT = (random_uscc(RNG) for _ in range(4))
PERSON = random_citizen_id(RNG)
REP_ID = random_citizen_id(RNG)  # a legal representative's ID: never published
TODAY = dt.date(2026, 11, 20)


def test_the_list_rules_name_every_list_and_only_fields_that_exist(
    catalog: Catalog, tmp_path: Path
) -> None:
    rules = default_list_rules()
    assert set(rules.published) == {c.code for c in catalog if c.list_kind}
    assert "legal_rep_id_no" not in rules.published["ent_punishment_list"]
    assert {m.area for m in rules.measures["black"]} >= {"政府采购", "招标投标", "项目审批"}
    bad = tmp_path / "lists.yaml"
    text = (Path("schemas/catalog/lists.yaml")).read_text(encoding="utf-8")
    bad.write_text(text.replace("[org_name, uscc, listed_reason", "[org_nam, uscc, listed_reason"))
    with pytest.raises(CatalogError, match=r"ent_serious_violation_list: no fields \['org_nam'\]"):
        load_list_rules(catalog, bad)
    bad.write_text(text.replace("  safety_dishonest:", "  not_safety:"))
    with pytest.raises(CatalogError, match="without a public notice: \\['safety_dishonest'\\]"):
        load_list_rules(catalog, bad)


@pytest.fixture()
def lists_world(store: Store, catalog: Catalog, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Black: ENT (2026-06), OLD_ENT (2025-06), a person; red: GOOD_ENT until 2026-12-31, an
    expired red entry and a serious-violation entry removed on 2026-10-01."""
    black, red = catalog.get("ent_punishment_list"), catalog.get("ent_incentive_list")
    insert(store, black, ENT, "b-ent", event=dt.date(2026, 6, 1), org_name="黑名单企业",
           facts="拒不履行", legal_rep_id_no=REP_ID, confirmed_date=dt.date(2026, 6, 1))  # fmt: skip
    insert(store, black, OLD_ENT, "b-old", event=dt.date(2025, 6, 1), org_name="旧黑名单企业",
           confirmed_date=dt.date(2025, 6, 1))  # fmt: skip
    insert(store, catalog.get("person_punishment_list"), PERSON, "b-person",
           event=dt.date(2026, 5, 1), person_name="失信某人", id_no=PERSON, id_type="居民身份证",
           facts=f"证件 {PERSON} 的持有人拒不履行")  # fmt: skip
    insert(store, red, GOOD_ENT, "r-good", event=dt.date(2026, 3, 1), org_name="守信企业",
           publish_until=dt.date(2026, 12, 31))  # fmt: skip
    insert(store, red, GONE_ENT, "r-gone", event=dt.date(2025, 3, 1), org_name="过期红名单企业",
           publish_until=dt.date(2026, 11, 1))  # fmt: skip
    insert(store, catalog.get("ent_serious_violation_list"), GONE_ENT, "s-removed",
           event=dt.date(2025, 1, 1), removed_date=dt.date(2026, 10, 1))  # fmt: skip
    users = AccessStore(tmp_path / "access.json")
    tokens = {"admin": users.issue("admin", "管理员"), "bank": users.issue("bank", "经理", "某银行"),
              "department": ApiKeyStore(tmp_path / "api-keys.json").issue(
                  catalog, "江阴市发展和改革委员会", "市级各部门")}  # fmt: skip
    yield {"tokens": tokens, "data_dir": tmp_path}


def _app(store: Store, catalog: Catalog, data_dir: Path, clock: Clock) -> web.Application:
    from base.metrics import create_metrics
    from credit.api.app import ApiContext

    users, keys = AccessStore(data_dir / "access.json"), ApiKeyStore(data_dir / "api-keys.json")
    app = web.Application(middlewares=[access_middleware(users, keys, DEFAULT_RULES)])
    ctx = ApiContext(store, catalog, create_metrics(), lambda: {"ready": True})
    add_list_routes(app, ctx, clock)
    add_verify_route(app, ctx, clock)
    return app


def _keys(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["list"], e["subject"]) for e in answer["entries"]]


def test_the_public_notice_shows_current_entries_and_follows_their_fate(
    store: Store, catalog: Catalog, lists_world: dict[str, Any]
) -> None:
    clock = Clock(TODAY)
    app = _app(store, catalog, lists_world["data_dir"], clock)

    async def body(api: Api) -> None:
        status, answer = await api("GET", "/api/public/lists")  # no token: it is public
        assert status == 200 and answer["total"] == 4
        person = answer["entries"][1]["subject"]
        assert _keys(answer) == [("black", ENT), ("black", person), ("red", GOOD_ENT),
                                 ("black", OLD_ENT)]  # fmt: skip
        text = json.dumps(answer, ensure_ascii=False)
        assert PERSON not in text and REP_ID not in text  # masked / never published
        assert person.startswith(PERSON[:6]) and "*" in person
        ent = answer["entries"][0]
        assert ent["subject"] == ENT and ent["until"] == "2029-06-01"  # 严重: 3 years
        assert {f["label"] for f in ent["fields"]} >= {"违法失信行为事实", "机构全称（中文）"}
        assert (await api("GET", "/api/public/lists?kind=red"))[1]["total"] == 1
        assert (await api("GET", "/api/public/lists?q=测试"))[1]["total"] == 4  # by name
        assert (await api("GET", "/api/public/lists?q=无此名称"))[1]["total"] == 0
        paged = (await api("GET", "/api/public/lists?limit=2&offset=1"))[1]
        assert paged["total"] == 4 and _keys(paged) == _keys(answer)[1:3]
        for bad in ("kind=grey", "limit=0", "limit=x", "offset=-1"):
            assert (await api("GET", f"/api/public/lists?{bad}"))[0] == 400, bad

        black = catalog.get("ent_punishment_list")  # an objection withholds it at once
        gov.file_objection(store, black, "b-ent", gov.Reader("subject", "某企业", ENT), "有误",
                           TODAY)  # fmt: skip
        assert ENT not in {n for _, n in _keys((await api("GET", "/api/public/lists"))[1])}
        applied = repairs.apply_repair(store, black, "b-old", gov.Reader("subject", "旧", OLD_ENT),
                                       "已整改", TODAY)  # fmt: skip
        repairs.decide_repair(store, applied["repair_id"], "approve", "整改到位", "信用办", TODAY)
        names = {n for _, n in _keys((await api("GET", "/api/public/lists"))[1])}
        assert names == {person, GOOD_ENT}  # repaired: out of the notice
        clock.today = dt.date(2027, 1, 1)  # the red entry's own end has passed
        assert _keys((await api("GET", "/api/public/lists"))[1]) == [("black", person)]
        clock.today = dt.date(2029, 5, 2)  # and the person's three years
        assert (await api("GET", "/api/public/lists"))[1]["total"] == 0

    serve(app, lists_world["tokens"], body)


def test_a_department_looks_up_joint_sanctions_and_the_look_up_is_logged(
    store: Store, catalog: Catalog, lists_world: dict[str, Any]
) -> None:
    app = _app(store, catalog, lists_world["data_dir"], Clock(TODAY))

    async def body(api: Api) -> None:
        path = f"/api/sanctions/{ENT}?purpose=政府采购资格审查"
        status, answer = await api("GET", path, "department")
        assert status == 200 and answer["on_black_list"] and not answer["on_red_list"]
        assert [e["class_code"] for e in answer["entries"]] == ["ent_punishment_list"]
        assert [m["area"] for m in answer["measures"]["black"]][:2] == ["政府采购", "招标投标"]
        assert "red" not in answer["measures"]
        reads = gov.reads_of(store, ENT)
        assert [(r["reader"], r["organization"], r["what"], r["purpose"]) for r in reads] == [
            ("江阴市发展和改革委员会", "市级各部门", "sanctions", "政府采购资格审查")]  # fmt: skip
        answer = (await api("GET", f"/api/sanctions/{GOOD_ENT}?purpose=评标", "admin"))[1]
        assert answer["on_red_list"] and [m["area"] for m in answer["measures"]["red"]]
        answer = (await api("GET", f"/api/sanctions/{PERSON}?purpose=审批", "admin"))[1]
        assert answer["on_black_list"] and PERSON not in json.dumps(answer)
        clean = (await api("GET", f"/api/sanctions/{random_uscc(RNG)}?purpose=审批", "admin"))[1]
        assert clean["entries"] == [] and clean["measures"] == {}
        assert (await api("GET", f"/api/sanctions/{ENT}", "department"))[0] == 400  # purpose
        assert (await api("GET", path, "bank"))[0] == 403
        assert (await api("GET", path))[0] == 401

    serve(app, lists_world["tokens"], body)


def test_verification_answers_yes_no_or_a_band_never_the_records(
    store: Store, catalog: Catalog, lists_world: dict[str, Any]
) -> None:
    """ENT owes ¥30,000 (water ¥20,000, power ¥10,000) and is on a black list."""
    from sinks.write.figures import FigureKeeper

    arrears = catalog.get("legal_arrears")
    for key, kind, amount in (("w", "水费", 20000), ("p", "电费", 10000)):
        insert(store, arrears, ENT, f"a-{key}", event=dt.date(2026, 8, 1), arrears_type=kind,
               arrears_amount=amount, arrears_start=dt.date(2026, 8, 1),
               arrears_end=dt.date(2026, 10, 31), overdue_days=60, account_no=key)  # fmt: skip
    FigureKeeper(store, catalog).refresh([ENT], "test")
    clock = Clock(TODAY)
    app = _app(store, catalog, lists_world["data_dir"], clock)

    async def ask(api: Api, who: str, question: str, **extra: str) -> tuple[int, Any]:
        params = "&".join(f"{k}={v}" for k, v in {"question": question, **extra}.items())
        return await api("GET", f"/api/verify/{ENT}?{params}", who)

    async def body(api: Api) -> None:
        for question, extra, expected in (
            ("in_arrears", {}, "yes"), ("arrears_band", {}, "1万至10万元"),
            ("arrears_above", {"amount": "25000"}, "yes"),
            ("arrears_above", {"amount": "30000"}, "no"),  # above, not equal
            ("on_black_list", {}, "yes"), ("on_red_list", {}, "no"),
        ):  # fmt: skip
            status, answer = await ask(api, "admin", question, **extra)
            assert (status, answer.get("answer")) == (200, expected), (question, answer)
            assert set(answer) == {"subject", "question", "answer", "as_of", "purpose"}
        status, answer = await ask(api, "bank", "on_black_list", purpose="贷前审查")
        assert (status, answer["answer"]) == (200, "yes")  # public: no authorization needed
        status, answer = await ask(api, "bank", "in_arrears", purpose="贷前审查")
        assert (status, answer["error"]) == (403, "verify.authorization")
        gov.grant_authorization(store, ENT, "某银行", "贷前审查", TODAY, dt.date(2027, 6, 30),
                                "admin")  # fmt: skip
        status, answer = await ask(api, "bank", "arrears_band", purpose="贷前审查")
        assert (status, answer["answer"]) == (200, "1万至10万元")
        assert (await ask(api, "bank", "in_arrears"))[0] == 400  # no purpose
        assert (await ask(api, "admin", "salary"))[0] == 400
        assert (await ask(api, "admin", "arrears_above"))[0] == 400  # no amount
        assert (await ask(api, "admin", "arrears_above", amount="-1"))[0] == 400
        logged = [(r["reader"], r["what"], r["detail"]) for r in gov.reads_of(store, ENT)]
        assert ("经理", "verify:arrears_band", "answer 1万至10万元") in logged
        assert ("经理", "verify:in_arrears", "answer yes") not in logged  # refused: not answered

    serve(app, lists_world["tokens"], body)
