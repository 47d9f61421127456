"""Credit repair routes (信用修复, `sinks.read.repairs`):

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

from credit.api.governance import (
    Call,
    GovernanceHandler,
    Today,
    add_guarded_routes,
    class_of,
    read_body,
    shown_to,
)
from credit.api.http_json import json_response
from sinks.read import governance as gov
from sinks.read import repairs

if TYPE_CHECKING:
    from credit.api.app import ApiContext


async def apply(call: Call) -> web.Response:
    body = await read_body(call.request)
    cls, me = class_of(call.ctx, body), call.me
    reader = gov.Reader(me.role, me.name, me.org)
    only = me.org if me.role == "subject" else None
    row = await call.ctx.run(lambda: repairs.apply_repair(
        call.store, cls, str(body.get("record_key", "")), reader, str(body.get("grounds", "")),
        call.today, call.ctx.calendar, only))  # fmt: skip
    return json_response(shown_to(me, row, row["subject_id"]), 201)


async def listing(call: Call) -> web.Response:
    """A subject sees its own repairs; the credit office any subject's, or all."""
    query = call.request.query
    subject = query.get("subject", "").strip().upper() or None
    if call.me.role == "subject":
        subject = call.me.org
    rows = await call.ctx.run(repairs.list_repairs, call.store, subject, query.get("status"))
    return json_response({"repairs": [shown_to(call.me, r, r["subject_id"]) for r in rows]})


async def decide(call: Call) -> web.Response:
    body = await read_body(call.request)
    rid, decision = call.request.match_info["repair_id"], call.request.match_info["decision"]
    row = await call.ctx.run(lambda: repairs.decide_repair(
        call.store, rid, decision, str(body.get("reason", "")), call.me.name, call.today))  # fmt: skip
    await call.ctx.run(call.ctx.refigure, row["subject_id"])  # an approved repair leaves figures
    return json_response(shown_to(call.me, row, row["subject_id"]))


ROUTES: tuple[tuple[str, str, GovernanceHandler], ...] = (
    ("POST", "/api/repairs", apply),
    ("GET", "/api/repairs", listing),
    ("POST", "/api/repairs/{repair_id}/{decision}", decide),
)


def add_repair_routes(app: web.Application, ctx: ApiContext, today: Today = dt.date.today) -> None:
    add_guarded_routes(app, ctx, ROUTES, today)
