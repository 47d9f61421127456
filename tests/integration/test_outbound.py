"""Outbound connectors on the real Tansu broker and chDB store, with a fake provincial platform
(an HTTP endpoint that, like the real one, applies each delivery id once) and a file-drop
exchange folder: every stored record reaches the target once, in its format, with its later
corrections, withdrawals and restorations; never the target's own 回流 records; through a
failing endpoint, a stopped connector and a broker that lost the topic."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from base.broker import EmbeddedBroker
from base.metrics import create_metrics
from credit.outbound.service import OutboundService
from schemas.catalog import Catalog
from schemas.codes import random_uscc
from sinks.exceptions import GovernanceError
from sinks.read import governance as gov
from sinks.read import outbound
from sinks.store import Store
from tests.integration.test_governance import insert, shared_store, store

__all__ = ["shared_store", "store"]
pytestmark = pytest.mark.integration

RNG = random.Random(23)
ENT, ENT2 = random_uscc(RNG), random_uscc(RNG)
RETURN = "省公共信用信息平台（回流）"
TODAY = dt.date.today()


class Province:
    """The provincial platform's receiving endpoint: every POST is kept; a delivery id is
    applied once (a repeat is acknowledged and dropped); answers 503 while `failing` > 0."""

    def __init__(self, port: int = 0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.applied: dict[str, dict[str, Any]] = {}
        self.failing = 0
        self.delay = 0.0  # seconds each POST takes (a slow province)
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(me.delay)
                if me.failing > 0:
                    me.failing -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                me.posts.append(body)
                for d in body["deliveries"]:
                    me.applied.setdefault(d["delivery_id"], d)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/exchange"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def actions(self) -> list[tuple[str, str, int]]:
        """(action, record key, version) of each applied delivery, in the order applied."""
        return [(d["action"], d["record_key"], d["record_version"]) for d in self.applied.values()]


@pytest.fixture()
def province() -> Iterator[Province]:
    found = Province()
    yield found
    found.stop()


def _wait(
    check: Callable[[], bool], service: OutboundService | None = None, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service is not None:
            service.run_once()
        if check():
            return
        time.sleep(0.3)
    pytest.fail("not reached in time")


def _service(store: Store, catalog: Catalog, broker: EmbeddedBroker) -> OutboundService:
    return OutboundService(
        store, catalog, {"bootstrap.servers": broker.bootstrap}, create_metrics()
    )


def test_the_province_gets_every_record_once_with_corrections_and_withdrawals(
    store: Store, catalog: Catalog, broker: EmbeddedBroker, province: Province
) -> None:
    arrears, penalty = catalog.get("legal_arrears"), catalog.get("ent_admin_penalty")
    insert(store, arrears, ENT, "a-1", arrears_amount=500, arrears_type="水费")
    insert(store, penalty, ENT, "p-1")
    insert(store, arrears, ENT2, "r-1", provider=RETURN, arrears_amount=9, arrears_type="电费")
    name = f"province-{RNG.randrange(10**6)}"
    outbound.save_target(store, catalog, {"name": name, "address": province.url,
                                          "format": "province", "returns_as": RETURN}, "admin")  # fmt: skip
    service = _service(store, catalog, broker)
    try:
        _wait(lambda: len(province.applied) == 2, service)
        assert sorted(province.actions()) == [("upsert", "a-1", 1), ("upsert", "p-1", 1)]
        arrears_doc = next(d for d in province.applied.values() if d["record_key"] == "a-1")
        assert arrears_doc["操作"] == "新增或更新" and arrears_doc["信息类别"] == arrears.name
        assert arrears_doc["记录"]["欠费金额"] == 500

        insert(store, arrears, ENT, "a-1", version=2, arrears_amount=450, arrears_type="水费")
        obj = gov.file_objection(
            store, penalty, "p-1", gov.Reader("subject", "企业"), "不实", TODAY
        )
        _wait(lambda: len(province.applied) == 4, service)
        assert province.actions()[2:] in ([("upsert", "a-1", 2), ("withdraw", "p-1", 1)],
                                          [("withdraw", "p-1", 1), ("upsert", "a-1", 2)])  # fmt: skip
        gov.resolve_objection(
            store, penalty, obj["objection_id"], "confirm", "核实无误", "admin", TODAY
        )
        _wait(lambda: len(province.applied) == 5, service)
        assert province.actions()[4] == ("upsert", "p-1", 1)  # back in use: sent again

        obj = gov.file_objection(
            store, penalty, "p-1", gov.Reader("subject", "企业"), "仍不实", TODAY
        )
        gov.resolve_objection(
            store, penalty, obj["objection_id"], "delete", "无法核实", "admin", TODAY
        )
        _wait(lambda: len(province.applied) == 6, service)
        assert province.actions()[5] == ("withdraw", "p-1", 1)
        for _ in range(3):
            service.run_once()
        time.sleep(1)
        assert len(province.applied) == 6 and sum(len(p["deliveries"]) for p in province.posts) == 6
        (row,) = outbound.ledger_summary(store, catalog)
        assert (row["sent"], row["acknowledged"], row["lag"], row["failing"]) == (6, 6, 0, 0)
        assert row["records_due"] == 1 and row["share_ratio"] == 1.0  # a-1 (p-1 deleted; r-1 回流)
    finally:
        service.stop()


def test_a_failing_endpoint_and_a_lost_topic_delay_deliveries_but_lose_and_repeat_none(
    store: Store, catalog: Catalog, broker: EmbeddedBroker
) -> None:
    arrears = catalog.get("legal_arrears")
    for i in range(30):
        insert(store, arrears, ENT, f"f-{i}", arrears_amount=10 + i, arrears_type="水费")
    province = Province()
    port = province.port
    province.failing = 2  # refused twice, then taken
    name = f"province-{RNG.randrange(10**6)}"
    outbound.save_target(store, catalog, {"name": name, "address": province.url}, "admin")
    service = _service(store, catalog, broker)
    try:
        _wait(lambda: len(province.applied) == 30, service)
        failed = outbound.ledger_rows(store, name)
        assert {int(r["attempts"]) for r in failed} == {3} and {r["state"] for r in failed} == {
            "acked"
        }
        province.stop()  # the province goes down; meanwhile records arrive
        for i in range(30, 40):
            insert(store, arrears, ENT, f"f-{i}", arrears_amount=10 + i, arrears_type="水费")
        _wait(lambda: len(outbound.ledger_rows(store, name, "failed")) == 10, service)
    finally:
        service.stop()
    # the broker loses the topic while both sides are down (Tansu keeps topics in memory)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = outbound.topic_of(name)
    admin.delete_topics([topic])[topic].result()
    back = Province(port)  # the province comes back on its address
    back.applied = dict(province.applied)  # what it had applied before the outage
    service = _service(store, catalog, broker)  # the platform starts again
    try:
        _wait(lambda: len(back.applied) == 40, service)
        time.sleep(1)
        assert sorted(k for _, k, _ in back.actions()) == sorted(f"f-{i}" for i in range(40))
        assert sum(len(p["deliveries"]) for p in back.posts) == 10  # only the ten it lacked
    finally:
        service.stop()
        back.stop()


def test_a_file_drop_target_gets_whole_files_and_never_the_records_it_returned(
    store: Store, catalog: Catalog, broker: EmbeddedBroker, tmp_path: Path
) -> None:
    licence = catalog.get("ent_business_licence")
    insert(store, licence, ENT, "l-1")
    insert(store, licence, ENT2, "l-2", provider=RETURN)
    folder = tmp_path / "exchange"
    name = f"dsj-{RNG.randrange(10**6)}"
    outbound.save_target(store, catalog, {"name": name, "kind": "directory", "address": str(folder),
                                          "classes": [licence.code], "returns_as": RETURN}, "admin")  # fmt: skip
    service = _service(store, catalog, broker)
    try:
        _wait(lambda: any(folder.glob("*.jsonl")), service)
    finally:
        service.stop()
    lines = [
        json.loads(line)
        for f in sorted(folder.glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert [(d["action"], d["record_key"]) for d in lines] == [("upsert", "l-1")]
    assert lines[0]["record"] and lines[0]["provenance"]["ingest_provider"] != RETURN
    assert not list(folder.glob(".*.tmp"))


def test_a_bulk_push_to_a_bank_by_region_and_industry_carries_public_records_only(
    store: Store, catalog: Catalog, broker: EmbeddedBroker, province: Province
) -> None:
    """Seed 004 #6: 对依法公开的信息 … 按照区域、行业等维度批量推送. A bank's feed of district
    320281's manufacturers gets their public records; not their authorized-only ones, not
    another district's, not another industry's — until that company's industry changes."""
    penalty, power = catalog.get("ent_admin_penalty"), catalog.get("ent_power_arrears")
    industry = catalog.get("ent_industry")
    here, elsewhere, trader = ENT, ENT2, random_uscc(RNG)
    for code, ind in ((here, "C 制造业"), (elsewhere, "C 制造业"), (trader, "F 批发和零售业")):
        insert(store, industry, code, f"ind-{code}", industry=ind,
               district="320282" if code == elsewhere else "320281")  # fmt: skip
        insert(store, penalty, code, f"pen-{code}",
               district="320282" if code == elsewhere else "320281")  # fmt: skip
    insert(store, power, here, "pow-1", provider="供电公司")  # authorized-only
    name = f"bank-{RNG.randrange(10**6)}"
    outbound.save_target(store, catalog, {"name": name, "address": province.url,
                                          "public_only": True, "districts": "320281",
                                          "industries": ["制造业"]}, "admin")  # fmt: skip
    service = _service(store, catalog, broker)
    try:
        _wait(lambda: len(province.applied) >= 2, service)
        time.sleep(1)
        service.run_once()
        assert sorted(k for _, k, _ in province.actions()) == [f"ind-{here}", f"pen-{here}"]
        insert(store, industry, trader, f"ind-{trader}", version=2, industry="C 制造业")
        _wait(lambda: len(province.applied) == 4, service)
        assert sorted(k for _, k, _ in province.actions()) == sorted(
            [f"ind-{here}", f"pen-{here}", f"ind-{trader}", f"pen-{trader}"])  # fmt: skip
    finally:
        service.stop()
    with pytest.raises(GovernanceError, match="districts"):
        outbound.save_target(store, catalog, {"name": "x", "address": province.url,
                                              "districts": "江阴"}, "admin")  # fmt: skip


def test_a_connector_whose_thread_ended_is_started_again(
    store: Store, catalog: Catalog, broker: EmbeddedBroker, province: Province
) -> None:
    """A connector's thread ends when the broker fails it; the next round starts a new one
    and the records still arrive."""
    name = f"province-{RNG.randrange(10**6)}"
    outbound.save_target(store, catalog, {"name": name, "address": province.url}, "admin")
    service = _service(store, catalog, broker)
    try:
        service.run_once()
        first = service.connectors[name]
        first.stop()  # as if the broker had failed it
        assert not first.alive()
        insert(store, catalog.get("legal_arrears"), ENT, "after-stop", arrears_type="水费")
        _wait(lambda: any(k == "after-stop" for _, k, _ in province.actions()), service)
        assert service.connectors[name] is not first and service.connectors[name].alive()
    finally:
        service.stop()
