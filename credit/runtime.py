"""The embedded platform in one process tree: broker, store, sink, API here; worker as a child.

`Platform.start` spells out the order (each step needs the one before):
  1. lock the data dir (one platform per data dir);
  2. broker: embedded Tansu, or `CREDIT_KAFKA_BOOTSTRAP`;
  3. topics, created explicitly; the broker's epoch checked (`credit.recovery`): a broker
     that lost what it held is recovered from the data dir in steps 6, 7 and 9;
  4. store: chDB under the data dir, or `CREDIT_CLICKHOUSE_URL`; DDL applied;
  5. HTTP API (with the schema registry) on a loopback port;
  6. sink thread (after a broker loss its offset intents are forgotten first);
  7. Faust worker process (`credit worker`), pointed at 2 and 5 (after a broker loss its
     tables are first re-seeded into their changelogs, `streams.faust.reseed`);
  8. `runtime.json` written so other commands find this platform;
  9. the intake keeper (in `credit gateway` too: its uploads are in its own data dir): after
     a broker loss it sends every undecided upload again, then keeps the durable intake in
     step with the store.
`stop` undoes them in reverse.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import IO, Any

from base import gc_pause
from base.broker import EmbeddedBroker, free_port
from base.exceptions import BrokerError
from base.kafka_errors import count_broker_errors
from base.metrics import Metrics, create_metrics
from base.settings import Settings
from base.topics import ensure_named_topics, ensure_topics
from credit.analyst_service import AnalystService
from credit.api.access import AccessStore, build_access
from credit.api.admin import Accounts
from credit.api.app import ApiContext, build_api
from credit.api.routes import add_platform_routes
from credit.api.server import ApiServer
from credit.client import read_runtime
from credit.exceptions import AlreadyRunningError
from credit.lag import LagMonitor, LagSampler, lag_groups
from credit.outbound.service import OutboundService
from credit.partitions import fixed_partitions
from credit.recovery import Epoch, IntakeKeeper, broker_epoch, broker_lost
from credit.watch_service import WatchNotifier
from credit.worker_process import WorkerProcess
from producers.apikeys import ApiKeyStore
from producers.durable_intake import DurableIntake
from producers.exceptions import PublishError
from producers.gateway import Gateway
from producers.publisher import Publisher
from schemas.avro import avro_schema
from schemas.catalog import Catalog, default_catalog
from schemas.errors import CreditError
from schemas.registry_store import RegistryStore
from sinks.ddl.upgrade import apply_ddl
from sinks.read.workdays import WorkCalendar
from sinks.store import Store, open_embedded, open_server
from sinks.write.figures import FigureKeeper
from sinks.write.writer import Sink

log = logging.getLogger("credit.runtime")
MAX_WORKER_RESTARTS = 20
EPOCH_CHECK_SECONDS = 30.0


EMBEDDED = frozenset({"api", "sink", "worker"})
GATEWAY = frozenset({"api"})  # `credit gateway`: ingestion + queries against real Kafka/ClickHouse
SINK = frozenset({"api", "sink"})  # `credit sink`: the API here serves /health and /metrics


class Platform:
    """The running platform (or one production process of it, by `components`).

    Without `CREDIT_KAFKA_BOOTSTRAP` the broker is the embedded Tansu; without
    `CREDIT_CLICKHOUSE_URL` the store is chDB under the data dir.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | None = None,
        components: frozenset[str] = EMBEDDED,
    ) -> None:
        self.settings = settings
        self.components = components
        self.catalog = catalog or default_catalog()
        self.metrics: Metrics = create_metrics()
        self.data_dir = Path(settings.data_dir).resolve()
        self.broker: EmbeddedBroker | None = None
        self.bootstrap = ""
        self.store: Store | None = None
        self.sink: Sink | None = None
        self.figures: FigureKeeper | None = None  # shared by the sink and the API
        self.api_url = ""
        self._lock_file: IO[str] | None = None
        self._api: ApiServer | None = None
        self._sink_thread: threading.Thread | None = None
        self.lag_monitor: LagMonitor | None = None
        self.workers: list[WorkerProcess] = []
        self.worker_restarts = 0
        self._respawn_at = 0.0  # when stopped workers start again (0: none waiting)
        self.started_at = 0.0
        self.intake = DurableIntake(settings.intake_dir)
        self.epoch = Epoch("", lost=False)
        self.keeper: IntakeKeeper | None = None
        self._gateway: Gateway | None = None
        self._epoch_checked = 0.0
        self._ctx: ApiContext | None = None
        self.analyst: AnalystService | None = None
        self.watch: WatchNotifier | None = None  # pushes watchlist alerts to banks
        self.outbound: OutboundService | None = None  # records out to other systems

    # -- start -------------------------------------------------------------------------------
    def start(self) -> Platform:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        self._lock()  # step 1
        # a platform killed without its stop left its addresses: nobody answers there now
        self.settings.runtime_file.unlink(missing_ok=True)
        try:
            if "worker" in self.components:  # its state is split by partition (credit/partitions)
                parts = fixed_partitions(self.data_dir, self.settings)
                self.settings = self.settings.model_copy(update={"topic_partitions": parts})
            self._start_broker()  # steps 2-3
            self._open_store()  # step 4
            self._start_api()  # step 5
            if "sink" in self.components:
                self._start_sink()  # step 6
            if "worker" in self.components:
                self._start_worker()  # step 7
            self._start_analyst()  # step 7b: analyst SQL, in a process of its own
            self._write_runtime()  # step 8
            self._start_keeper()  # step 9: every process with an API keeps its own intake
            self._start_sharing()  # step 10: watchlist alerts, outbound connectors
        except BaseException:
            self.stop()
            raise
        self.started_at = time.time()
        gc_pause.freeze_startup()  # the store, API and sink objects need no more scanning
        return self

    def _lock(self) -> None:
        handle = (self.data_dir / "up.lock").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            info = read_runtime(self.settings)
            where = f" (pid {info.get('pid')}, API {info.get('api_url')})" if info else ""
            raise AlreadyRunningError(
                f"a platform is already running on {self.data_dir}{where}; "
                "stop it with Ctrl-C or use another --data-dir"
            ) from None
        self._lock_file = handle

    def _start_broker(self) -> None:
        if self.settings.kafka_bootstrap:
            self.bootstrap = self.settings.kafka_bootstrap
        elif self.components != EMBEDDED:
            raise CreditError("production processes need CREDIT_KAFKA_BOOTSTRAP (a real Kafka)")
        else:
            self.broker = self._embedded_broker()
            self.bootstrap = self.broker.bootstrap
        ensure_topics(self.client_conf("admin"), self.catalog, self.settings.topic_partitions,
                      self.settings.topic_replication_factor)  # fmt: skip
        if self.components != GATEWAY:  # the process that runs the sink owns recovery
            self.epoch = broker_epoch(self.client_conf("admin"), self.data_dir,
                                      self.settings.topic_replication_factor)  # fmt: skip

    def _embedded_broker(self) -> EmbeddedBroker:
        """A restart keeps the broker's address, so providers' clients reconnect; if another
        process took the port meanwhile, a new one (runtime.json says where)."""
        log_path = self.data_dir / "logs" / "tansu.log"
        port = self.broker.port if self.broker else 0
        try:
            return EmbeddedBroker(log_path, port=port).start()
        except BrokerError:
            if not port:
                raise
            log.error("the broker's port %d is taken: starting it on another", port)
            return EmbeddedBroker(log_path, port=0).start()

    def kafka_conf(self) -> dict[str, Any]:
        """librdkafka keys (plain data: the demo and bench pass them on)."""
        return self.settings.kafka_config(self.bootstrap)

    def client_conf(self, component: str) -> dict[str, Any]:
        """`kafka_conf` for a client of this process: its errors count as `component`."""
        return count_broker_errors(self.kafka_conf(), self.metrics, component)

    def _open_store(self) -> None:
        db = self.settings.clickhouse_database
        if self.settings.clickhouse_url:
            self.store = open_server(self.settings.clickhouse_url, db)
        else:
            self.store = open_embedded(self.data_dir / "chdb", db)
        self.store.on_error = lambda op: self.metrics.store_errors.labels(op).inc()
        for op in ("query", "command", "insert"):  # at 0 from the start (known labels)
            self.metrics.store_errors.labels(op)
        apply_ddl(self.store, self.catalog)
        self.figures = FigureKeeper(self.store, self.catalog, self.metrics)

    def _start_api(self) -> None:
        assert self.store is not None
        port = self.settings.api_port or free_port(self.settings.api_host)
        registry = RegistryStore(self.data_dir / "schema-registry.json")
        for cls in self.catalog:  # providers only look schemas up: writes need an admin
            registry.register(
                f"{cls.topic}-value", json.dumps(avro_schema(cls), ensure_ascii=False)
            )
        ctx = ApiContext(
            self.store, self.catalog, self.metrics, self.health, self.worker_metrics_dir
        )
        ctx.intake_entry = self.intake.entry
        ctx.source_file = self.intake.source_file
        ctx.decide_held = self._decide_held
        ctx.held_uploads = self._held_uploads
        ctx.lost_rows = lambda u: self.keeper.lost_of(u) if self.keeper else 0
        self.api_url = f"http://{self.settings.api_host}:{port}"
        keys = ApiKeyStore(self.data_dir / "api-keys.json")
        gateway = Gateway(self.catalog, keys, self._gateway_publisher,
                          self.settings.max_request_records, self.intake,
                          self.settings.dirty_threshold_for,
                          self.settings.max_upload_bytes)  # fmt: skip
        self._gateway = gateway
        access = build_access(self.data_dir, open_access=self.settings.api_open)
        app = build_api(ctx, registry, gateway, self.settings.max_request_bytes, [access])
        accounts = Accounts(ctx, AccessStore(self.data_dir / "access.json"), keys,
                            self.settings.token_hours)  # fmt: skip
        add_platform_routes(app, ctx, gateway, accounts)
        ctx.calendar = WorkCalendar.load(self.settings.workday_calendar_path)
        ctx.figures = self.figures
        self._ctx = ctx
        self._api = ApiServer(app, self.settings.api_host, port)
        self._api.start()

    def _start_analyst(self) -> None:
        """The embedded platform runs the analysts' engine; a production gateway sends
        analyst SQL to the `credit analyst` named by `CREDIT_ANALYST_URL`."""
        assert self._ctx is not None and self.store is not None
        if self.settings.analyst_url:
            self._ctx.analyst_url = self.settings.analyst_url
        elif self.components == EMBEDDED:
            self.analyst = AnalystService(self.settings, self.store, self.catalog).start()
            self._ctx.analyst_url = self.analyst.url

    def _held_uploads(self) -> list[dict[str, Any]]:
        """The held uploads with what their ledger says (for `GET /api/uploads?state=held`)."""
        shown = ("upload_id", "class_code", "provider", "department", "district", "channel",
                 "source_name", "received", "sent", "rejected", "period")  # fmt: skip
        return [{k: e.ledger.get(k) for k in shown} | {"held": e.held,
                 "accepted_at": dt.datetime.fromtimestamp(e.accepted_ms / 1000, dt.UTC)}
                for e in self.intake.entries() if e.held]  # fmt: skip

    def _decide_held(self, upload_id: str, action: str, by: str) -> None:
        """Release (send it from the intake as it is) or withdraw a held upload."""
        log.warning("held upload %s: %s by %s", upload_id, action, by)
        if action == "withdraw":
            self.intake.withdraw(upload_id, by)
            return
        self.intake.release(upload_id)
        publisher = self.keeper.publisher() if self.keeper else self._gateway_publisher("intake")
        try:  # if the broker does not take it now, the keeper sends it (unpublished, late)
            publisher.publish_frames(self.intake.frames(upload_id))
            self.intake.mark_published(upload_id)
        except PublishError as exc:
            log.warning("released upload %s not sent yet: %s", upload_id, exc)

    def _gateway_publisher(self, provider: str) -> Publisher:
        return Publisher(self.client_conf("gateway"), self.registry_url, provider, "api",
                         batch_records=self.settings.publish_batch_records)  # fmt: skip

    @property
    def registry_url(self) -> str:
        return self.settings.schema_registry_url or self.api_url

    def _start_sink(self) -> None:
        assert self.store is not None
        conf = {**self.client_conf("sink"), "session.timeout.ms": self.settings.session_timeout_ms}
        self.sink = Sink(self.store, self.catalog, conf, self.metrics,
                         self.settings.sink_batch_size, self.settings.sink_batch_seconds,
                         epoch=self.epoch.id, figures=self.figures)  # fmt: skip
        if self.epoch.lost:
            self.sink.forget_intents()
        self._start_sink_thread()
        # the sink's process watches both groups' lag: one copy per sink, however many workers
        sampler = LagSampler(self.client_conf("lag"), lag_groups(self.catalog))
        self.lag_monitor = LagMonitor(sampler, self.metrics.consumer_lag,
                                      self.settings.lag_interval_seconds).start()  # fmt: skip

    def _start_sink_thread(self) -> None:
        self._sink_thread = threading.Thread(target=self._run_sink, name="sink", daemon=True)
        self._sink_thread.start()

    def _stop_sink(self) -> None:
        if self.lag_monitor is not None:
            self.lag_monitor.stop()
            self.lag_monitor = None
        if self.sink is not None and self._sink_thread is not None:
            self.sink.stop_event.set()
            self._sink_thread.join(timeout=30)
        self.sink, self._sink_thread = None, None

    def _start_keeper(self) -> None:
        assert self.store is not None
        for cls in self.catalog:  # at 0 per class from the start (the alert reads them)
            self.metrics.rows_lost.labels(cls.code)
        s = self.settings
        self.keeper = IntakeKeeper(
            self.intake, self.store, lambda: self._gateway_publisher("intake"), self.metrics,
            s.intake_check_seconds, s.intake_retention_hours * 3600,
            s.intake_source_retention_days * 86400, s.intake_stall_seconds,
        )  # fmt: skip
        self.keeper.start(recover=self.epoch.lost)

    def _start_sharing(self) -> None:
        assert self.store is not None
        s = self.settings
        if s.watch_seconds > 0 and self.watch is None:
            self.watch = WatchNotifier(self.store, self.catalog, self.data_dir, self.metrics,
                                       s.watch_seconds).start()  # fmt: skip
        if s.outbound_seconds > 0 and "sink" in self.components:  # one per platform
            self.outbound = OutboundService(self.store, self.catalog, self.client_conf("outbound"),
                                            self.metrics, s.outbound_seconds,
                                            replication=s.topic_replication_factor).start()  # fmt: skip

    def _stop_sharing(self) -> None:
        for service in (self.watch, self.outbound):
            if service is not None:
                service.stop()
        self.watch, self.outbound = None, None

    def _run_sink(self) -> None:
        assert self.sink is not None
        try:
            self.sink.run()
        except Exception:
            log.exception("sink stopped")

    @property
    def worker_metrics_dir(self) -> Path:
        return self.data_dir / "metrics-worker"

    def _start_worker(self) -> None:
        shutil.rmtree(self.worker_metrics_dir, ignore_errors=True)
        self.worker_metrics_dir.mkdir(parents=True)
        env = {
            **os.environ,
            # the worker writes its metrics to files this process's /metrics reads
            "PROMETHEUS_MULTIPROC_DIR": str(self.worker_metrics_dir),
            "CREDIT_KAFKA_BOOTSTRAP": self.bootstrap,
            "CREDIT_SCHEMA_REGISTRY_URL": self.registry_url,
            "CREDIT_DATA_DIR": str(self.data_dir),
            "CREDIT_SESSION_TIMEOUT_MS": str(self.settings.session_timeout_ms),
            "CREDIT_TOPIC_PARTITIONS": str(self.settings.topic_partitions),
            "CREDIT_API_PORT": "0",  # this process's API serves the worker's health and metrics
        }
        if self.epoch.lost and self.settings.worker_store == "rocksdb":
            self._reseed_worker()
        self.workers = [WorkerProcess(i, self.data_dir, env)
                        for i in range(self.settings.worker_count)]  # fmt: skip
        for worker in self.workers:
            worker.spawn()

    def _reseed_worker(self) -> None:
        from streams.faust.reseed import reseed
        from streams.faust.worker import APP_ID

        parts, repl = self.settings.topic_partitions, self.settings.topic_replication_factor
        admin = self.client_conf("admin")
        reseed(self.data_dir / "worker", self.client_conf("reseed"), APP_ID,
               lambda topic: ensure_named_topics(admin, [topic], parts, repl))  # fmt: skip

    def supervise(self) -> None:
        """Called every second by `credit up`: a broker that lost its topics is recovered
        (`recover_broker`); a sink thread or a worker that died is started again (the worker
        recovers its tables from the changelog topics)."""
        if self._broker_lost():
            self.recover_broker()
            return
        if self._sink_thread is not None and not self._sink_thread.is_alive():
            log.error("the sink stopped; starting it again")
            self._start_sink_thread()
        if self.analyst is not None:
            self.analyst.supervise()
        if self._respawn_at:
            self._respawn_when_due()
            return
        timeout = self.settings.worker_recovery_timeout_seconds
        failure = next((f for w in self.workers if (f := w.failed() or w.stuck(timeout))), None)
        if failure is None:
            return
        self.worker_restarts += 1
        self.metrics.worker_restarts.inc()
        log.error("worker died (restart %d): %s", self.worker_restarts, failure[-500:])
        if self.worker_restarts > MAX_WORKER_RESTARTS:
            raise CreditError(f"the workers died {self.worker_restarts} times; last: {failure}")
        self._respawn_workers()
        self._write_runtime()

    def _respawn_workers(self) -> None:
        """Start the dead one again; with several, all of them together once the dead one's
        group session has run out. Why: a killed member stays in the consumer group until
        its session times out, and members that join before then may be given an assignment
        that counts it; and a lone new member joins before Faust has subscribed it to the
        class topics. So the live ones get SIGTERM (they finish their batch, commit and
        leave the group) and all start together a session later, as a fresh group. This
        did not cure everything: a killed member's partition was still once left unread
        with no committed offset (`credit.recovery`'s stall re-send covers it)."""
        if len(self.workers) == 1:
            self.workers[0].stop()
            self.workers[0].spawn()
            return
        for worker in self.workers:
            worker.stop()
        self._respawn_at = time.monotonic() + self.settings.session_timeout_ms / 1000 + 1

    def _respawn_when_due(self) -> None:
        if time.monotonic() < self._respawn_at:
            return
        self._respawn_at = 0.0
        for worker in self.workers:
            worker.spawn()
        self._write_runtime()

    def _broker_lost(self) -> bool:
        if "sink" not in self.components:
            return False  # the process that runs the sink owns recovery
        if self.broker is not None:
            return not self.broker.alive()
        now = time.monotonic()
        if now - self._epoch_checked < EPOCH_CHECK_SECONDS:
            return False
        self._epoch_checked = now
        return broker_lost(self.client_conf("admin"), self.epoch.id)

    def recover_broker(self) -> None:
        """The broker lost what it held while the platform ran. In order: stop the keeper,
        the sink and the worker (their offsets and producers belong to the lost broker);
        restart the embedded broker on its address; topics and a new epoch; then the sink
        (intents forgotten), the worker (tables re-seeded) and the keeper, which sends every
        undecided upload again. Providers' publishers reconnect to the same address."""
        log.error("the broker lost its topics while running: recovering from the data dir")
        if self.keeper is not None:
            self.keeper.stop()
        self._stop_sharing()  # the outbound topics went with the broker
        self._stop_sink()
        self._stop_worker(kill=True)
        if self.broker is not None:
            self.broker.stop()
        self._start_broker()
        if self._gateway is not None:
            self._gateway.reset_publishers()
        self._start_sink()
        self._start_worker()
        self._start_keeper()
        self._start_sharing()  # queues again what the targets have not acknowledged
        self._write_runtime()

    def _write_runtime(self) -> None:
        info = {"pid": os.getpid(), "api_url": self.api_url, "bootstrap": self.bootstrap,
                "registry_url": self.registry_url, "data_dir": str(self.data_dir),
                "worker_pid": self.workers[0].pid if self.workers else None,
                "worker_pids": [w.pid for w in self.workers]}  # fmt: skip
        tmp = self.settings.runtime_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        tmp.replace(self.settings.runtime_file)

    # -- state -------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Ready only when every stage works; otherwise `degraded` says why (one line each)."""
        broker_ok = self.broker.alive() if self.broker else bool(self.bootstrap)
        worker_ok = bool(self.workers) and all(w.alive() for w in self.workers)
        sink_ok = self._sink_thread is not None and self._sink_thread.is_alive()
        worker_ok = worker_ok or "worker" not in self.components
        sink_ok = sink_ok or "sink" not in self.components
        worker_ready = "worker" not in self.components or self._workers_recovered()
        store_error = self.sink.store_error if self.sink else ""
        keeper = self.keeper.state if self.keeper else None
        degraded = [why for bad, why in (
            (not broker_ok, "broker not running"),
            (not worker_ok, "worker restarting"),
            (worker_ok and not worker_ready, "worker not ready (joining, recovering its tables "
             "or not answering)"),
            (not sink_ok, "sink stopped"),
            (bool(store_error), f"store refuses writes: {store_error}"),
            (bool(keeper and keeper.recovering), "re-sending uploads the broker lost"),
            (bool(keeper and keeper.lost_rows), "rows lost (see credit_rows_lost_total)"),
        ) if bad]  # fmt: skip
        return {
            "ready": not degraded and self.store is not None,
            "degraded": degraded,
            "broker": {
                "ok": broker_ok,
                "bootstrap": self.bootstrap,
                "embedded": self.broker is not None,
                "epoch": self.epoch.id,
            },
            "worker": {
                "ok": worker_ok,
                "ready": worker_ready,
                "restarts": self.worker_restarts,
                "processes": len(self.workers),
                "ready_processes": sum(w.recovered() for w in self.workers),
            },
            "sink": {"ok": sink_ok, "batches": self.sink.batches if self.sink else 0},
            "store": {
                "embedded": bool(self.store and self.store.embedded),
                "error": store_error,
            },
            "intake": {
                **self.intake.stats(),
                "lost_rows": sum(keeper.lost_rows.values()) if keeper else 0,
            },
            "api_url": self.api_url,
            "uptime_s": round(time.time() - self.started_at, 1) if self.started_at else 0,
        }

    def _workers_recovered(self) -> bool:
        """Every worker holds its assignment and has read its tables (`WorkerProcess`)."""
        return bool(self.workers) and all(w.recovered() for w in self.workers)

    def worker_failed(self) -> str | None:
        """The first dead worker's exit, with the tail of its log."""
        return next((f for w in self.workers if (f := w.failed()) is not None), None)

    # -- stop --------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop_sharing()
        if self.keeper is not None:
            self.keeper.stop()
            self.keeper = None
        self._stop_worker()
        if self.analyst is not None:
            self.analyst.stop()
            self.analyst = None
        self._stop_sink()
        if self._api is not None:
            self._api.stop()
            self._api = None
        if self.store is not None:
            with contextlib.suppress(Exception):
                self.store.close()
            self.store = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        with contextlib.suppress(FileNotFoundError):
            self.settings.runtime_file.unlink()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _stop_worker(self, kill: bool = False) -> None:
        """SIGTERM (Faust finishes its batch and commits) or, when its broker is gone, SIGKILL."""
        for worker in self.workers:
            worker.stop(kill)
        self.workers = []

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
