"""`GET /api/provider/calendar`: a provider's own reporting calendar (the console's
calendar): each class its department reports, by cycle, with the period due, the next due
day, the last delivery and whether it is late — judged as the credit office's collection
statistics judge it (`sinks.read.collection`), working days included."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web

from credit.api.access import identity_of
from credit.api.http_json import json_response
from sinks.read.collection import collection_stats

if TYPE_CHECKING:
    from credit.api.app import ApiContext

CALENDAR_FIELDS = ("class_code", "class_name", "cycle", "district", "due_period", "next_due",
                   "last_deadline", "last_arrival", "status", "late", "days_late")  # fmt: skip


def _calendar(ctx: ApiContext, department: str, today: dt.date) -> list[dict[str, Any]]:
    rows = collection_stats(ctx.store, ctx.catalog, today, include_missing=True,
                            calendar=ctx.calendar.lenient(), department=department)  # fmt: skip
    return [{k: r.get(k) for k in CALENDAR_FIELDS} for r in rows if r["level"] != "rollup"]


async def calendar(ctx: ApiContext, request: web.Request) -> web.Response:
    me = identity_of(request)
    if me is None or me.role != "provider":
        return json_response({"error": "auth.role", "message": "a provider key shows its own "
                              "calendar / 仅信息提供单位可查看本单位的报送日历"}, 403)  # fmt: skip
    today = dt.date.today()
    rows = await ctx.run(_calendar, ctx, me.department, today)
    return json_response({"department": me.department, "today": today, "classes": rows})


def add_provider_routes(app: web.Application, ctx: ApiContext) -> None:
    app.router.add_get("/api/provider/calendar", partial(calendar, ctx))
