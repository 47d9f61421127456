"""Governance on the real chDB store behind the real aiohttp middleware: roles, objections,
authorizations, the usage log, retention and publication periods, masking."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from base.metrics import create_metrics
from credit.api.access import (
    DEFAULT_RULES,
    AccessStore,
    Identity,
    access_middleware,
    build_access,
    ensure_admin_token,
    upload_refusal,
)
from credit.api.app import ApiContext, build_api
from credit.api.governance import add_governance_routes, governed_records, governed_subject_report
from producers.apikeys import ApiKeyStore
from producers.gateway import Gateway
from schemas.catalog import Catalog, InfoClass
from schemas.codes import random_citizen_id, random_uscc
from schemas.registry_store import RegistryStore
from sinks.ddl.tables import class_columns
from sinks.ddl.upgrade import apply_ddl
from sinks.read import governance as gov
from sinks.read.reports import subject_report
from sinks.read.workdays import WorkCalendar
from sinks.store import Store

pytestmark = pytest.mark.integration

RNG = random.Random(8)
ENT, OTHER_ENT = random_uscc(RNG), random_uscc(RNG)
PERSON = random_citizen_id(RNG)
BANK, OTHER_BANK = "南通银行", "江海农商行"
WATER = "水务集团"  # provider (API key for department 供水公司)
FRI = dt.date(2026, 11, 20)  # a Friday


# -- fixtures and helpers ---------------------------------------------------------------------------
def insert(
    store: Store, cls: InfoClass, subject: str, key: str, *, provider: str = WATER,
    event: dt.date = FRI, end: dt.date | None = None, version: int = 1, district: str = "320281",
    stored: dt.datetime | None = None, upload: str = "u-1", **fields: Any,
) -> None:  # fmt: skip
    """One stored record the way the sink writes it (meta columns + catalog fields)."""
    meta = {
        "record_key": key, "version": version, "subject_id": subject,
        "subject_kind": cls.subject_kind, "subject_name": "测试主体", "district": district,
        "name_mismatch": 0, "code_flag": "", "event_date": event, "behaviour_end": end or event,
        "ingest_provider": provider, "ingest_channel": "api", "ingest_upload_id": upload,
        "ingest_row": 1, "ingest_source_key": key,
        "ingest_received_at": dt.datetime.now(dt.UTC), "stored_at": stored or dt.datetime.now(dt.UTC),
    }  # fmt: skip
    cols = [name for name, _ in class_columns(cls)]
    store.insert(cls.table, [[meta.get(c, fields.get(c)) for c in cols]], cols)


class Api:
    """A test client that calls as one of the issued identities."""

    def __init__(
        self, client: TestClient[web.Request, web.Application], tokens: dict[str, str]
    ) -> None:
        self.client, self.tokens = client, tokens

    async def __call__(
        self, method: str, path: str, who: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        async with self.client.request(method, path, headers=headers, **kw) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text


class Clock:
    def __init__(self, today: dt.date) -> None:
        self.today = today

    def __call__(self) -> dt.date:
        return self.today


@pytest.fixture(scope="module")
def shared_store(chdb_path: Path, catalog: Catalog) -> Iterator[Store]:
    """One database for the module: applying the full DDL costs seconds, emptying it does not."""
    from sinks.store import open_embedded

    db = f"t_gov_{uuid.uuid4().hex[:8]}"
    s = open_embedded(chdb_path, db)
    apply_ddl(s, catalog)
    yield s
    s.command(f"DROP DATABASE IF EXISTS {db}")


@pytest.fixture()
def store(shared_store: Store) -> Iterator[Store]:
    """The shared database, emptied after each test so tests never see each other's rows."""
    yield shared_store
    db = shared_store.database
    for row in shared_store.query(
        "SELECT name FROM system.tables WHERE database = {d:String} AND total_rows > 0",
        {"d": db},
    ):
        shared_store.command(f"TRUNCATE TABLE {db}.{row['name']}")


@pytest.fixture()
def world(
    store: Store, catalog: Catalog, tmp_path: Path
) -> Iterator[tuple[ApiContext, dict[str, str], Clock, Path]]:
    users = AccessStore(tmp_path / "access.json")
    tokens = {
        "admin": users.issue("admin", "管理员"),
        "analyst": users.issue("analyst", "分析员"),
        "bank": users.issue("bank", "客户经理甲", BANK),
        "other_bank": users.issue("bank", "客户经理乙", OTHER_BANK),
        "subject": users.issue("subject", "某企业", ENT),
        "person": users.issue("subject", "某人", PERSON),
        "provider": ApiKeyStore(tmp_path / "api-keys.json").issue(catalog, WATER, "供水公司"),
        "other_provider": users.issue("provider", "电力公司", "供电公司"),
    }
    ctx = ApiContext(store, catalog, create_metrics(), lambda: {"ready": True})
    yield ctx, tokens, Clock(FRI), tmp_path


def governed_app(ctx: ApiContext, data_dir: Path, clock: Clock) -> web.Application:
    users, keys = AccessStore(data_dir / "access.json"), ApiKeyStore(data_dir / "api-keys.json")
    app = web.Application(middlewares=[access_middleware(users, keys, DEFAULT_RULES)])
    app.router.add_get("/api/records/{class_code}", governed_records(ctx, clock))
    app.router.add_get("/api/subjects/{code}", governed_subject_report(ctx, clock))
    add_governance_routes(app, ctx, clock)
    return app


