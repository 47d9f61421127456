"""`credit worker`: run the Faust app until SIGTERM/SIGINT (Faust finishes the batch first).

On SIGTERM Faust stops the agent after the batch in hand (`BatchHandler.handle` runs to the
end: results flushed), waits for the acknowledged offsets and commits them, then exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast

import faust
from faust.tables.manager import TableManager

from base.metrics import Metrics, create_metrics
from base.settings import Settings
from schemas.catalog import default_catalog
from streams.exceptions import WorkerConfigError
from streams.faust.worker import build_app


def worker_ready(app: faust.App) -> bool:
    """Ready once Faust holds an assignment and has read its tables' changelogs: before that
    the worker would resolve identities against an empty subject registry."""
    recovery = cast(TableManager, app.tables).recovery  # the app's tables are a TableManager
    return bool(recovery.completed.is_set() and not recovery.in_recovery and not app.rebalancing)


def serve_health(
    host: str, port: int, metrics: Metrics, ready: Callable[[], bool] = lambda: True
) -> ThreadingHTTPServer:
    """/health (readiness: 200 ready, 503 not), /live (liveness) and /metrics of a worker
    running on its own (probes, Prometheus)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 200
            if self.path == "/metrics":
                body, ctype = metrics.exposition(), "text/plain; version=0.0.4"
            elif self.path in ("/health", "/live"):
                is_ready = ready()
                status = 200 if is_ready or self.path == "/live" else 503
                state = {"ready": is_ready, "live": True, "role": "worker"}
                body, ctype = json.dumps(state).encode(), "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would flood the log

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


class Readiness:
    """The worker's readiness as last judged on Faust's own event loop.

    `worker_ready` reads lazily built parts of the app (`app.tables.recovery`): the first
    read builds them, binding their events to the calling thread's loop. Read from the
    health server's thread, that left the worker hung in recovery in about one cold start
    out of three. So the judgement runs only on Faust's loop, and other threads read this.
    """

    def __init__(self) -> None:
        self.ready = False


def report_readiness(app: faust.App, path: Path) -> Readiness:
    """Judge readiness on Faust's loop every second: write {"pid", "ready"} to `path`
    (atomically), so the parent process can tell a worker that is still recovering its
    tables from one that works, and keep it for the health endpoint."""
    state = Readiness()

    @app.task  # type: ignore[untyped-decorator]
    async def readiness() -> None:
        # a task, not a timer: it starts with the app's tasks, the moment recovery ends, where
        # a timer's first tick came a second later — after the first records were stored
        while True:
            state.ready = worker_ready(app)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"pid": os.getpid(), "ready": state.ready}))
            tmp.replace(path)
            await asyncio.sleep(1.0)

    return state


def run_worker(settings: Settings) -> int:
    if not settings.kafka_bootstrap or not settings.schema_registry_url:
        raise WorkerConfigError(
            "the worker needs CREDIT_KAFKA_BOOTSTRAP and CREDIT_SCHEMA_REGISTRY_URL "
            "(`credit up` sets both for its own worker)"
        )
    metrics = create_metrics()
    app = build_app(settings, settings.kafka_bootstrap, settings.schema_registry_url,
                    default_catalog(), metrics)  # fmt: skip
    state = report_readiness(app, settings.worker_ready_file)
    if settings.api_port:  # a production worker serves its own /health and /metrics
        serve_health(settings.api_host, settings.api_port, metrics, lambda: state.ready)
    worker = faust.Worker(app, loglevel=logging.INFO, quiet=True)
    worker.execute_from_commandline()
    return 0
