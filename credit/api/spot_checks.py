"""Spot checks over HTTP (抽查, seed 003): the credit office draws a sample of a department's
records (`POST /api/spotchecks`), reviewers judge each (`POST /api/spotchecks/{id}/judge`),
the office closes the check with the 漏报 found (`POST /api/spotchecks/{id}/close`); the
office reads them (`GET /api/spotchecks[?department=]`, `GET /api/spotchecks/{id}`)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from aiohttp import web

from credit.api.governance import Call, GovernanceHandler, Today, add_guarded_routes, read_body
from credit.api.http_json import json_response
from sinks.exceptions import GovernanceError
from sinks.read import spot_checks as sc

if TYPE_CHECKING:
    from credit.api.app import ApiContext


def _int(value: object, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise GovernanceError(f"{name}: a whole number, not {value!r}") from None


async def create(call: Call) -> web.Response:
    body = await read_body(call.request)
    size = _int(body.get("size", 20), "size")
    row = await call.ctx.run(lambda: sc.new_check(
        call.store, call.ctx.catalog, str(body.get("department", "")).strip(),
        str(body.get("class_code", "")).strip(), size, call.me.name))  # fmt: skip
    return json_response(row, 201)


async def listing(call: Call) -> web.Response:
    department = call.request.query.get("department", "").strip() or None
    return json_response({"checks": await call.ctx.run(sc.list_checks, call.store, department)})


async def show(call: Call) -> web.Response:
    return json_response(await call.ctx.run(sc.get_check, call.store,
                                            call.request.match_info["check_id"]))  # fmt: skip


async def judge(call: Call) -> web.Response:
    body = await read_body(call.request)
    row = await call.ctx.run(lambda: sc.judge(
        call.store, call.request.match_info["check_id"], str(body.get("record_key", "")),
        str(body.get("verdict", "")), str(body.get("note", "")), call.me.name))  # fmt: skip
    return json_response(row)


async def close(call: Call) -> web.Response:
    body = await read_body(call.request)
    omissions = _int(body.get("omissions", 0), "omissions")
    row = await call.ctx.run(lambda: sc.close_check(
        call.store, call.request.match_info["check_id"], omissions, str(body.get("note", "")),
        call.me.name))  # fmt: skip
    return json_response(row)


ROUTES: tuple[tuple[str, str, GovernanceHandler], ...] = (
    ("POST", "/api/spotchecks", create),
    ("GET", "/api/spotchecks", listing),
    ("GET", "/api/spotchecks/{check_id}", show),
    ("POST", "/api/spotchecks/{check_id}/judge", judge),
    ("POST", "/api/spotchecks/{check_id}/close", close),
)


def add_spot_check_routes(
    app: web.Application, ctx: ApiContext, today: Today = dt.date.today
) -> None:
    add_guarded_routes(app, ctx, ROUTES, today)