def serve(
    app: web.Application, tokens: dict[str, str], body: Callable[[Api], Awaitable[None]]
) -> None:
    async def main() -> None:
        async with TestClient(TestServer(app)) as client:
            await body(Api(client, tokens))

    asyncio.run(main())


# -- pure rules --------------------------------------------------------------------------------------
def test_deadlines_count_working_days_from_the_day_after_receipt() -> None:
    assert gov.add_working_days(FRI, 3) == dt.date(2026, 11, 25)  # Mon, Tue, Wed
    assert gov.add_working_days(FRI, 10) == dt.date(2026, 12, 4)
    assert gov.add_working_days(dt.date(2026, 11, 23), 2) == dt.date(2026, 11, 25)
    holiday = dt.date(2026, 11, 23)
    closed = WorkCalendar(holidays=frozenset({holiday}))
    assert gov.add_working_days(FRI, 3, closed) == dt.date(2026, 11, 26)


def test_a_penalty_leaves_public_use_after_its_maximum_period_by_severity(
    catalog: Catalog,
) -> None:
    penalty = catalog.get("ent_admin_penalty")
    general = {"event_date": dt.date(2024, 6, 1), "severity": "一般"}
    assert gov.publicly_visible(penalty, general, dt.date(2025, 6, 1))  # 1 year, last day in
    assert not gov.publicly_visible(penalty, general, dt.date(2025, 6, 2))
    assert not gov.publicly_visible(penalty, general, dt.date(2026, 12, 1))  # not 30 months on
    serious = {"event_date": dt.date(2023, 1, 31), "severity": "严重"}
    assert gov.publicly_visible(penalty, serious, dt.date(2026, 1, 31))
    assert not gov.publicly_visible(penalty, serious, dt.date(2026, 2, 1))
    unstated = {"event_date": dt.date(2024, 6, 1), "severity": None}  # the default: 一般
    assert gov.publication_window(penalty, unstated) == (
        dt.date(2024, 9, 1),
        dt.date(2025, 6, 1),
        "一般",
    )
    listed = {"event_date": dt.date(2024, 6, 1)}  # a serious-dishonesty list: 严重 always
    assert gov.publication_window(catalog.get("ent_punishment_list"), listed) == (
        dt.date(2025, 6, 1),
        dt.date(2027, 6, 1),
        "严重",
    )
    assert gov.publicly_visible(catalog.get("ent_business_licence"), general, dt.date(2030, 1, 1))


def test_providers_see_only_their_own_uploads() -> None:
    mine = Identity("provider", WATER, "供水公司")
    assert upload_refusal(mine, WATER) is None
    assert upload_refusal(mine, "电力公司") is not None
    assert upload_refusal(Identity("analyst", "分析员"), "电力公司") is None


# -- roles -------------------------------------------------------------------------------------------
def test_existing_routes_behind_the_middleware_answer_by_role(world: Any) -> None:
    ctx, tokens, _, data_dir = world
    keys = ApiKeyStore(data_dir / "api-keys.json")
    gateway = Gateway(ctx.catalog, keys, lambda _p: pytest.fail("no publishing here"), 10)
    app = build_api(ctx, RegistryStore(data_dir / "registry.json"), gateway, 1 << 20)
    app.middlewares.append(build_access(data_dir))  # the one wiring line for credit/api/app.py
    admin_token = (data_dir / "admin-token").read_text().strip()

    async def body(api: Api) -> None:
        assert (await api("GET", "/health"))[0] == 200
        assert (await api("GET", "/metrics"))[0] == 200
        assert (await api("GET", "/subjects"))[0] == 200  # schema registry stays open
        for path in ("/api/status", "/api/summary", "/api/risk", "/api/uploads/x"):
            status, answer = await api("GET", path)
            assert status == 401 and answer["error"] == "auth.token", path
        status, answer = await api("GET", "/api/records/legal_arrears?subject=" + ENT)
        assert status == 401
        assert (await api("GET", "/api/status", "analyst"))[0] == 200
        assert (await api("GET", "/api/risk", "admin"))[0] == 200
        for who in ("bank", "provider", "subject"):
            status, answer = await api("GET", "/api/summary", who)
            assert status == 403 and answer["allowed_roles"] == ["admin", "analyst"], who
        assert (await api("GET", "/api/uploads/x", "provider"))[0] == 404  # passed, unknown
        assert (await api("GET", "/api/uploads/x", "bank"))[0] == 403
        # records are published by providers only; the gateway then checks the class
        status, _ = await api("POST", "/api/records/legal_arrears", "analyst", json={})
        assert status == 403
        status, _ = await api("POST", "/api/records/nope", "provider", json={})
        assert status == 404
        # the local operator's admin token works; a made-up one does not
        api.tokens["local"], api.tokens["forged"] = admin_token, "ct_forged"
        assert (await api("GET", "/api/status", "local"))[0] == 200
        assert (await api("GET", "/api/status", "forged"))[0] == 401

    serve(app, tokens, body)


