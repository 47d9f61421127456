"""The platform's one local HTTP API: health, metrics, queries, schema registry, ingestion.

Store calls block (chDB runs in-process), so handlers run them in the default executor.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from base.metrics import Metrics
from credit.api.access import identity_of, upload_refusal
from credit.api.http_json import json_response
from producers import file_gateway
from producers.durable_intake import IntakeEntry
from producers.gateway import Gateway
from schemas.catalog import Catalog
from schemas.registry_api import add_registry_routes
from schemas.registry_store import RegistryStore
from sinks.read import outbound, queries
from sinks.read.collection import collection_stats
from sinks.read.risk import risk_list
from sinks.read.workdays import DEFAULT_CALENDAR, WorkCalendar
from sinks.store import Store
from sinks.write.figures import FigureKeeper


def _unknown_upload(upload_id: str) -> web.Response:
    return json_response({"error": "upload.unknown", "upload_id": upload_id,
                  "message": f"未找到上传 {upload_id} / no upload '{upload_id}' is known to the "
                             "platform (check the id `credit publish` printed)"}, 404)  # fmt: skip


class ApiContext:
    """What the handlers need, plus a health callback the runtime provides."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        metrics: Metrics,
        health: Callable[[], dict[str, Any]],
        worker_metrics_dir: Path | None = None,
    ) -> None:
        self.worker_metrics_dir = worker_metrics_dir
        self.store = store
        self.catalog = catalog
        self.metrics = metrics
        self.health = health
        # the durable intake's entry and the lost rows of an upload (set by the runtime)
        self.intake_entry: Callable[[str], IntakeEntry | None] = lambda _u: None
        self.lost_rows: Callable[[str], int] = lambda _u: 0
        self.decide_held: Callable[[str, str, str], None] = lambda _u, _a, _b: None
        # the uploads held by the dirty-data threshold, waiting for a person (the intake's)
        self.held_uploads: Callable[[], list[dict[str, Any]]] = list
        # the provider's original file of an upload, while the intake keeps it
        self.source_file: Callable[[str], Path | None] = lambda _u: None
        # where analyst SQL is answered (`credit analyst`); "" = nowhere (503)
        self.analyst_url = ""
        # every deadline and lateness figure counts these working days (`sinks.read.workdays`)
        self.calendar: WorkCalendar = DEFAULT_CALENDAR
        # recomputes a subject's figures when a decision changes which facts count (the
        # runtime shares the sink's, so the two take turns)
        self.figures: FigureKeeper | None = None

    def refigure(self, subject_id: str) -> None:
        """After an objection or repair step: the subject's figures from the facts now shown."""
        if self.figures is not None:
            self.figures.refresh([subject_id], "governance")

    def upload_fate(self, upload_id: str) -> dict[str, Any]:
        """The store's account of an upload, with the intake's ledger when the store has not
        got it yet (the broker lost it, it is on its way, or it is held), the rows counted
        lost, and a held or withdrawn upload's rows as such."""
        fate = queries.upload_fate(self.store, upload_id)
        entry = self.intake_entry(upload_id)
        ledger = entry.ledger if entry is not None else None
        if ledger is not None and fate["class_code"] is None:
            received = int(ledger.get("received", 0))
            fate.update(known=True, class_code=ledger.get("class_code"),
                        provider=ledger.get("provider"), received=received,
                        pending=max(received - fate["stored"] - fate["rejected"], 0))  # fmt: skip
        lost = self.lost_rows(upload_id)
        fate["lost"] = lost
        fate["pending"] = max(fate["pending"] - lost, 0)
        fate["held"], fate["held_reason"], fate["withdrawn"] = 0, "", 0
        if entry is not None and entry.held:
            fate.update(held=fate["pending"], held_reason=entry.held, pending=0)
        elif entry is not None and (entry.decided or {}).get("withdrawn"):
            fate.update(withdrawn=fate["pending"], pending=0)
        fate["complete"] = fate["known"] and fate["pending"] == 0 and lost == 0 and (
            fate["class_code"] is not None) and not fate["held"]  # fmt: skip
        return fate

    def lateness(self) -> list[dict[str, Any]]:
        """Reporting lateness per department and class, for the `credit_department_late` gauge."""
        today = dt.date.today()
        rows = collection_stats(self.store, self.catalog, today, include_missing=True,
                                calendar=self.calendar.lenient())  # fmt: skip
        return [{**r, "today": today} for r in rows if r["level"] != "rollup"]

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _counted(metrics: Metrics) -> Any:
    """`credit_api_requests_total` by route pattern (not path: ids stay out of the labels)."""

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        status = 500
        try:
            response: web.StreamResponse = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "unmatched"
            metrics.api_requests.labels(route, str(status)).inc()

    return count


CONTEXT: web.AppKey[ApiContext] = web.AppKey("credit.api.app", ApiContext)


