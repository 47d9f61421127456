"""POST /api/sql: analyst SQL, answered by the analysts' own engine (`credit analyst`).

The API only forwards, with a timeout, and logs: the query never runs in this process, so
ingestion and `/health` never wait on it, and it can only read what the analysts' engine
holds (`sinks.read.analyst_views`). Every request — answered or refused — goes to the usage log
with its text, its reader and its purpose (required of analysts and banks, as for any read).

Body: `{"sql": "SELECT …", "purpose": "…", "max_rows": 1000, "max_seconds": 10}`.
"""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from credit.api.access import identity_of, needs_purpose
from sinks.read import governance as gov

if TYPE_CHECKING:
    from credit.api.app import ApiContext

MAX_SQL_ROWS = 10_000
MAX_SQL_SECONDS = 60.0
MAX_LOGGED_SQL = 4000


def _answer(body: dict[str, Any], status: int = 200) -> web.Response:
    text = json.dumps(body, ensure_ascii=False, default=str)
    return web.Response(text=text, status=status, content_type="application/json")


def _refuse(status: int, error: str, message: str) -> web.Response:
    return _answer({"error": error, "message": message}, status)


def _request(body: Any) -> tuple[dict[str, Any], str] | web.Response:
    """The forwarded request and the purpose, or a 400."""
    if not isinstance(body, dict) or not isinstance(body.get("sql"), str):
        return _refuse(400, "request.shape", 'body must be {"sql": "SELECT …"} / 缺少 sql')
    try:
        max_rows = min(int(body.get("max_rows", 1000)), MAX_SQL_ROWS)
        max_seconds = min(float(body.get("max_seconds", 10)), MAX_SQL_SECONDS)
    except (TypeError, ValueError):
        return _refuse(400, "request.shape", "max_rows / max_seconds must be numbers / 应为数字")
    if max_rows < 1 or max_seconds <= 0:
        return _refuse(400, "request.shape", "max_rows and max_seconds must be positive")
    forward = {"sql": body["sql"], "max_rows": max_rows, "max_seconds": max_seconds}
    return forward, str(body.get("purpose") or "").strip()


async def sql(ctx: ApiContext, request: web.Request) -> web.Response:
    """POST /api/sql: forwarded to the analysts' engine, logged with its purpose."""
    try:
        parsed = _request(await request.json())
    except ValueError:
        parsed = _refuse(400, "request.shape", 'body must be JSON: {"sql": "SELECT …"}')
    if isinstance(parsed, web.Response):
        return parsed
    forward, purpose = parsed
    identity = identity_of(request)
    purpose = purpose or request.query.get("purpose", "").strip()
    if identity is not None and needs_purpose(identity.role) and not purpose:
        return _refuse(400, "request.purpose", 'give "purpose" (查询用途必填): every SQL read '
                       "is logged with its purpose")  # fmt: skip
    status, answer = await _forward(ctx.analyst_url, forward)
    if identity is not None:
        reader = gov.Reader(identity.role, identity.name, identity.org)
        outcome = "shown" if status == 200 else "refused"
        detail = str(forward["sql"])[:MAX_LOGGED_SQL]
        await ctx.run(lambda: gov.record_read(ctx.store, reader, "", "sql",
                                              purpose or identity.role, outcome=outcome,
                                              detail=detail))  # fmt: skip
    return _answer(answer, status)


def add_sql_route(app: web.Application, ctx: ApiContext) -> None:
    app.router.add_post("/api/sql", partial(sql, ctx))


async def _forward(url: str, forward: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if not url:
        return 503, {"error": "analyst.unavailable", "message": "no analyst SQL engine runs here "
                     "(set CREDIT_ANALYST_URL) / 分析查询服务未启用"}  # fmt: skip
    timeout = aiohttp.ClientTimeout(total=float(forward["max_seconds"]) + 10)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(f"{url}/sql", json=forward) as resp,
        ):
            body = await resp.json(content_type=None)
            return resp.status, body if isinstance(body, dict) else {"error": "analyst"}
    except (aiohttp.ClientError, TimeoutError) as exc:
        return 503, {"error": "analyst.unavailable",
                     "message": f"the analyst SQL engine did not answer: {exc or 'timeout'} "
                                "/ 分析查询服务暂不可用"}  # fmt: skip