def test_schema_registry_reads_are_open_and_writes_need_an_admin(world: Any) -> None:
    ctx, tokens, _, data_dir = world
    keys = ApiKeyStore(data_dir / "api-keys.json")
    gateway = Gateway(ctx.catalog, keys, lambda _p: pytest.fail("no publishing here"), 10)
    registry = RegistryStore(data_dir / "registry.json")
    schema = json.dumps({"type": "record", "name": "r", "fields": [{"name": "a", "type": "int"}]})
    registry.register("t-value", schema)
    app = build_api(ctx, registry, gateway, 1 << 20)
    app.middlewares.append(build_access(data_dir))
    body = {"schema": schema}
    newer = {"schema": schema.replace('"int"}]', '"int"}, {"name": "b", "type": ["null", "int"], '
                                      '"default": null}]')}  # fmt: skip

    async def calls(api: Api) -> None:
        # reads, as every Kafka client makes them: no token
        assert (await api("GET", "/subjects"))[0] == 200
        assert (await api("GET", "/subjects/t-value/versions/latest"))[0] == 200
        assert (await api("POST", "/subjects/t-value", json=body))[0] == 200  # look-up
        assert (await api("POST", "/compatibility/subjects/t-value/versions/latest",
                          json=newer))[0] == 200  # fmt: skip
        # writes: refused without a token and for every role but admin
        for who in (None, "analyst", "provider", "bank"):
            for method, path, payload in (
                ("POST", "/subjects/t-value/versions", newer),
                ("PUT", "/config", {"compatibility": "NONE"}),
                ("PUT", "/config/t-value", {"compatibility": "NONE"}),
                ("DELETE", "/subjects/t-value", None),
            ):
                status, _ = await api(method, path, who, json=payload)
                assert status in (401, 403), (who, method, path, status)
        assert registry.versions("t-value") == [1]
        assert (await api("POST", "/subjects/t-value/versions", "admin", json=newer))[0] == 200
        assert registry.versions("t-value") == [1, 2]

    serve(app, tokens, calls)


def test_open_access_lets_tokenless_calls_act_as_admin_but_not_as_a_provider(world: Any) -> None:
    ctx, tokens, _, data_dir = world
    keys = ApiKeyStore(data_dir / "api-keys.json")
    gateway = Gateway(ctx.catalog, keys, lambda _p: pytest.fail("no publishing here"), 10)
    app = build_api(ctx, RegistryStore(data_dir / "registry.json"), gateway, 1 << 20)
    app.middlewares.append(build_access(data_dir, open_access=True))

    async def body(api: Api) -> None:
        assert (await api("GET", "/api/status"))[0] == 200
        status, answer = await api("POST", "/api/records/legal_arrears", json={})
        assert (status, answer["error"]) == (401, "auth.key")  # the gateway's own check
        api.tokens["forged"] = "ct_forged"
        assert (await api("GET", "/api/status", "forged"))[0] == 401
        assert (await api("GET", "/api/status", "bank"))[0] == 403

    serve(app, tokens, body)


def test_governance_routes_refuse_roles_they_are_not_for(world: Any) -> None:
    ctx, tokens, clock, data_dir = world
    refused = [
        ("GET", "/api/objections/overdue", ("bank", "provider", "subject")),
        ("POST", "/api/authorizations", ("bank", "analyst", "provider")),
        ("GET", "/api/authorizations", ("analyst", "provider")),
        ("GET", "/api/audit", ("analyst", "bank", "provider")),
        ("POST", "/api/objections", ("provider",)),
        ("POST", "/api/objections/obj-1/accept", ("bank", "subject")),
        ("GET", "/api/records/legal_arrears", ("provider",)),
    ]

    async def body(api: Api) -> None:
        for method, path, roles in refused:
            assert (await api(method, path))[0] == 401, path
            for who in roles:
                status, answer = await api(method, path, who, json={})
                assert status == 403 and answer["error"] == "auth.role", (path, who)
        # a provider may not take the office's steps even where the prefix lets it in
        status, _ = await api("POST", "/api/objections/obj-1/accept", "provider", json={})
        assert status == 404  # unknown objection: checked first, then the step's role

    serve(governed_app(ctx, data_dir, clock), tokens, body)


