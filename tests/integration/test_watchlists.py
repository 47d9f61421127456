"""Borrower monitoring on the real chDB store, a real HTTP endpoint standing in for the bank,
and the real access middleware: a bank watches its authorized borrower only; a new negative
record of the borrower becomes one alert, pushed until the endpoint takes it, with the same
delivery id on every attempt and after a restart; an ended authorization ends the alerts."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from base.metrics import create_metrics
from credit.api.access import DEFAULT_RULES, AccessStore, access_middleware
from credit.api.app import ApiContext
from credit.api.watch import add_watch_routes
from credit.watch_service import WatchNotifier
from producers.apikeys import ApiKeyStore
from schemas.catalog import Catalog
from schemas.codes import random_uscc
from sinks.read import governance as gov
from sinks.store import Store
from tests.integration.test_governance import Api, Clock, insert, serve, shared_store, store

__all__ = ["shared_store", "store"]  # the governance tests' store fixtures
pytestmark = pytest.mark.integration

RNG = random.Random(24)
ENT, OTHER = random_uscc(RNG), random_uscc(RNG)
BANK = "江阴农商行"
TODAY = dt.date.today()


class Endpoint:
    """The bank's webhook: records every POST; answers 500 while `failing` > 0."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.failing = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.received.append((self.headers["Idempotency-Key"], body))
                status = 500 if endpoint.failing > 0 else 200
                endpoint.failing -= 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def endpoint() -> Iterator[Endpoint]:
    found = Endpoint()
    yield found
    found.server.shutdown()


def _app(store: Store, catalog: Catalog, data_dir: Path) -> web.Application:
    users, keys = AccessStore(data_dir / "access.json"), ApiKeyStore(data_dir / "api-keys.json")
    app = web.Application(middlewares=[access_middleware(users, keys, DEFAULT_RULES)])
    add_watch_routes(app, ApiContext(store, catalog, create_metrics(), dict), Clock(TODAY))
    return app


def test_a_bank_is_pushed_one_alert_per_new_negative_record_of_its_borrower(
    store: Store, catalog: Catalog, tmp_path: Path, endpoint: Endpoint
) -> None:
    users = AccessStore(tmp_path / "access.json")
    tokens = {"bank": users.issue("bank", "客户经理", BANK),
              "other_bank": users.issue("bank", "经理乙", "另一银行")}  # fmt: skip
    auth = gov.grant_authorization(store, ENT, BANK, "贷后管理", TODAY,
                                   TODAY + dt.timedelta(days=365), "admin")  # fmt: skip
    notifier = WatchNotifier(store, catalog, tmp_path, create_metrics())
    notifier.run_once()  # the watermark (each scan looks a minute further back)
    arrears, licence = catalog.get("legal_arrears"), catalog.get("ent_business_licence")
    insert(store, arrears, ENT, "a-0", arrears_amount=100, arrears_type="水费")  # before the watch

    async def watch(api: Api) -> None:
        status, row = await api("POST", "/api/watchlist", "bank",
                                json={"subject": ENT, "webhook": endpoint.url})  # fmt: skip
        assert status == 201 and row["institution"] == BANK
        status, refused = await api("POST", "/api/watchlist", "bank", json={"subject": OTHER})
        assert status == 403 and "authorization" in refused["message"]
        status, _ = await api("POST", "/api/watchlist", "bank",
                              json={"subject": ENT, "webhook": "ftp://x"})  # fmt: skip
        assert status == 400

    serve(_app(store, catalog, tmp_path), tokens, watch)
    insert(store, arrears, ENT, "a-1", arrears_amount=500, arrears_type="水费")
    insert(store, arrears, OTHER, "a-2", arrears_amount=900, arrears_type="水费")  # not watched
    insert(store, licence, ENT, "l-1")  # not negative: no alert
    endpoint.failing = 1
    assert notifier.run_once() == (1, 0)  # made, refused by the endpoint once
    notifier._next_try.clear()  # the pause is over
    assert notifier.run_once() == (0, 1)
    assert notifier.run_once() == (0, 0)  # nothing new, nothing twice
    assert WatchNotifier(store, catalog, tmp_path, create_metrics()).run_once() == (0, 0)
    keys = {key for key, _ in endpoint.received}
    assert len(endpoint.received) == 2 and len(keys) == 1  # one alert, one delivery id
    body = endpoint.received[-1][1]
    assert (body["subject"], body["class_code"], body["kind"]) == (ENT, "legal_arrears", "negative")
    assert "arrears_amount" not in json.dumps(body)  # the alert, not the record

    gov.revoke_authorization(store, auth["auth_id"], "admin")  # the borrower withdrew consent
    insert(store, arrears, ENT, "a-3", arrears_amount=700, arrears_type="电费")
    assert notifier.run_once() == (0, 0)

    async def read(api: Api) -> None:
        status, answer = await api("GET", "/api/alerts", "bank")
        assert status == 200 and [a["record_key"] for a in answer["alerts"]] == ["a-1"]
        assert answer["alerts"][0]["delivered_at"] and answer["alerts"][0]["attempts"] == 2
        assert (await api("GET", "/api/alerts", "other_bank"))[1]["alerts"] == []
        watches = (await api("GET", "/api/watchlist", "bank"))[1]["watches"]
        status, _ = await api("POST", f"/api/watchlist/{watches[0]['watch_id']}/remove",
                              "other_bank")  # fmt: skip
        assert status == 403
        status, removed = await api("POST", f"/api/watchlist/{watches[0]['watch_id']}/remove",
                                    "bank")  # fmt: skip
        assert status == 200 and removed["removed_at"]

    serve(_app(store, catalog, tmp_path), tokens, read)
    reads = [(r["reader"], r["what"]) for r in gov.reads_of(store, ENT)]
    assert ("客户经理", "watch") in reads  # watching is a read, in the usage log
