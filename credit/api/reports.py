"""HTTP routes of the analyst reports: credit report, risk monitor, black-list news,
collection statistics and census (handlers over `sinks.read.reports`; analyst SQL is
`credit.api.sql`).

Store calls block (chDB runs in-process), so every handler goes through `ApiContext.run`.
Bad parameters answer 400 with the reason in Chinese and English; nothing here writes.

Two hooks connect the routes to governance without tying them to it: `withheld` gives the
record keys under objection (`sinks.read.governance.withheld_record_keys` fits), `authorized`
says whether the caller may see a subject's authorized-only classes (graded disclosure,
seed 004). Without the latter the credit report is the public one: never a query parameter
anyone could set.
"""

from __future__ import annotations

import datetime as dt
import functools
import tempfile
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from credit.api.http_json import json_response
from schemas.exports import write_table
from sinks.exceptions import QueryError
from sinks.read import reports, risk
from sinks.read.governance import add_months
from sinks.read.monthly import MONTHLY_COLUMNS, month_bounds, monthly_report, report_rows
from sinks.store import Store

if TYPE_CHECKING:
    from credit.api.app import ApiContext

# Record keys no report may show (objections); `sinks.read.governance.withheld_record_keys` fits.
WithheldLookup = Callable[[Store], frozenset[str]]
# May the caller of this request see the authorized-only classes of this subject code?
AuthorizedCheck = Callable[[web.Request, str], Awaitable[bool]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BLACKLIST_DEFAULT_DAYS = 30


RISK_COLUMNS = {
    "subject_id": "主体代码", "kind": "主体类别", "name": "名称", "district": "区划",
    "industry": "行业", "utilities": "欠费项目数", "utility_types": "欠费项目",
    "arrears_amount": "欠费金额（元）", "long_overdue_amount": "其中长期欠费（元）",
    "max_days_overdue": "最长逾期天数", "arrears_since": "欠费起始日",
}  # fmt: skip


def table_file(columns: dict[str, str], rows: list[dict[str, Any]], name: str) -> web.Response:
    """Rows as a CSV or Excel download (`schemas.exports`: formula-like text stays text)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("export" + Path(name).suffix)
        cells = ([_cell(r.get(k)) for k in columns] for r in rows)
        write_table(path, list(columns.values()), cells)
        data = path.read_bytes()
    kind = "text/csv" if name.endswith(".csv") else (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")  # fmt: skip
    quoted = urllib.parse.quote(name)
    return web.Response(body=data, content_type=kind, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quoted}"})  # fmt: skip


def _cell(value: Any) -> Any:
    return "、".join(map(str, value)) if isinstance(value, list) else value


class BadParameter(ValueError):
    """A query parameter a client sent that cannot be used."""


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
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (BadParameter, QueryError) as exc:
            return json_response({"error": str(exc)}, 400)

    return guarded


async def _public_only(_request: web.Request, _code: str) -> bool:
    return False


def _nothing_withheld(_store: Store) -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True)
class ReportContext:
    """What the report handlers share: the API's context and the two governance hooks."""

    ctx: ApiContext
    withheld: WithheldLookup = _nothing_withheld
    authorized: AuthorizedCheck = _public_only

    @property
    def store(self) -> Store:
        return self.ctx.store


async def subject(rc: ReportContext, request: web.Request) -> web.Response:
    code, as_of = request.match_info["code"], _date(request, "as_of")
    wide = await rc.authorized(request, code)
    keys = await rc.ctx.run(rc.withheld, rc.store)
    report = await rc.ctx.run(lambda: reports.subject_report(
        rc.store, rc.ctx.catalog, code, include_authorized=wide, withheld_record_keys=keys,
        today=as_of))  # fmt: skip
    return json_response(report, 200 if report["found"] else 404)


async def risk_monitor(rc: ReportContext, request: web.Request) -> web.StreamResponse:
    """The risk list with its filters; `?format=csv|xlsx` answers it as a file (formula-like
    text neutralised, as every export)."""
    q = request.query
    run = functools.partial(
        risk.risk_monitor, rc.store,
        district=_district(request), industry=q.get("industry") or None,
        since=_date(request, "since"), until=_date(request, "until"),
        min_utilities=_int(request, "min_utilities", 2, 1, 10),
        min_days_overdue=_int(request, "min_days_overdue", 0),
        utility=q.get("utility") or None,
        min_amount=_int(request, "min_amount", 0, 0, 10**12),
        limit=_int(request, "limit", 100, 1, 10_000),
    )  # fmt: skip
    rows = await rc.ctx.run(run)
    fmt = q.get("format", "json")
    if fmt == "json":
        return json_response({"subjects": rows})
    if fmt not in ("csv", "xlsx"):
        raise BadParameter(f"format: json, csv or xlsx, not {fmt!r} / 导出格式应为 csv 或 xlsx")
    answer: web.Response = await rc.ctx.run(table_file, RISK_COLUMNS, rows, f"风险名单.{fmt}")
    return answer


async def blacklist_new(rc: ReportContext, request: web.Request) -> web.Response:
    since = _date(request, "since") or dt.date.today() - dt.timedelta(BLACKLIST_DEFAULT_DAYS)
    limit = _int(request, "limit", 1000, 1, 100_000)
    keys = await rc.ctx.run(rc.withheld, rc.store)
    rows = await rc.ctx.run(lambda: reports.new_blacklist_entries(
        rc.store, rc.ctx.catalog, since, withheld_record_keys=keys, limit=limit))  # fmt: skip
    return json_response({"since": since, "entries": rows})


async def collection(rc: ReportContext, request: web.Request) -> web.Response:
    """Every catalog department × class, the silent ones late (`?include_missing=false`:
    only those that delivered)."""
    today = _date(request, "today") or dt.date.today()
    missing = _flag(request, "include_missing", default=True)
    district = _district(request)
    rows = await rc.ctx.run(lambda: reports.collection_stats(
        rc.store, rc.ctx.catalog, today, include_missing=missing, district=district,
        calendar=rc.ctx.calendar.lenient()))  # fmt: skip
    late = sum(r["late"] for r in rows if r["level"] != "rollup")
    return json_response({"today": today, "district": district or "", "late": late, "rows": rows})


async def history(rc: ReportContext, request: web.Request) -> web.Response:
    """Rows decided per month × department × class over `?months=` (12) months."""
    months = _int(request, "months", 12, 1, 120)
    since = add_months(dt.date.today().replace(day=1), 1 - months)
    department = request.query.get("department", "").strip() or None
    rows = await rc.ctx.run(lambda: reports.collection_history(rc.store, since,
                                                               department=department))  # fmt: skip
    return json_response({"since": since, "months": months, "rows": rows})


async def monthly(rc: ReportContext, request: web.Request) -> web.Response:
    """The monthly statistics report (`?month=YYYY-MM`, default last month; `?target=` the
    upstream target, `?district=`, `?format=csv|xlsx` a file)."""
    month = request.query.get("month", "").strip() or add_months(
        dt.date.today().replace(day=1), -1).strftime("%Y-%m")  # fmt: skip
    try:
        month_bounds(month)
    except ValueError:
        raise BadParameter(f"month: YYYY-MM, not {month!r}") from None
    target = request.query.get("target", "").strip() or None
    report = await rc.ctx.run(lambda: monthly_report(rc.store, rc.ctx.catalog, month, target,
                                                     _district(request) or ""))  # fmt: skip
    fmt = request.query.get("format", "")
    if fmt in ("csv", "xlsx"):
        answer: web.Response = await rc.ctx.run(table_file, MONTHLY_COLUMNS, report_rows(report),
                                                f"数据总量统计月报-{month}.{fmt}")  # fmt: skip
        return answer
    return json_response(report)


async def census(rc: ReportContext, request: web.Request) -> web.Response:
    district = _district(request)
    return json_response(await rc.ctx.run(reports.census, rc.store, rc.ctx.catalog, district))


ReportHandler = Callable[[ReportContext, web.Request], Awaitable[web.StreamResponse]]
ROUTES: tuple[tuple[str, ReportHandler], ...] = (
    ("/api/risk/monitor", risk_monitor),
    ("/api/blacklist/new", blacklist_new),
    ("/api/stats/collection", collection),
    ("/api/stats/history", history),
    ("/api/stats/census", census),
    ("/api/stats/monthly", monthly),
)


def add_report_routes(
    app: web.Application,
    ctx: ApiContext,
    *,
    withheld: WithheldLookup = _nothing_withheld,
    authorized: AuthorizedCheck = _public_only,
    subject_handler: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None,
) -> None:
    """Register the report routes (`ROUTES`, and `/api/subjects/{code}`) on `app`; hooks:
    see the module docstring. `subject_handler` replaces the plain subject report (the
    platform passes the governed one: authorization, withheld records, usage log)."""
    rc = ReportContext(ctx, withheld, authorized)
    plain_subject = _answers_400(functools.partial(subject, rc))
    app.router.add_get("/api/subjects/{code}", subject_handler or plain_subject)
    for path, fn in ROUTES:
        app.router.add_get(path, _answers_400(functools.partial(fn, rc)))