# -- objections --------------------------------------------------------------------------------------
def test_objection_life_cycle_withholds_the_record_until_confirmed(world: Any) -> None:
    ctx, tokens, clock, data_dir = world
    cls = ctx.catalog.get("legal_arrears")
    insert(ctx.store, cls, ENT, "rk-disputed", org_name="某企业", arrears_amount=100)
    insert(ctx.store, cls, ENT, "rk-other", org_name="某企业", arrears_amount=5)
    insert(ctx.store, cls, OTHER_ENT, "rk-foreign")
    read = f"/api/records/legal_arrears?subject={ENT}&purpose=监测"

    async def keys(api: Api, who: str) -> set[str]:
        status, answer = await api("GET", read, who)
        assert status == 200, answer
        return {r["record_key"] for r in answer["records"]}

    async def body(api: Api) -> None:
        status, _ = await api("POST", "/api/objections", "subject",
                              json={"class_code": "legal_arrears", "record_key": "rk-foreign",
                                    "grounds": "不是我"})  # fmt: skip
        assert status == 403  # a subject disputes its own records only
        status, obj = await api("POST", "/api/objections", "subject",
                                json={"class_code": "legal_arrears",
                                      "record_key": "rk-disputed", "grounds": "已缴清"})  # fmt: skip
        assert status == 201 and obj["stage"] == "filed" and obj["provider"] == WATER
        oid = obj["objection_id"]
        again = {"class_code": "legal_arrears", "record_key": "rk-disputed", "grounds": "再次"}
        assert (await api("POST", "/api/objections", "admin", json=again))[0] == 409
        # withheld at once from other readers; the subject and admins still see it, flagged
        assert await keys(api, "analyst") == {"rk-other"}
        _, own = await api("GET", f"/api/records/legal_arrears?subject={ENT}", "subject")
        assert {r["record_key"]: r["withheld"] for r in own["records"]} == {
            "rk-disputed": True, "rk-other": False}  # fmt: skip
        assert "rk-disputed" in gov.withheld_record_keys(ctx.store)
        # the providing department's queue has it; another provider's has not
        _, queue = await api("GET", "/api/objections", "provider")
        assert [o["objection_id"] for o in queue["objections"]] == [oid]
        first = queue["objections"][0]  # the queue's deadline: checked in 3 working days
        assert (first["next_step"], first["due_on"]) == ("check", "2026-11-25")
        _, queue = await api("GET", "/api/objections", "other_provider")
        assert queue["objections"] == []
        status, _ = await api("POST", f"/api/objections/{oid}/resolve", "other_provider",
                              json={"resolution": "confirm", "reason": "x"})  # fmt: skip
        assert status == 403
        assert (await api("POST", f"/api/objections/{oid}/accept", "analyst"))[0] == 200
        status, _ = await api("POST", f"/api/objections/{oid}/resolve", "provider",
                              json={"resolution": "confirm", "reason": ""})  # fmt: skip
        assert status == 400  # the reason is kept, so it is required
        status, obj = await api("POST", f"/api/objections/{oid}/resolve", "provider",
                                json={"resolution": "confirm", "reason": "核实欠费属实"})  # fmt: skip
        assert status == 200 and obj["stage"] == "resolved" and obj["reason"] == "核实欠费属实"
        assert await keys(api, "analyst") == {"rk-disputed", "rk-other"}
        assert (await api("POST", f"/api/objections/{oid}/resolve", "admin",
                          json={"resolution": "delete", "reason": "x"}))[0] == 409  # fmt: skip
        status, obj = await api("POST", f"/api/objections/{oid}/inform", "analyst")
        assert status == 200 and obj["stage"] == "informed"
        _, mine = await api("GET", "/api/objections", "subject")
        assert [(o["stage"], o["resolution"]) for o in mine["objections"]] == [
            ("informed", "confirm")]  # fmt: skip

    serve(governed_app(ctx, data_dir, clock), tokens, body)


def test_delete_removes_the_record_and_correct_holds_it_until_resent(
    store: Store, catalog: Catalog
) -> None:
    cls = catalog.get("legal_arrears")
    insert(store, cls, ENT, "rk-del")
    insert(store, cls, ENT, "rk-fix", arrears_amount=100, version=5)
    me = gov.Reader("subject", "某企业", ENT)
    gone = gov.file_objection(store, cls, "rk-del", me, "无法核实", FRI)
    fix = gov.file_objection(store, cls, "rk-fix", me, "金额错误", FRI)
    gov.resolve_objection(
        store, cls, gone["objection_id"], "delete", "无法核实真实性", "admin", FRI
    )
    assert (
        store.query(f"SELECT * FROM {store.database}.{cls.table} WHERE record_key = 'rk-del'") == []
    )
    assert gov.get_objection(store, gone["objection_id"])["reason"] == "无法核实真实性"
    report = subject_report(store, catalog, ENT, include_authorized=True)  # the index's copy too
    assert "rk-del" not in {r["record_key"] for c in report["classes"] for r in c["records"]}
    assert "rk-fix" in {r["record_key"] for c in report["classes"] for r in c["records"]}
    gov.resolve_objection(store, cls, fix["objection_id"], "correct", "金额应为50", WATER, FRI)
    assert gov.withheld_record_keys(store) == {"rk-fix"}  # until the provider re-sends
    insert(store, cls, ENT, "rk-fix", arrears_amount=50, version=6)
    assert gov.withheld_record_keys(store) == frozenset()
    from sinks.read.queries import records_of

    assert [float(r["arrears_amount"]) for r in records_of(store, cls, ENT)] == [50.0]


