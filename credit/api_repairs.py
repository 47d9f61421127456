"""Credit repair routes (信用修复, `sinks.repairs`):

* `POST /api/repairs` `{"class_code", "record_key", "grounds"}` — a subject for its own
  record (or an admin on its behalf), once the record's minimum publication period passed;
* `GET /api/repairs?subject=&status=` — a subject sees its own, the credit office all;
* `POST /api/repairs/{id}/approve|reject` `{"reason"}` — the credit office decides, within
  the working days of `publication.yaml`; an approval takes the record out of public and
  bank views at once.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from aiohttp import web

from credit.access import Identity
from credit.api_governance import Today, _body, _guarded, _json, _shown, class_of
from sinks import governance as gov
from sinks import repairs

if TYPE_CHECKING:
    from credit.api import ApiContext


def add_repair_routes(app: web.Application, ctx: ApiContext, today: Today = dt.date.today) -> None:
    store = ctx.store

    async def apply(request: web.Request, me: Identity) -> web.Response:
        body = await _body(request)
        cls = class_of(ctx, body)
        reader = gov.Reader(me.role, me.name, me.org)
        only = me.org if me.role == "subject" else None
        row = await ctx.run(lambda: repairs.apply_repair(
            store, cls, str(body.get("record_key", "")), reader, str(body.get("grounds", "")),
            today(), ctx.calendar, only))  # fmt: skip
        return _json(_shown(me, row, row["subject_id"]), 201)

    async def listing(request: web.Request, me: Identity) -> web.Response:
        subject = request.query.get("subject", "").strip().upper() or None
        if me.role == "subject":
            subject = me.org
        rows = await ctx.run(repairs.list_repairs, store, subject, request.query.get("status"))
        return _json({"repairs": [_shown(me, r, r["subject_id"]) for r in rows]})

    async def decide(request: web.Request, me: Identity) -> web.Response:
        body = await _body(request)
        rid, decision = request.match_info["repair_id"], request.match_info["decision"]
        row = await ctx.run(lambda: repairs.decide_repair(
            store, rid, decision, str(body.get("reason", "")), me.name, today()))  # fmt: skip
        await ctx.run(ctx.refigure, row["subject_id"])  # an approved repair leaves the figures
        return _json(_shown(me, row, row["subject_id"]))

    app.router.add_post("/api/repairs", _guarded(apply))
    app.router.add_get("/api/repairs", _guarded(listing))
    app.router.add_post("/api/repairs/{repair_id}/{decision}", _guarded(decide))
