"""HTTP ingestion (接口调用): providers POST records of a class as JSON, single or batch.

Every request is one upload: each record is answered explicitly (accepted, or rejected with
field and reason), nothing is accepted silently in part, and the upload's ledger entry makes
it traceable like a file upload.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from aiohttp import web

from base.dirty import DirtyThreshold
from producers.apikeys import ApiKeyStore, Grant
from producers.channel import ReportedAs, UploadResult, publish_rows
from producers.durable_intake import DurableIntake
from producers.exceptions import PublishError
from producers.publisher import Publisher, new_upload_id
from producers.replay import replay
from schemas.catalog import Catalog, InfoClass
from schemas.exceptions import PeriodError, UnknownClassError
from schemas.periods import Period


def _error(status: int, reason: str, message: str) -> web.Response:
    body = json.dumps({"error": reason, "message": message}, ensure_ascii=False)
    return web.Response(text=body, status=status, content_type="application/json")


def _records(body: Any) -> list[Any] | None:
    if isinstance(body, dict) and isinstance(body.get("records"), list):
        return list(body["records"])
    if isinstance(body, dict):
        return [body]
    if isinstance(body, list):
        return body
    return None


async def _read_json(request: web.Request) -> tuple[Any, web.Response | None]:
    """The request's JSON, or the 400/413 answer that says what is wrong with the body.

    Every way a body can be bad ends here with a reason, never a 500: too large, a
    `Content-Encoding` that does not decode, bytes that are not UTF-8 JSON, nesting deeper
    than `MAX_JSON_DEPTH` (Python's parser would exhaust its stack).
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        return None, _error(413, "request.too_large", exc.text or "request body too large")
    except Exception as exc:  # aiohttp's decompression and payload errors have no common base
        return None, _error(400, "request.body", f"body cannot be read ({type(exc).__name__}: "
                            f"{exc}); check Content-Encoding")  # fmt: skip
    if _depth_exceeds(raw, MAX_JSON_DEPTH):
        return None, _error(400, "request.json", f"JSON nested deeper than {MAX_JSON_DEPTH}")
    try:
        return json.loads(raw), None
    except (ValueError, RecursionError) as exc:
        return None, _error(400, "request.json", f"body is not JSON: {exc}")


def _depth_exceeds(raw: bytes, limit: int) -> bool:
    """A cheap upper bound of the nesting depth (brackets inside strings count too, so a
    legitimate body is refused only if its strings themselves hold `limit` open brackets)."""
    depth = 0
    for byte in raw.translate(None, _NOT_BRACKETS):
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


JSON = "application/json"
Row = tuple[int | None, Mapping[str, Any]]  # (the provider's row number, its values)
MAX_JSON_DEPTH = 64
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class Gateway:
    """Routes for `/api/records/{class}`; publishers are made per provider on first use."""

    def __init__(
        self,
        catalog: Catalog,
        keys: ApiKeyStore,
        publisher_for: Callable[[str], Publisher],
        max_records: int,
        intake: DurableIntake | None = None,
        hold_above: Callable[[str, str], DirtyThreshold] | None = None,
        max_file_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.max_file_bytes = max_file_bytes
        self.intake = intake
        self.hold_above = hold_above
        self.catalog = catalog
        self.keys = keys
        self.publisher_for = publisher_for
        self.max_records = max_records
        self._publishers: dict[str, Publisher] = {}
        self._lock = asyncio.Lock()

    def reset_publishers(self) -> None:
        """Forget the producers: after the broker lost its state an idempotent producer's
        id is unknown to it, so each provider gets a new one on its next request."""
        self._publishers = {}

    def publisher(self, provider: str) -> Publisher:
        """The provider's producer, made on first use (call it under `_lock`)."""
        found = self._publishers.get(provider)
        if found is None:
            found = self._publishers[provider] = self.publisher_for(provider)
        return found

    def add_routes(self, app: web.Application) -> None:
        """JSON records and the key's own description; files come through
        `producers.file_gateway.add_routes`."""
        app.router.add_post("/api/records/{class_code}", self.post_records)
        app.router.add_get("/api/provider", self.get_provider)

    async def get_provider(self, request: web.Request) -> web.Response:
        """`GET /api/provider`: who the key reports as and the classes it may send (the
        console's first call after sign-in)."""
        grant = self._grant(request)
        if isinstance(grant, web.Response):
            return grant
        classes = [{"code": c.code, "name": c.name, "cycle": c.cycle.kind}
                   for c in self.catalog if c.code in grant.classes]  # fmt: skip
        body = {"provider": grant.provider, "department": grant.department,
                "district": grant.district, "classes": classes}  # fmt: skip
        return web.Response(text=json.dumps(body, ensure_ascii=False), content_type=JSON)

    async def replay(
        self, provider: str, cls: InfoClass, upload_id: str, rows: Iterable[Row]
    ) -> UploadResult:
        """Corrected rows re-sent into their upload, in order with the provider's other
        requests (`producers.replay`: replays skip the intake, the ledger stays)."""
        async with self._lock:
            publisher = self.publisher(provider)
            send = partial(replay, publisher, cls, self.catalog, upload_id, iter(rows))
            return await asyncio.get_running_loop().run_in_executor(None, send)

    def _key(self, request: web.Request) -> str:
        auth = request.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ").strip() or request.headers.get("X-API-Key", "")

    def _grant(self, request: web.Request) -> Grant | web.Response:
        """The key's grant, or the 401 that says why there is none."""
        key = self._key(request)
        grant = self.keys.check(key) if key else None
        if grant is None:
            why = "missing API key" if not key else "unknown API key"
            return _error(401, "auth.key", f"{why}: send 'Authorization: Bearer <key>'")
        return grant

    def authorize(self, request: web.Request) -> tuple[Grant, InfoClass] | web.Response:
        """The key's grant and the class it may publish, or the 401/403/404 that says why."""
        grant = self._grant(request)
        if isinstance(grant, web.Response):
            return grant
        try:
            cls = self.catalog.get(request.match_info["class_code"])
        except UnknownClassError as exc:
            return _error(404, "class.unknown", str(exc))
        if cls.code not in grant.classes:
            return _error(403, "auth.class", f"'{grant.provider}' ({grant.department}) may not "
                          f"publish {cls.code}; allowed: {sorted(grant.classes)}")  # fmt: skip
        return grant, cls

    async def post_records(self, request: web.Request) -> web.Response:
        allowed = self.authorize(request)
        if isinstance(allowed, web.Response):
            return allowed
        grant, cls = allowed
        body, refusal = await _read_json(request)
        if refusal is not None:
            return refusal
        records = _records(body)
        if records is None or not records:
            return _error(400, "request.shape", "send an object, a list, or {'records': [...]}")
        if len(records) > self.max_records:
            return _error(
                413, "request.too_many", f"{len(records)} records; at most {self.max_records}"
            )
        bad = [i for i, r in enumerate(records) if not isinstance(r, dict)]
        if bad:
            return _error(400, "request.shape", f"records {bad[:10]} are not JSON objects")
        try:
            period = Period.parse(request.query["period"]) if "period" in request.query else None
        except PeriodError as exc:
            return _error(400, "request.period", str(exc))
        reported = ReportedAs(grant.department, grant.district, period)
        return await self._publish(grant.provider, cls.code, records, reported)

    async def _publish(
        self, provider: str, code: str, records: list[dict[str, Any]], reported: ReportedAs
    ) -> web.Response:
        cls = self.catalog.get(code)
        async with self._lock:  # one producer per provider; keep requests in order
            publisher = self.publisher(provider)
            upload_id = new_upload_id("api")
            rows = [(i + 1, r) for i, r in enumerate(records)]
            threshold = self.hold_above(code, provider) if self.hold_above else None
            send = partial(publish_rows, publisher, cls, self.catalog, rows, upload_id, "http",
                           intake=self.intake, hold_above=threshold,
                           reported=reported)  # fmt: skip
            try:
                result = await asyncio.get_running_loop().run_in_executor(None, send)
            except PublishError as exc:  # e.g. the intake's disk is full: nothing was accepted
                return _error(503, "intake.unavailable", str(exc))
        errors_by_row: dict[int, list[dict[str, Any]]] = {}
        for err in result.errors:
            errors_by_row.setdefault(err["row"], []).append(err)
        results = [
            {"index": i, "status": "rejected" if i + 1 in errors_by_row else "accepted",
             "errors": errors_by_row.get(i + 1, [])}
            for i in range(len(records))
        ]  # fmt: skip
        body = {"upload_id": upload_id, "class_code": code, "received": result.received,
                "accepted": result.sent, "rejected": result.rejected, "results": results,
                "delivered": result.delivered, "held": result.held}  # fmt: skip
        # 202: accepted into the intake but held back (dirty-data threshold), nothing sent
        status = (
            202 if result.held else 200 if result.rejected == 0 else 207 if result.sent else 422
        )
        return web.Response(text=json.dumps(body, ensure_ascii=False, default=str), status=status,
                            content_type="application/json")  # fmt: skip