def test_overdue_lists_each_late_stage_on_fixed_dates(world: Any) -> None:
    ctx, tokens, clock, data_dir = world
    cls = ctx.catalog.get("legal_arrears")
    for key in ("rk-a", "rk-b", "rk-c"):
        insert(ctx.store, cls, ENT, key)
    me = gov.Reader("subject", "某企业", ENT)
    a, b, c = (
        gov.file_objection(ctx.store, cls, k, me, "有误", FRI) for k in ("rk-a", "rk-b", "rk-c")
    )
    gov.accept_objection(ctx.store, b["objection_id"], dt.date(2026, 11, 23))  # answer by 12-07
    gov.accept_objection(ctx.store, c["objection_id"], dt.date(2026, 11, 23))
    gov.resolve_objection(ctx.store, cls, c["objection_id"], "confirm", "属实", WATER,
                          dt.date(2026, 11, 24))  # inform by 11-26  # fmt: skip

    def late(day: dt.date) -> dict[str, str]:
        return {o["objection_id"]: o["late_stage"] for o in gov.overdue(ctx.store, day)}

    assert late(dt.date(2026, 11, 25)) == {}  # a: check due Wed 11-25, still in time
    assert late(dt.date(2026, 11, 27)) == {a["objection_id"]: "check", c["objection_id"]: "inform"}
    assert late(dt.date(2026, 12, 8)) == {a["objection_id"]: "check", b["objection_id"]: "answer",
                                          c["objection_id"]: "inform"}  # fmt: skip

    async def body(api: Api) -> None:
        status, answer = await api("GET", "/api/objections/overdue?as_of=2026-11-27", "analyst")
        assert status == 200
        assert {o["late_stage"] for o in answer["overdue"]} == {"check", "inform"}
        assert answer["overdue"][0]["due"] == "2026-11-25"

    serve(governed_app(ctx, data_dir, clock), tokens, body)


# -- authorization, audit, masking ------------------------------------------------------------------
def test_banks_read_authorized_classes_only_while_authorized(world: Any) -> None:
    ctx, tokens, clock, data_dir = world
    power = ctx.catalog.get("ent_power_arrears")  # authorized-only
    insert(ctx.store, power, ENT, "rk-power", provider="供电公司")
    insert(ctx.store, ctx.catalog.get("legal_arrears"), ENT, "rk-public")
    auth_read = f"/api/records/ent_power_arrears?subject={ENT}&purpose=贷前审查"

    async def body(api: Api) -> None:
        assert (await api("GET", f"/api/records/legal_arrears?subject={ENT}", "bank"))[0] == 400
        assert (await api("GET", f"/api/records/legal_arrears?subject={ENT}&purpose=贷前",
                          "bank"))[0] == 200  # public: always  # fmt: skip
        status, answer = await api("GET", auth_read, "bank")
        assert status == 403 and answer["error"] == "auth.disclosure"
        grant = {"subject": ENT, "institution": BANK, "purpose": "流动资金贷款",
                 "valid_from": "2026-11-01", "valid_to": "2026-12-31"}  # fmt: skip
        assert (await api("POST", "/api/authorizations", "subject",
                          json={**grant, "subject": OTHER_ENT}))[0] == 403  # fmt: skip
        status, auth = await api("POST", "/api/authorizations", "subject", json=grant)
        assert status == 201
        status, answer = await api("GET", auth_read, "bank")
        assert status == 200 and [r["record_key"] for r in answer["records"]] == ["rk-power"]
        assert (await api("GET", auth_read, "other_bank"))[0] == 403  # not its authorization
        _, listed = await api("GET", "/api/authorizations", "other_bank")
        assert listed["authorizations"] == []
        _, listed = await api("GET", "/api/authorizations", "bank")
        assert [a["active"] for a in listed["authorizations"]] == [True]
        clock.today = dt.date(2027, 1, 1)  # expired
        assert (await api("GET", auth_read, "bank"))[0] == 403
        clock.today = FRI
        assert (await api("GET", auth_read, "bank"))[0] == 200
        status, _ = await api("POST", f"/api/authorizations/{auth['auth_id']}/revoke", "subject")
        assert status == 200
        assert (await api("GET", auth_read, "bank"))[0] == 403  # revoked: at once
        assert not gov.is_authorized(ctx.store, BANK, ENT, FRI)

    serve(governed_app(ctx, data_dir, clock), tokens, body)


def test_every_read_of_a_subject_is_in_its_usage_log(world: Any) -> None:
    ctx, tokens, clock, data_dir = world
    insert(ctx.store, ctx.catalog.get("legal_arrears"), ENT, "rk-1")

    async def body(api: Api) -> None:
        base = f"/api/records/legal_arrears?subject={ENT}"
        assert (await api("GET", base, "analyst"))[0] == 400  # no purpose: refused, not read
        assert (await api("GET", base + "&purpose=风险监测", "analyst"))[0] == 200
        assert (await api("GET", base + "&purpose=贷前审查", "bank"))[0] == 200
        power = f"/api/records/ent_power_arrears?subject={ENT}&purpose=贷前审查"
        assert (await api("GET", power, "bank"))[0] == 403
        assert (await api("GET", f"/api/subjects/{ENT}?purpose=授信", "bank"))[0] == 200
        status, log = await api("GET", f"/api/audit?subject={ENT}", "admin")
        assert status == 200
        trail = [(r["reader"], r["organization"], r["what"], r["purpose"], r["outcome"])
                 for r in reversed(log["reads"])]  # fmt: skip
        assert trail == [
            ("分析员", "", "records:legal_arrears", "风险监测", "shown"),
            ("客户经理甲", BANK, "records:legal_arrears", "贷前审查", "shown"),
            ("客户经理甲", BANK, "records:ent_power_arrears", "贷前审查", "refused"),
            ("客户经理甲", BANK, "report:public", "授信", "shown"),
        ]
        status, own = await api("GET", "/api/audit", "subject")  # "who looked at me"
        assert status == 200 and len(own["reads"]) == 5  # the admin's look included
        assert (await api("GET", f"/api/audit?subject={OTHER_ENT}", "subject"))[0] == 403

    serve(governed_app(ctx, data_dir, clock), tokens, body)


