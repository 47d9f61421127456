"""`credit analyst`: the process that answers analyst SQL, apart from the platform's.

Run by `credit up` next to the worker (and restarted if it dies). It owns the analysts'
engine (`sinks.read.analyst_engine`): loads the analyst tables the platform exports every
`CREDIT_ANALYST_REFRESH_SECONDS`, and answers `POST /sql` on a loopback port. A query that
eats memory or time fails here, on its limits; the platform's API, ingestion and `/health`
do not wait on it (the API forwards with a timeout).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from base.settings import Settings
from schemas.errors import CreditError
from sinks.exceptions import QueryError
from sinks.read.analyst_engine import AnalystEngine, Limits

log = logging.getLogger("credit.analyst")
MAX_BODY = 1_000_000


def open_engine(settings: Settings) -> AnalystEngine:
    if settings.analyst_clickhouse_url:
        return AnalystEngine.server(settings.analyst_clickhouse_url,
                                    f"{settings.clickhouse_database}_analyst")  # fmt: skip
    base = settings.analyst_dir
    return AnalystEngine.embedded(base / "engine", base / "exchange")


class SqlHandler(BaseHTTPRequestHandler):
    """`GET /health`, `POST /sql` on the analysts' engine (`engine` and `settings` are set
    on the subclass `_handler` makes)."""

    engine: AnalystEngine
    settings: Settings

    def do_GET(self) -> None:
        if self.path != "/health":
            self._send(404, {"error": "not_found"})
            return
        self._send(200, {"ready": True, "tables": len(self.engine.tables())})

    def do_POST(self) -> None:
        if self.path != "/sql":
            self._send(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, {"error": "request.too_large", "message": "SQL over 1 MB"})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            limits = _limits(body, self.settings)
            self._send_result(self.engine.run(str(body["sql"]), limits), limits.max_result_bytes)
        except QueryError as exc:
            self._send(400, {"error": "query", "message": str(exc)})
        except (KeyError, ValueError, TypeError) as exc:
            self._send(400, {"error": "request.shape", "message": f"bad request: {exc}"})

    def _send_result(self, result: dict[str, Any], limit: int) -> None:
        """The result, unless its JSON is over the byte limit (the engine's own limit
        lets one huge value through whole): the API would have to parse it all."""
        data = json.dumps(result, ensure_ascii=False, default=str).encode()
        if len(data) > limit:
            self._send(400, {"error": "query", "message": f"the result is {len(data)} "
                             f"bytes, over the {limit}-byte limit: aggregate or add LIMIT "
                             "/ 结果过大"})  # fmt: skip
            return
        self._write(200, data)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        self._write(status, json.dumps(body, ensure_ascii=False, default=str).encode())

    def _write(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the platform logs every SQL read in its usage log


def _limits(body: dict[str, Any], settings: Settings) -> Limits:
    """What one query may use: rows and seconds as asked, memory and result as configured."""
    return Limits(
        max_rows=int(body.get("max_rows", 1000)),
        max_seconds=float(body.get("max_seconds", 10)),
        max_memory_bytes=settings.analyst_max_memory_mb * 1024 * 1024,
        max_result_bytes=settings.analyst_max_result_mb * 1024 * 1024,
    )


def _handler(engine: AnalystEngine, settings: Settings) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (SqlHandler,), {"engine": engine, "settings": settings})


def run_analyst(settings: Settings) -> int:
    """Serve until SIGTERM; the port comes from `CREDIT_ANALYST_PORT`."""
    if not settings.analyst_port:
        raise CreditError("`credit analyst` needs CREDIT_ANALYST_PORT (`credit up` sets it)")
    engine = open_engine(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    address = (settings.analyst_host, settings.analyst_port)
    server = ThreadingHTTPServer(address, _handler(engine, settings))
    threading.Thread(target=server.serve_forever, name="analyst-http", daemon=True).start()
    log.info("analyst SQL on %s:%d", *address)
    try:
        while not stop.is_set():
            try:
                loaded = engine.load_new()
                if loaded:
                    log.info("analyst tables loaded: %s", ", ".join(loaded))
            except Exception:  # a broken export must not end the service: next round
                log.exception("loading analyst tables failed")
            stop.wait(1.0)
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0
