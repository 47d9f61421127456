"""Red and black lists in use: the public notice (`GET /api/public/lists`, no token, seed 002
三(二)1: 实时在市级信用网站上公示) and the joint rewards and sanctions look-up for departments
(`GET /api/sanctions/{code}?purpose=`, seed 003 第十九条), which is written to the usage log
with the asking department and its purpose.

Both read the lists at the moment of asking (`sinks.read.lists`), leaving out what an
objection withholds or a repair took out of public view.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from credit.api.access import identity_of, refuse
from credit.api.governance import Today
from credit.api.http_json import json_response
from schemas.codes import mask_value, normalize_code
from schemas.list_rules import ListRules, default_list_rules
from sinks.read import governance as gov
from sinks.read.lists import current_entries

if TYPE_CHECKING:
    from credit.api.app import ApiContext

MAX_PAGE = 1000


def _page(request: web.Request) -> tuple[int, int] | str:
    raw = {k: request.query.get(k, d) for k, d in (("limit", "100"), ("offset", "0"))}
    if not all(v.isdigit() for v in raw.values()) or not 1 <= int(raw["limit"]) <= MAX_PAGE:
        return f"limit: 1 to {MAX_PAGE}, offset: 0 or more / 分页参数无效"
    return int(raw["limit"]), int(raw["offset"])


async def public_lists(ctx: ApiContext, rules: ListRules, today: Today,
                       request: web.Request) -> web.Response:  # fmt: skip
    """`?kind=red|black`, `?q=` (part of a name), `?limit=` (100), `?offset=`."""
    kind = request.query.get("kind") or None
    if kind not in (None, "red", "black"):
        return refuse(400, "request.kind", "kind: red or black / 名单类别应为 red 或 black")
    page = _page(request)
    if isinstance(page, str):
        return refuse(400, "request.page", page)
    name = request.query.get("q", "").strip() or None
    day = today()

    def read() -> list[dict[str, Any]]:
        return current_entries(ctx.store, ctx.catalog, rules, day, kind=kind, name=name)

    entries = await ctx.run(read)
    limit, offset = page
    return json_response({"as_of": day, "kind": kind or "all", "total": len(entries),
                          "entries": entries[offset:offset + limit]})  # fmt: skip


async def sanctions(ctx: ApiContext, rules: ListRules, today: Today,
                    request: web.Request) -> web.Response:  # fmt: skip
    """A subject's current list entries and the measures that apply (联合奖惩)."""
    me = identity_of(request)
    if me is None:
        return refuse(401, "auth.token", "no identity: the access middleware is not installed")
    purpose = request.query.get("purpose", "").strip()
    if not purpose:
        return refuse(400, "request.purpose", "give ?purpose= (e.g. 政府采购资格审查): every "
                      "look-up is logged with its purpose / 请说明查询用途")  # fmt: skip
    code, day = normalize_code(request.match_info["code"]), today()

    def look_up() -> list[dict[str, Any]]:
        found = current_entries(ctx.store, ctx.catalog, rules, day, subject=code)
        gov.record_read(ctx.store, gov.Reader(me.role, me.name, me.org), code, "sanctions",
                        purpose, detail=f"{len(found)} list entries")  # fmt: skip
        return found

    entries = await ctx.run(look_up)
    kinds = {str(e["list"]) for e in entries}
    return json_response({
        "subject": entries[0]["subject"] if entries else mask_value(code), "as_of": day,
        "purpose": purpose, "on_black_list": "black" in kinds, "on_red_list": "red" in kinds,
        "entries": entries,
        "measures": {k: [m.model_dump() for m in found] for k, found in rules.measures.items()
                     if k in kinds},
    })  # fmt: skip


def add_list_routes(app: web.Application, ctx: ApiContext, today: Today = dt.date.today,
                    rules: ListRules | None = None) -> None:  # fmt: skip
    rules = rules or default_list_rules()
    app.router.add_get("/api/public/lists", partial(public_lists, ctx, rules, today))
    app.router.add_get("/api/sanctions/{code}", partial(sanctions, ctx, rules, today))