def test_ids_and_phones_are_masked_unless_admin_or_authorized(world: Any) -> None:
    ctx, tokens, clock, data_dir = world
    cls = ctx.catalog.get("natural_arrears")
    insert(ctx.store, cls, PERSON, "rk-p", id_no=PERSON, person_name="张三",
           arrears_period="联系 13812345678")  # fmt: skip
    read = f"/api/records/natural_arrears?subject={PERSON}&purpose=核查"

    async def rows(api: Api, who: str) -> dict[str, Any]:
        status, answer = await api("GET", read, who)
        assert status == 200, answer
        row: dict[str, Any] = answer["records"][0]
        return row

    async def body(api: Api) -> None:
        masked = await rows(api, "analyst")
        assert masked["subject_id"] == masked["id_no"] == PERSON[:6] + "*" * 8 + PERSON[-4:]
        assert "13812345678" not in json.dumps(masked, ensure_ascii=False)
        full = await rows(api, "admin")
        assert full["id_no"] == PERSON and "13812345678" in full["arrears_period"]
        assert (await api("GET", read, "bank"))[0] == 403
        gov.grant_authorization(ctx.store, PERSON, BANK, "个人消费贷", FRI, FRI, "某人")
        assert (await rows(api, "bank"))["id_no"] == PERSON  # authorized: full value
        assert (await rows(api, "person"))["id_no"] == PERSON  # free self-query

    serve(governed_app(ctx, data_dir, clock), tokens, body)


# -- retention and publication periods --------------------------------------------------------------
def test_negative_personal_records_and_the_usage_log_expire_after_five_years(
    store: Store, catalog: Catalog
) -> None:
    cls = catalog.get("natural_arrears")
    today = dt.date.today()
    six, four = today - dt.timedelta(days=6 * 366), today - dt.timedelta(days=4 * 365)
    insert(store, cls, PERSON, "rk-old", event=six, end=six)
    insert(store, cls, PERSON, "rk-recent", event=four, end=four)
    reader = gov.Reader("analyst", "分析员")
    for at in (six, four):
        when = dt.datetime.combine(at, dt.time(12), dt.UTC)
        gov.record_read(store, reader, PERSON, "records:natural_arrears", "测试", at=when)
    for table in (cls.table, "audit_log"):
        store.command(f"OPTIMIZE TABLE {store.database}.{table} FINAL")
    keys = store.query(f"SELECT record_key FROM {store.database}.{cls.table}")
    assert [r["record_key"] for r in keys] == ["rk-recent"]
    assert [r["at"].date() for r in gov.reads_of(store, PERSON)] == [four]


def test_a_penalty_past_its_publication_period_leaves_unauthorized_reads(world: Any) -> None:
    ctx, tokens, clock, data_dir = world
    penalty = ctx.catalog.get("ent_admin_penalty")
    insert(ctx.store, penalty, ENT, "rk-old", event=dt.date(2022, 6, 1))  # past 36 months
    insert(ctx.store, penalty, ENT, "rk-new", event=dt.date(2026, 6, 1))
    read = f"/api/records/ent_admin_penalty?subject={ENT}&purpose=授信"

    async def body(api: Api) -> None:
        _, public = await api("GET", read, "bank")
        assert [r["record_key"] for r in public["records"]] == ["rk-new"]
        gov.grant_authorization(ctx.store, ENT, BANK, "授信", FRI, FRI, "某企业")
        _, authorized = await api("GET", read, "bank")
        assert [r["record_key"] for r in authorized["records"]] == ["rk-new", "rk-old"]

    serve(governed_app(ctx, data_dir, clock), tokens, body)


def test_cli_issues_role_tokens_into_the_data_dir(tmp_path: Path, capsys: Any) -> None:
    from credit.cli import main

    args = ["access", "issue", "bank", "客户经理丙", "--institution", BANK, "--json"]
    assert main([*args, "--data-dir", str(tmp_path)]) == 0
    token = json.loads(capsys.readouterr().out)["token"]
    assert AccessStore(tmp_path / "access.json").check(token) == Identity(
        "bank", "客户经理丙", BANK
    )
    assert main(["access", "issue", "wizard", "x", "--data-dir", str(tmp_path)]) == 2


