"""The HTTP file upload's own limits, without a broker: size, names, shape."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from producers import file_gateway
from producers.apikeys import ApiKeyStore
from producers.durable_intake import DurableIntake
from producers.file_gateway import safe_name
from producers.gateway import Gateway
from schemas.catalog import default_catalog


def _app(tmp_path: Path) -> tuple[web.Application, str]:
    catalog = default_catalog()
    keys = ApiKeyStore(tmp_path / "api-keys.json")
    key = keys.issue(catalog, "水务", "供水公司")
    gateway = Gateway(catalog, keys, lambda _p: pytest.fail("nothing is published"), 10,
                      DurableIntake(tmp_path / "intake"), None, max_file_bytes=1000)  # fmt: skip
    app = web.Application()
    gateway.add_routes(app)
    file_gateway.add_routes(app, gateway)
    return app, key


def test_a_file_over_the_limit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    app, key = _app(tmp_path)

    async def main() -> list[tuple[int, str]]:
        async with TestClient(TestServer(app)) as client:
            out = []
            form = aiohttp.FormData()
            form.add_field("file", b"x" * 5000, filename="big.csv", content_type="text/csv")
            for kw in ({"data": form}, {"data": b"y" * 5000, "params": {"filename": "b.csv"}}):
                resp = await client.post("/api/files/legal_arrears",
                                         headers={"Authorization": f"Bearer {key}"}, **kw)  # fmt: skip
                out.append((resp.status, (await resp.json())["error"]))
            nameless = await client.post("/api/files/legal_arrears", data=b"z",
                                         headers={"Authorization": f"Bearer {key}"})  # fmt: skip
            out.append((nameless.status, (await nameless.json())["error"]))
            return out

    assert asyncio.run(main()) == [
        (413, "request.too_large"),
        (413, "request.too_large"),
        (400, "request.shape"),
    ]
    assert not [p for p in (tmp_path / "incoming").rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("../../etc/passwd", "passwd"), ("C:\\Users\\张三\\十月.xlsx", "十月.xlsx"),
     ("a;b|c.csv", "a_b_c.csv"), ("", "upload")],
)  # fmt: skip
def test_a_client_file_name_cannot_leave_its_folder(sent: str, kept: str) -> None:
    assert safe_name(sent) == kept