async def health(request: web.Request) -> web.Response:
    state = request.app[CONTEXT].health()
    return json_response(state, 200 if state.get("ready") else 503)


async def live(_: web.Request) -> web.Response:
    """Liveness: the process answers; readiness (broker, store, stages) is /health."""
    return json_response({"live": True})


async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    counts = partial(queries.rows_by_provider, ctx.store)
    body = await ctx.run(ctx.metrics.exposition, ctx.worker_metrics_dir, counts, ctx.lateness)
    return web.Response(body=body, content_type="text/plain")


async def status(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    counts = await ctx.run(queries.table_counts, ctx.store, ctx.catalog)
    targets = await ctx.run(outbound.ledger_summary, ctx.store, ctx.catalog)
    return json_response({**ctx.health(), "stored": counts, "outbound": targets})


async def summary(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    classes = await ctx.run(queries.class_summary, ctx.store, ctx.catalog)
    at_risk = await ctx.run(risk_list, ctx.store, 10)
    return json_response({"classes": classes, "at_risk": at_risk})


async def upload(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    fate = await ctx.run(ctx.upload_fate, request.match_info["upload_id"])
    if why := upload_refusal(identity_of(request), fate["provider"]):
        return json_response({"error": "auth.upload", "message": why}, 403)
    return json_response(fate) if fate["known"] else _unknown_upload(fate["upload_id"])


async def rejected(request: web.Request) -> web.Response:
    ctx, upload_id = request.app[CONTEXT], request.match_info["upload_id"]
    fate = await ctx.run(ctx.upload_fate, upload_id)
    if why := upload_refusal(identity_of(request), fate["provider"]):
        return json_response({"error": "auth.upload", "message": why}, 403)
    if not fate["known"]:
        return _unknown_upload(upload_id)
    rows = await ctx.run(queries.dead_letters, ctx.store, upload_id)
    return json_response({"rejected": rows})


async def decide_held(request: web.Request) -> web.Response:
    """A held upload (dirty-data threshold) released — sent as it is — or withdrawn."""
    ctx = request.app[CONTEXT]
    upload_id, action = request.match_info["upload_id"], request.match_info["action"]
    entry = await ctx.run(ctx.intake_entry, upload_id)
    if entry is None:
        return _unknown_upload(upload_id)
    who = identity_of(request)
    if why := upload_refusal(who, str(entry.ledger.get("provider") or "")):
        return json_response({"error": "auth.upload", "message": why}, 403)
    if not entry.held:
        return json_response({"error": "upload.not_held", "message": f"上传 {upload_id} 未被暂扣 / "
                              f"upload {upload_id} is not held"}, 409)  # fmt: skip
    by = f"{who.role}:{who.name}" if who else "open-access"
    await ctx.run(ctx.decide_held, upload_id, action, by)
    return json_response(await ctx.run(ctx.upload_fate, upload_id))


async def aggregates(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    subject = request.query.get("subject", "").strip().upper()
    if not subject:
        return json_response({"error": "request.subject", "message": "give ?subject=CODE"}, 400)
    rows = await ctx.run(queries.aggregates_of, ctx.store, subject)
    return json_response({"subject": subject, "aggregates": rows})


async def risk(request: web.Request) -> web.Response:
    ctx, raw = request.app[CONTEXT], request.query.get("limit", "20")
    if not (raw.isdigit() and 1 <= int(raw) <= 10_000):
        return json_response({"error": "request.limit", "message": "limit: 1 to 10000 / "
                              f"limit 应为 1 至 10000 的整数, not {raw!r}"}, 400)  # fmt: skip
    rows = await ctx.run(risk_list, ctx.store, int(raw), request.query.get("district"))
    return json_response({"subjects": rows})


Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]
ROUTES: tuple[Route, ...] = (
    ("GET", "/health", health),
    ("GET", "/live", live),
    ("GET", "/metrics", metrics),
    ("GET", "/api/status", status),
    ("GET", "/api/summary", summary),
    ("GET", "/api/uploads/{upload_id}", upload),
    ("GET", "/api/uploads/{upload_id}/rejected", rejected),
    ("POST", "/api/uploads/{upload_id}/{action:release|withdraw}", decide_held),
    ("GET", "/api/aggregates", aggregates),
    ("GET", "/api/risk", risk),
)


def build_api(
    ctx: ApiContext,
    registry: RegistryStore,
    gateway: Gateway,
    max_request_bytes: int,
    middlewares: Sequence[Any] = (),
) -> web.Application:
    """The platform's HTTP app: `ROUTES`, the providers' records and files, the registry."""
    app = web.Application(client_max_size=max_request_bytes,
                          middlewares=[_counted(ctx.metrics), *middlewares])  # fmt: skip
    app[CONTEXT] = ctx
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    gateway.add_routes(app)
    file_gateway.add_routes(app, gateway)
    add_registry_routes(app, registry)
    return app
