"""HTTP routes of the analyst reports: credit report, risk monitor, black-list news,
collection statistics and census (handlers over `sinks.reports`; analyst SQL is
`credit.api_sql`).

Store calls block (chDB runs in-process), so every handler goes through `ApiContext.run`.
Bad parameters answer 400 with the reason in Chinese and English; nothing here writes.

Two hooks connect the routes to governance without tying them to it: `withheld` gives the
record keys under objection (`sinks.governance.withheld_record_keys` fits), `authorized`
says whether the caller may see a subject's authorized-only classes (graded disclosure,
seed 004). Without the latter the credit report is the public one: never a query parameter
anyone could set.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sinks import reports, risk
from sinks.exceptions import QueryError

if TYPE_CHECKING:
    from credit.api import ApiContext
    from sinks.store import Store

# Record keys no report may show (objections); `sinks.governance.withheld_record_keys` fits.
WithheldLookup = Callable[["Store"], frozenset[str]]
# May the caller of this request see the authorized-only classes of this subject code?
AuthorizedCheck = Callable[[web.Request, str], Awaitable[bool]]
Handler = Callable[[web.Request], Awaitable[web.Response]]
BLACKLIST_DEFAULT_DAYS = 30


class BadParameter(ValueError):
    """A query parameter a client sent that cannot be used."""


def _json(data: Any, status: int = 200) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, default=str)
    return web.Response(text=body, status=status, content_type="application/json")


def _date(request: web.Request, name: str) -> dt.date | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise BadParameter(
            f"{name}: expected YYYY-MM-DD, got {raw!r} / 日期格式应为 YYYY-MM-DD"
        ) from exc


def _int(request: web.Request, name: str, default: int, low: int = 0, high: int = 100_000) -> int:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadParameter(f"{name}: expected an integer, got {raw!r} / 应为整数") from exc
    if not low <= value <= high:
        raise BadParameter(f"{name}: must be between {low} and {high} / 超出范围")
    return value


def _district(request: web.Request) -> str | None:
    """`?district=`: a 市/区 code or its prefix (2 to 6 digits; `3202` is the whole city)."""
    raw = request.query.get("district", "").strip()
    if raw and not (raw.isdigit() and 2 <= len(raw) <= 6):
        raise BadParameter(
            f"district: expected 2 to 6 digits of a 市/区 code, got {raw!r} / 区划代码应为 2–6 位数字"
        )
    return raw or None


def _flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    return default if value is None else value.lower() in ("1", "true", "yes")


def _answers_400(handler: Handler) -> Handler:
    """Bad parameters and refused SQL answer 400 with the reason (not a 500)."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except (BadParameter, QueryError) as exc:
            return _json({"error": str(exc)}, 400)

    return guarded


async def _public_only(_request: web.Request, _code: str) -> bool:
    return False


def _nothing_withheld(_store: Store) -> frozenset[str]:
    return frozenset()


def add_report_routes(
    app: web.Application,
    ctx: ApiContext,
    *,
    withheld: WithheldLookup = _nothing_withheld,
    authorized: AuthorizedCheck = _public_only,
    subject_handler: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None,
) -> None:
    """Register the report routes on `app` (hooks: see the module docstring).

    `subject_handler` replaces the plain subject report (the platform passes the governed
    one: authorization, withheld records, usage log).
    """
    routes = web.RouteTableDef()

    @_answers_400
    async def subject(request: web.Request) -> web.Response:
        code, as_of = request.match_info["code"], _date(request, "as_of")
        wide = await authorized(request, code)
        keys = await ctx.run(withheld, ctx.store)
        report = await ctx.run(
            lambda: reports.subject_report(
                ctx.store,
                ctx.catalog,
                code,
                include_authorized=wide,
                withheld_record_keys=keys,
                today=as_of,
            )
        )
        return _json(report, 200 if report["found"] else 404)

    routes.get("/api/subjects/{code}")(subject_handler or subject)

    @routes.get("/api/risk/monitor")
    @_answers_400
    async def risk_monitor(request: web.Request) -> web.Response:
        q = request.query
        run = functools.partial(
            risk.risk_monitor, ctx.store,
            district=q.get("district") or None, industry=q.get("industry") or None,
            since=_date(request, "since"), until=_date(request, "until"),
            min_utilities=_int(request, "min_utilities", 2, 1, 10),
            min_days_overdue=_int(request, "min_days_overdue", 0),
            limit=_int(request, "limit", 100, 1, 10_000),
        )  # fmt: skip
        rows = await ctx.run(run)
        return _json({"subjects": rows})

    @routes.get("/api/blacklist/new")
    @_answers_400
    async def blacklist_new(request: web.Request) -> web.Response:
        since = _date(request, "since") or dt.date.today() - dt.timedelta(BLACKLIST_DEFAULT_DAYS)
        limit = _int(request, "limit", 1000, 1, 100_000)
        keys = await ctx.run(withheld, ctx.store)
        rows = await ctx.run(
            lambda: reports.new_blacklist_entries(
                ctx.store, ctx.catalog, since, withheld_record_keys=keys, limit=limit
            )
        )
        return _json({"since": since, "entries": rows})

    @routes.get("/api/stats/collection")
    @_answers_400
    async def collection(request: web.Request) -> web.Response:
        today = _date(request, "today") or dt.date.today()
        # every catalog department × class, the silent ones late (?include_missing=false:
        # only those that delivered)
        missing = _flag(request, "include_missing", default=True)
        district = _district(request)
        rows = await ctx.run(
            lambda: reports.collection_stats(ctx.store, ctx.catalog, today,
                                             include_missing=missing, district=district,
                                             calendar=ctx.calendar.lenient())
        )  # fmt: skip
        late = sum(r["late"] for r in rows if r["level"] != "rollup")
        return _json({"today": today, "district": district or "", "late": late, "rows": rows})

    @routes.get("/api/stats/census")
    @_answers_400
    async def census(request: web.Request) -> web.Response:
        district = _district(request)
        return _json(await ctx.run(reports.census, ctx.store, ctx.catalog, district))

    app.add_routes(routes)
