"""Outbound targets over HTTP (issue 23): the credit office adds, changes and removes the
systems stored records flow to (`POST /api/outbound/targets`), and reads each target's ledger
— sent, acknowledged, failing, lag, share ratio (`GET /api/outbound`) — and its latest
changes (`GET /api/outbound/ledger?target=`). Delivery itself is `credit.outbound`'s."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from aiohttp import web

from credit.api.governance import Call, GovernanceHandler, Today, add_guarded_routes, read_body
from credit.api.http_json import json_response
from sinks.exceptions import GovernanceError
from sinks.read import outbound

if TYPE_CHECKING:
    from credit.api.app import ApiContext


async def summary(call: Call) -> web.Response:
    rows = await call.ctx.run(outbound.ledger_summary, call.store, call.ctx.catalog)
    return json_response({"targets": rows})


async def targets(call: Call) -> web.Response:
    every = call.request.query.get("removed", "") in ("1", "true", "yes")
    return json_response({"targets": await call.ctx.run(outbound.list_targets, call.store, every)})


async def save(call: Call) -> web.Response:
    body = await read_body(call.request)
    row = await call.ctx.run(outbound.save_target, call.store, call.ctx.catalog, body,
                             call.me.name)  # fmt: skip
    return json_response(row, 201)


async def remove(call: Call) -> web.Response:
    name = call.request.match_info["name"]
    return json_response(await call.ctx.run(outbound.remove_target, call.store, name))


async def ledger(call: Call) -> web.Response:
    q = call.request.query
    name = q.get("target", "")
    await call.ctx.run(outbound.get_target, call.store, name)  # 404 for an unknown target
    try:
        limit = min(int(q.get("limit", "200")), 5000)
    except ValueError as exc:
        raise GovernanceError(f"limit: a number, not {q.get('limit')!r}") from exc
    rows = await call.ctx.run(outbound.ledger_rows, call.store, name, q.get("state", ""), limit)
    return json_response({"target": name, "changes": rows})


ROUTES: tuple[tuple[str, str, GovernanceHandler], ...] = (
    ("GET", "/api/outbound", summary),
    ("GET", "/api/outbound/targets", targets),
    ("POST", "/api/outbound/targets", save),
    ("POST", "/api/outbound/targets/{name}/remove", remove),
    ("GET", "/api/outbound/ledger", ledger),
)


def add_outbound_routes(
    app: web.Application, ctx: ApiContext, today: Today = dt.date.today
) -> None:
    add_guarded_routes(app, ctx, ROUTES, today)
