"""The routes the console's office pages stand on, behind the real access middleware: who a
token is, tokens and provider keys issued, listed and revoked over HTTP (and refused to
anyone but the credit office), held uploads listed per caller, objection deadlines."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from base.metrics import create_metrics
from credit.api.access import AccessStore, build_access
from credit.api.admin import Accounts, add_admin_routes
from credit.api.app import ApiContext, build_api
from producers.apikeys import ApiKeyStore
from producers.gateway import Gateway
from schemas.catalog import Catalog
from schemas.registry_store import RegistryStore
from sinks.store import Store

pytestmark = pytest.mark.integration

Scenario = Callable[[Callable[..., Awaitable[tuple[int, Any]]]], Awaitable[None]]
HELD = [
    {"upload_id": "u-water", "provider": "水务集团", "class_code": "legal_arrears", "held": "30%"},
    {"upload_id": "u-power", "provider": "供电公司", "class_code": "legal_arrears", "held": "40%"},
]


def _serve(store: Store, catalog: Catalog, data_dir: Path, scenario: Scenario) -> None:
    ctx = ApiContext(store, catalog, create_metrics(), lambda: {"ready": True})
    ctx.held_uploads = lambda: [dict(h) for h in HELD]
    keys = ApiKeyStore(data_dir / "api-keys.json")
    gateway = Gateway(catalog, keys, lambda _p: pytest.fail("no publishing here"), 10)
    app = build_api(ctx, RegistryStore(data_dir / "registry.json"), gateway, 1 << 20,
                    [build_access(data_dir)])  # fmt: skip
    add_admin_routes(app, Accounts(ctx, AccessStore(data_dir / "access.json"), keys))

    async def main() -> None:
        async with TestClient(TestServer(app)) as client:

            async def call(method: str, path: str, token: str = "", **kw: Any) -> tuple[int, Any]:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                async with client.request(method, path, headers=headers, **kw) as resp:
                    return resp.status, await resp.json()

            await scenario(call)

    asyncio.run(main())


@pytest.fixture()
def store(chdb_path: Path, catalog: Catalog) -> Store:
    from sinks.store import open_embedded

    return open_embedded(chdb_path, "t_console_api")  # no table is read here


def test_the_office_issues_lists_and_revokes_tokens_and_keys_over_http(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    analyst = AccessStore(tmp_path / "access.json").issue("analyst", "分析员甲")

    async def scenario(call: Callable[..., Awaitable[tuple[int, Any]]]) -> None:
        admin = (tmp_path / "admin-token").read_text().strip()
        assert await call("GET", "/api/whoami", analyst) == (
            200, {"role": "analyst", "name": "分析员甲", "org": ""})  # fmt: skip
        assert (await call("GET", "/api/whoami"))[0] == 401
        assert (await call("GET", "/api/whoami", "ct_forged"))[0] == 401
        for method, path in (("GET", "/api/access/tokens"), ("POST", "/api/access/tokens"),
                             ("GET", "/api/access/keys"), ("POST", "/api/access/keys")):  # fmt: skip
            status, answer = await call(method, path, analyst, json={})
            assert (status, answer["error"]) == (403, "auth.role"), path

        status, bank = await call("POST", "/api/access/tokens", admin, json={
            "role": "bank", "name": "客户经理", "org": "南通银行", "hours": 2})  # fmt: skip
        assert status == 201 and bank["token"].startswith("ct_") and bank["state"] == "active"
        assert (await call("GET", "/api/whoami", bank["token"]))[1]["org"] == "南通银行"
        listed = (await call("GET", "/api/access/tokens", admin))[1]["tokens"]
        assert {t["name"] for t in listed} >= {"分析员甲", "客户经理", "local-admin"}
        assert all("hash" not in t and "token" not in t for t in listed)
        for bad, field in (({"role": "king", "name": "x"}, "role"),
                           ({"role": "bank", "name": "y", "hours": -1}, "hours"),
                           ({"role": "subject", "name": "z"}, "subject")):  # fmt: skip
            status, answer = await call("POST", "/api/access/tokens", admin, json=bad)
            assert status == 400 and field in answer["message"], answer
        status, revoked = await call("POST", f"/api/access/tokens/{bank['token_id']}/revoke", admin)
        assert status == 200 and revoked["state"] == "revoked"
        assert (await call("GET", "/api/whoami", bank["token"]))[0] == 401
        assert (await call("POST", "/api/access/tokens/nope/revoke", admin))[0] == 400

        status, key = await call("POST", "/api/access/keys", admin, json={
            "provider": "水务集团", "department": "供水公司"})  # fmt: skip
        assert status == 201 and key["key"].startswith("ck_") and key["classes"]
        assert await call("GET", "/api/whoami", key["key"]) == (
            200, {"role": "provider", "name": "水务集团", "org": "供水公司"})  # fmt: skip
        status, answer = await call("POST", "/api/access/keys", admin, json={
            "provider": "某公司", "department": "不存在的部门"})  # fmt: skip
        assert status == 400 and "不存在的部门" in answer["message"]
        status, rotated = await call("POST", "/api/access/keys", admin, json={
            "provider": "水务集团", "rotate": True})  # fmt: skip
        assert status == 201 and (await call("GET", "/api/whoami", key["key"]))[0] == 401
        status, revoked = await call("POST", "/api/access/keys/水务集团/revoke", admin)
        assert status == 200 and revoked["state"] == "revoked"
        assert (await call("GET", "/api/whoami", rotated["key"]))[0] == 401
        listed = (await call("GET", "/api/access/keys", admin))[1]["keys"]
        assert [(k["provider"], k["state"]) for k in listed] == [("水务集团", "revoked")]
        status, again = await call(
            "POST", "/api/access/keys", admin, json={"provider": "水务集团", "rotate": True}
        )  # a rotation after a revocation works
        assert status == 201 and (await call("GET", "/api/whoami", again["key"]))[0] == 200

    _serve(store, catalog, tmp_path, scenario)


def test_held_uploads_are_listed_to_the_office_and_to_their_own_provider_only(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    water = ApiKeyStore(tmp_path / "api-keys.json").issue(catalog, "水务集团", "供水公司")
    analyst = AccessStore(tmp_path / "access.json").issue("analyst", "分析员甲")

    async def scenario(call: Callable[..., Awaitable[tuple[int, Any]]]) -> None:
        admin = (tmp_path / "admin-token").read_text().strip()
        status, answer = await call("GET", "/api/uploads?state=held", admin)
        assert status == 200 and [u["upload_id"] for u in answer["uploads"]] == [
            "u-water", "u-power"]  # fmt: skip
        answer = (await call("GET", "/api/uploads", water))[1]
        assert [u["upload_id"] for u in answer["uploads"]] == ["u-water"]
        assert (await call("GET", "/api/uploads", analyst))[0] == 403
        assert (await call("GET", "/api/uploads?state=done", admin))[0] == 400

    _serve(store, catalog, tmp_path, scenario)


def test_a_token_issued_over_http_expires_like_one_from_the_cli(
    store: Store, catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(call: Callable[..., Awaitable[tuple[int, Any]]]) -> None:
        admin = (tmp_path / "admin-token").read_text().strip()
        status, answer = await call("POST", "/api/access/tokens", admin, json={
            "role": "analyst", "name": "临时", "hours": 0.5})  # fmt: skip
        assert status == 201
        expires = dt.datetime.fromisoformat(answer["expires_at"])
        assert dt.timedelta(minutes=29) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(
            minutes=30)  # fmt: skip
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=31)
        monkeypatch.setattr("credit.api.access._now", lambda: later)
        status, refused = await call("GET", "/api/whoami", answer["token"])
        assert status == 401 and "expired" in refused["message"]

    _serve(store, catalog, tmp_path, scenario)