def test_a_token_expires_and_a_revoked_one_stops_at_the_next_request(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve hours by default: at 11:59 the analyst reads, at 12:01 the same token is refused
    with the reason; a revoked token is refused from the very next request."""
    import credit.api.access as access

    ctx, tokens, _, data_dir = world
    users = AccessStore(data_dir / "access.json")
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    monkeypatch.setattr(access, "_now", lambda: start)
    tokens["temp"] = users.issue("analyst", "临时分析员")
    gateway = Gateway(ctx.catalog, ApiKeyStore(data_dir / "api-keys.json"),
                      lambda _p: pytest.fail("no publishing here"), 10)  # fmt: skip
    app = build_api(ctx, RegistryStore(data_dir / "registry.json"), gateway, 1 << 20)
    app.middlewares.append(build_access(data_dir))

    async def body(api: Api) -> None:
        monkeypatch.setattr(access, "_now", lambda: start + dt.timedelta(hours=11, minutes=59))
        assert (await api("GET", "/api/status", "temp"))[0] == 200
        monkeypatch.setattr(access, "_now", lambda: start + dt.timedelta(hours=12, minutes=1))
        status, answer = await api("GET", "/api/status", "temp")
        assert status == 401 and "expired" in answer["message"]
        tokens["analyst"] = users.issue("analyst", "分析员")  # issued at 12:01: valid
        assert (await api("GET", "/api/status", "analyst"))[0] == 200
        token_id = next(t["token_id"] for t in users.listing() if t["name"] == "分析员")
        users.revoke(token_id)
        status, answer = await api("GET", "/api/status", "analyst")
        assert status == 401 and "revoked" in answer["message"]

    serve(app, tokens, body)
    monkeypatch.undo()  # back to the real clock
    states = {t["name"]: t["state"] for t in AccessStore(data_dir / "access.json").listing()}
    assert (states["临时分析员"], states["分析员"], states["管理员"]) == (
        "active",
        "revoked",
        "active",
    )  # at the real clock, 临时分析员's 12 hours (from tomorrow) have not run out


def test_tokens_from_before_expiry_are_refused_and_the_admin_token_is_reissued(
    tmp_path: Path,
) -> None:
    old = AccessStore(tmp_path / "access.json")
    token = old.issue("analyst", "旧分析员")
    entries = json.loads((tmp_path / "access.json").read_text())
    for e in entries:
        e.pop("expires_at")
    (tmp_path / "access.json").write_text(json.dumps(entries))
    identity, why = AccessStore(tmp_path / "access.json").verdict(token)
    assert identity is None and "ask for a new one" in why
    admin = ensure_admin_token(AccessStore(tmp_path / "access.json"), tmp_path / "admin-token")
    assert AccessStore(tmp_path / "access.json").check(admin) == Identity("admin", "local-admin")


def test_the_cli_lists_and_revokes_tokens_and_rotates_provider_keys(
    tmp_path: Path, capsys: Any, catalog: Catalog
) -> None:
    from credit.cli import main

    d = ["--data-dir", str(tmp_path)]
    assert main(["access", "issue", "analyst", "钱分析", "--hours", "2", "--json", *d]) == 0
    issued = json.loads(capsys.readouterr().out)
    hours = dt.datetime.fromisoformat(issued["expires_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=1, minutes=59) < hours <= dt.timedelta(hours=2)
    assert main(["access", "list", "--json", *d]) == 0
    listed = json.loads(capsys.readouterr().out)["tokens"]
    assert [(t["token_id"], t["state"]) for t in listed] == [(issued["token_id"], "active")]
    assert "hash" not in listed[0] and "salt" not in listed[0]
    assert main(["access", "revoke", issued["token_id"], *d]) == 0
    capsys.readouterr()
    assert AccessStore(tmp_path / "access.json").check(issued["token"]) is None
    assert main(["access", "revoke", "no-such-id", *d]) == 2
    assert "credit access list" in capsys.readouterr().err

    assert main(["keys", WATER, "--department", "供水公司", "--json", *d]) == 0
    first = json.loads(capsys.readouterr().out)["key"]
    assert main(["keys", WATER, "--rotate", "--json", *d]) == 0
    second = json.loads(capsys.readouterr().out)["key"]
    keys = ApiKeyStore(tmp_path / "api-keys.json")
    assert keys.check(first) is None
    grant = keys.check(second)
    assert grant is not None and (grant.provider, grant.department) == (WATER, "供水公司")
    assert main(["keys", "无钥单位", "--rotate", *d]) == 2
    capsys.readouterr()
    assert main(["keys", WATER, "--revoke", *d]) == 0
    assert keys.check(second) is None
    capsys.readouterr()
    assert main(["keys", "--list", "--json", *d]) == 0
    listed = json.loads(capsys.readouterr().out)["keys"]
    assert [(k["provider"], k["department"], k["state"]) for k in listed] == [
        (WATER, "供水公司", "revoked")]  # fmt: skip
    assert main(["keys", *d]) == 2 and "--list" in capsys.readouterr().err


# -- credit repair ------------------------------------------------------------------------------------
def test_a_repair_is_refused_before_the_minimum_and_approved_after_it(world: Any) -> None:
    """A 一般 penalty of 1 June may be repaired from 1 September; a 严重 one only a year on.
    Approved, the record leaves the bank's and the public's view at once and stays for the
    credit office; the courts' lists are not repaired here."""
    from credit.api.repairs import add_repair_routes

    ctx, tokens, clock, data_dir = world
    penalty = ctx.catalog.get("ent_admin_penalty")
    insert(ctx.store, penalty, ENT, "rk-general", event=dt.date(2026, 6, 1), severity="一般")
    insert(ctx.store, penalty, ENT, "rk-serious", event=dt.date(2026, 6, 1), severity="严重")
    debtor = ctx.catalog.get("ent_dishonest_debtor")
    insert(ctx.store, debtor, ENT, "rk-court", event=dt.date(2024, 6, 1))
    app = governed_app(ctx, data_dir, clock)
    add_repair_routes(app, ctx, clock)
    read = f"/api/records/ent_admin_penalty?subject={ENT}&purpose=授信"

    async def body(api: Api) -> None:
        def apply(key: str, code: str = "ent_admin_penalty") -> dict[str, Any]:
            return {"json": {"class_code": code, "record_key": key, "grounds": "已缴清罚款并整改"}}

        status, early = await api("POST", "/api/repairs", "subject", **apply("rk-serious"))
        assert status == 400 and "2027-06-01" in early["message"]
        status, court = await api("POST", "/api/repairs", "subject", **apply("rk-court",
                                                                            debtor.code))  # fmt: skip
        assert status == 400 and "court" in court["message"]
        status, _ = await api("POST", "/api/repairs", "person", **apply("rk-general"))
        assert status == 403
        status, applied = await api("POST", "/api/repairs", "subject", **apply("rk-general"))
        assert status == 201, applied
        assert (applied["status"], applied["severity"], applied["due_on"]) == (
            "applied",
            "一般",
            "2026-11-27",  # 5 working days from Friday 20 November
        )
        status, _ = await api("POST", f"/api/repairs/{applied['repair_id']}/approve", "subject",
                              json={"reason": "x"})  # fmt: skip
        assert status == 403  # only the credit office decides
        _, before = await api("GET", read, "bank")
        assert sorted(r["record_key"] for r in before["records"]) == ["rk-general", "rk-serious"]
        status, decided = await api("POST", f"/api/repairs/{applied['repair_id']}/approve",
                                    "analyst", json={"reason": "整改到位"})  # fmt: skip
        assert status == 200 and decided["status"] == "approved"
        _, after = await api("GET", read, "bank")
        assert [r["record_key"] for r in after["records"]] == ["rk-serious"]
        _, office = await api("GET", read, "analyst")
        assert sorted(r["record_key"] for r in office["records"]) == ["rk-general", "rk-serious"]
        _, report = await api("GET", f"/api/subjects/{ENT}?purpose=监测", "analyst")
        flagged = [r for c in report["classes"] for r in c["records"] if r.get("repaired")]
        assert [r["record_key"] for r in flagged] == ["rk-general"]
        status, _ = await api("POST", "/api/repairs", "subject", **apply("rk-general"))
        assert status == 409
        _, mine = await api("GET", "/api/repairs", "subject")
        assert [(r["repair_id"], r["status"]) for r in mine["repairs"]] == [
            (applied["repair_id"], "approved")
        ]

    serve(app, tokens, body)


def test_a_third_party_reads_only_under_the_subjects_consent_which_the_subject_sees(
    world: Any,
) -> None:
    """A guarantor (role `party`) is refused every read of a subject until the subject grants
    it a consent (party, purpose, expiry); then it reads as a bank under authorization, the
    subject sees the consent and the reads (refused ones too), and withdrawing ends them."""
    ctx, tokens, clock, data_dir = world
    guarantor = "江阴市融资担保有限公司"
    tokens["party"] = AccessStore(data_dir / "access.json").issue("party", "担保经理", guarantor)
    insert(ctx.store, ctx.catalog.get("ent_power_arrears"), ENT, "rk-power", provider="供电公司")
    insert(ctx.store, ctx.catalog.get("legal_arrears"), ENT, "rk-public")
    report = f"/api/subjects/{ENT}?purpose=担保审查"

    async def body(api: Api) -> None:
        assert (await api("GET", f"/api/subjects/{ENT}", "party"))[0] == 400  # no purpose
        status, answer = await api("GET", report, "party")
        assert status == 403 and answer["error"] == "auth.consent"  # not even the public part
        records = f"/api/records/legal_arrears?subject={ENT}&purpose=担保审查"
        assert (await api("GET", records, "party"))[0] == 403
        status, consent = await api("POST", "/api/authorizations", "subject", json={
            "subject": ENT, "institution": guarantor, "purpose": "融资担保",
            "valid_from": "2026-11-01", "valid_to": "2026-12-31"})  # fmt: skip
        assert status == 201
        status, answer = await api("GET", f"/api/records/ent_power_arrears?subject={ENT}"
                                   "&purpose=担保审查", "party")  # fmt: skip
        assert status == 200 and [r["record_key"] for r in answer["records"]] == ["rk-power"]
        assert (await api("GET", report, "party"))[0] == 200
        _, mine = await api("GET", "/api/authorizations", "party")
        assert [a["institution"] for a in mine["authorizations"]] == [guarantor]
        _, seen = await api("GET", "/api/authorizations", "subject")  # the subject sees it
        assert guarantor in [a["institution"] for a in seen["authorizations"]]
        _, log = await api("GET", "/api/audit", "subject")
        outcomes = [(r["reader"], r["outcome"]) for r in log["reads"] if r["reader"] == "担保经理"]
        assert ("担保经理", "refused") in outcomes and ("担保经理", "shown") in outcomes
        await api("POST", f"/api/authorizations/{consent['auth_id']}/revoke", "subject")
        assert (await api("GET", report, "party"))[0] == 403  # withdrawn: at once

    serve(governed_app(ctx, data_dir, clock), tokens, body)
