"""Borrower monitoring over HTTP (seed 004 #8): a bank watches its authorized borrowers
(`POST /api/watchlist`), lists and removes its watches, and reads its alerts
(`GET /api/alerts`) — pushed to its webhook by `credit.watch_service` as well. Admins see every
institution's. Watching is a read of the subject: it goes to the usage log with its purpose."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from aiohttp import web

from credit.api.governance import Call, GovernanceHandler, Today, add_guarded_routes, read_body
from credit.api.http_json import json_response
from sinks.exceptions import ForbiddenError, GovernanceError
from sinks.read import governance as gov
from sinks.read import watchlists

if TYPE_CHECKING:
    from credit.api.app import ApiContext


def _institution(call: Call, asked: str = "") -> str | None:
    """A bank acts for its own institution; an admin for the one it names (or all: None)."""
    if call.me.role == "bank":
        return call.me.institution
    return asked.strip() or None


async def watch(call: Call) -> web.Response:
    body = await read_body(call.request)
    institution = _institution(call, str(body.get("institution", "")))
    if not institution:
        raise GovernanceError("give the institution that watches (institution)")
    purpose = str(body.get("purpose", "")).strip() or "贷后监测"
    row = await call.ctx.run(lambda: watchlists.add_watch(
        call.store, institution, str(body.get("subject", "")), str(body.get("webhook", "")),
        call.me.name, call.today))  # fmt: skip
    await call.ctx.run(lambda: gov.record_read(
        call.store, gov.Reader(call.me.role, call.me.name, institution), row["subject_id"],
        "watch", purpose, detail=row["watch_id"]))  # fmt: skip
    return json_response(row, 201)


async def watches(call: Call) -> web.Response:
    institution = _institution(call, call.request.query.get("institution", ""))
    rows = await call.ctx.run(watchlists.list_watches, call.store, institution)
    return json_response({"watches": rows})


async def unwatch(call: Call) -> web.Response:
    wid = call.request.match_info["watch_id"]
    row = await call.ctx.run(watchlists.get_watch, call.store, wid)
    if call.me.role == "bank" and row["institution"] != call.me.institution:
        raise ForbiddenError(f"watch {wid} belongs to another institution")
    return json_response(await call.ctx.run(watchlists.remove_watch, call.store, wid))


async def alerts(call: Call) -> web.Response:
    raw = call.request.query.get("since", "")
    try:
        since = dt.datetime.fromisoformat(raw) if raw else None
    except ValueError as exc:
        raise GovernanceError(f"since: an ISO date-time, not {raw!r}") from exc
    institution = _institution(call, call.request.query.get("institution", ""))
    rows = await call.ctx.run(watchlists.alerts_of, call.store, institution, since)
    return json_response({"alerts": rows})


ROUTES: tuple[tuple[str, str, GovernanceHandler], ...] = (
    ("POST", "/api/watchlist", watch),
    ("GET", "/api/watchlist", watches),
    ("POST", "/api/watchlist/{watch_id}/remove", unwatch),
    ("GET", "/api/alerts", alerts),
)


def add_watch_routes(app: web.Application, ctx: ApiContext, today: Today = dt.date.today) -> None:
    add_guarded_routes(app, ctx, ROUTES, today)
