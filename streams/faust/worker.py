"""The Faust worker: class topics in, valid records / dead letters / registry updates out.

Faust stays at the edge: the agent takes batches of events (amortizing Faust's per-event
cost), hands each to the pure `Pipeline`, and produces the results with one confluent-kafka
producer flushed per batch, before Faust acknowledges the batch (at-least-once; the store
deduplicates). The subject registry lives in Faust global tables with changelog topics, so
a restarted worker recovers it; the worker writes its tables' changelogs with the same
producer (`streams.faust.changelog`), so they too are flushed before the acknowledgement.

The rolling figures are not kept here: they follow the stored facts' fate (objections,
repairs, retention), which only the store knows, so the sink computes them
(`sinks.write.figures`). That also leaves the worker no state partitioned by subject.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import pyarrow as pa
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient

from base import gc_pause
from base.kafka_errors import count_broker_errors
from base.logs import mask_handlers
from base.metrics import Metrics
from base.settings import Settings
from base.topics import DEAD_LETTER_TOPIC, SUBJECTS_TOPIC, VALID_TOPIC
from schemas import envelope as env
from schemas.catalog import Catalog
from schemas.codec import AvroDecoder
from streams.core.pipeline import Outcome, Pipeline
from streams.exceptions import ResultsNotAcknowledgedError
from streams.faust import faust_transport, state_store
from streams.faust.changelog import Changelog
from streams.faust.credentials import faust_credentials
from streams.faust.sensors import BrokerErrorSensor
from streams.faust.table_view import ChunkView

log = logging.getLogger("credit.worker")
APP_ID = "credit-worker"


def _inbound(event: Any) -> env.Inbound:
    msg = event.message
    return env.Inbound(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value,
        headers=env.headers_to_dict(msg.headers),
        timestamp_ms=int(msg.timestamp * 1000),
    )


OUTPUT_CHUNK = 500  # rows per message on the internal topics (well under 1 MB)
WORKER_FAILED_EXIT = 70  # a batch failed: the platform restarts the worker, which reads it again


@dataclass
class _Results:
    """What one batch produced, gathered so it leaves as a few large messages."""

    valid: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    columns: dict[str, list[pa.Table]] = field(default_factory=lambda: defaultdict(list))
    changed_subjects: set[str] = field(default_factory=set)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    reasons: Counter[tuple[str, str, str]] = field(default_factory=Counter)


class BatchHandler:
    """Runs a batch through the pipeline and publishes the results (flushed before ack).

    Per batch, in order: (1) every record of every message through the pipeline, dead
    letters produced as they come; (2) valid rows and registry entries produced as
    `{"rows": [...]}` messages of up to `OUTPUT_CHUNK` rows, and the producer flushed; (3)
    Faust acknowledges the batch. A batch redelivered after a crash between (2) and (3)
    reaches the sink twice, which stores each record version once.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        producer: Producer,
        metrics: Metrics,
        views: tuple[ChunkView, ...] = (),
        changelog: Changelog | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.views = views
        self.changelog = changelog
        self.producer = producer
        self.metrics = metrics
        self.processed = 0
        self._last_report = 0.0

    def handle(self, events: list[env.Inbound]) -> int:
        """Process the messages; returns how many records they held."""
        started = time.perf_counter()
        for view in self.views:  # what other workers wrote meanwhile is read afresh
            view.forget()
        today = dt.date.today()
        results = _Results()
        records = 0
        for msg, outcomes in zip(events, self.pipeline.process_messages(events, today),
                                 strict=True):  # step 1  # fmt: skip
            for out in outcomes:
                records += out.records
                self._collect(msg, out, results)
        self._ship(results)  # step 2
        remaining = self.producer.flush(30)
        if remaining:
            raise ResultsNotAcknowledgedError(
                f"{remaining} results not acknowledged by the broker in 30 s; the batch will be "
                "read again"
            )
        if self.changelog is not None:
            self.changelog.settle()
        self._count(results)
        self.metrics.worker_batch_seconds.observe(time.perf_counter() - started)
        self.processed += records
        if time.monotonic() - self._last_report > 10:
            log.info("processed %d records so far (last batch %d)", self.processed, records)
            self._last_report = time.monotonic()
        return records

    def _collect(self, msg: env.Inbound, out: Outcome, results: _Results) -> None:
        if out.columns is not None:
            results.columns[out.class_code].append(out.columns)
            results.counts[(out.class_code, "stored")] += out.columns.num_rows
            results.changed_subjects |= out.changed_subjects
        elif out.valid is not None:
            results.valid[out.class_code].append(out.valid)
            results.counts[(out.class_code, "stored")] += 1
            if out.registry_changed:
                results.changed_subjects.add(out.valid["subject_id"])
        elif out.dead is not None:
            key = msg.key or str(out.dead["upload_id"]).encode()
            self._produce(DEAD_LETTER_TOPIC, key, out.dead)
            results.counts[(out.class_code, "rejected")] += 1
            for reason in {r["code"] for r in out.dead["reasons"]}:
                results.reasons[(out.class_code, out.dead["provider"], reason)] += 1

    def _ship(self, results: _Results) -> None:
        catalog = self.pipeline.catalog
        for code in {*results.valid, *results.columns}:  # the sink inserts columns as they are
            cls = catalog.get(code)
            tables = results.columns.get(code, [])
            if results.valid.get(code):  # records of the per-record path
                tables = [*tables, env.valid_table(cls, results.valid[code])]
            whole = pa.concat_tables(tables)
            for start in range(0, whole.num_rows, OUTPUT_CHUNK):
                chunk = whole.slice(start, OUTPUT_CHUNK)
                self._send(VALID_TOPIC, None, env.table_message(chunk))
        subjects = self.pipeline.subjects
        entries = [{"subject_id": sid, **(subjects.get(sid) or {})}
                   for sid in sorted(results.changed_subjects)]  # fmt: skip
        for chunk in _chunks(entries):
            self._produce(SUBJECTS_TOPIC, None, {"rows": chunk})

    def _count(self, results: _Results) -> None:
        for (code, outcome), n in results.counts.items():
            self.metrics.worker_processed.labels(code, outcome).inc(n)
        for (code, provider, reason), n in results.reasons.items():
            self.metrics.worker_rejected.labels(code, provider, reason).inc(n)

    def _produce(self, topic: str, key: bytes | None, value: dict[str, Any]) -> None:
        self._send(topic, key, env.dumps(value))

    def _send(self, topic: str, key: bytes | None, data: bytes) -> None:
        while True:
            try:
                self.producer.produce(topic, data, key)
                return
            except BufferError:
                self.producer.poll(0.05)


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i : i + OUTPUT_CHUNK] for i in range(0, len(rows), OUTPUT_CHUNK)]


def _record_count(msg: env.Inbound) -> int:
    return env.batch_count(msg.headers) or 1


def _by_records(msgs: list[env.Inbound], limit: int) -> list[list[env.Inbound]]:
    """Messages in chunks of about `limit` records: the handler is synchronous, so a chunk
    must end before the Kafka session timeout however many records a message holds."""
    chunks: list[list[env.Inbound]] = [[]]
    held = 0
    for msg in msgs:
        if chunks[-1] and held >= limit:
            chunks.append([])
            held = 0
        chunks[-1].append(msg)
        held += _record_count(msg)
    return chunks


def _faust_app(settings: Settings, bootstrap: str) -> faust.App:
    """The Faust app itself, configured from the settings (no tables, no agent yet)."""
    faust_transport.register()
    return faust.App(
        APP_ID,
        broker=f"{faust_transport.SCHEME}://{bootstrap}",
        store=state_store.store_url(settings),
        datadir=str(state_store.claim_datadir(Path(settings.data_dir) / "worker")),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=max(0.5, settings.session_timeout_ms / 6000),
        consumer_auto_offset_reset="earliest",  # Tansu's end offsets are unreliable
        broker_commit_interval=1.0,  # a killed worker re-reads at most ~1 s of input
        web_enabled=False,
        table_standby_replicas=0,
        broker_credentials=faust_credentials(settings),  # SASL/SSL as for the confluent clients
        # changelog writes come in bursts (one per subject per batch): send them in few,
        # large requests rather than aiokafka's default 16 KB batches
        producer_max_batch_size=512 * 1024,
        producer_linger=0.01,
        consumer_max_fetch_size=4 * 1024**2,
        # Faust buffers 4,096 unacknowledged messages by default: with 500-record batches
        # that held the backlog of whole uploads in memory (worker RSS 800 MB and rising)
        stream_buffer_maxsize=settings.worker_batch_size,
    )


def build_app(
    settings: Settings, bootstrap: str, registry_url: str, catalog: Catalog, metrics: Metrics
) -> faust.App:
    """The Faust app with its tables and the one agent over every class topic."""
    app = _faust_app(settings, bootstrap)
    app.sensors.add(BrokerErrorSensor(metrics))
    schema: faust.Schema[str, Any] = faust.Schema(
        key_type=str, key_serializer="raw", value_serializer="json"
    )

    def table_opts() -> dict[str, Any]:
        # a fresh `options` dict per table: Faust's RocksDB store pops keys from it
        opts = state_store.table_options(settings)
        return {"schema": schema, "use_partitioner": True, "options": opts}

    subjects = app.GlobalTable("subjects", default=None, **table_opts())
    aliases = app.GlobalTable("aliases", default=None, **table_opts())
    registry = SchemaRegistryClient({"url": registry_url})
    decoder = AvroDecoder(lambda sid: registry.get_schema(sid).schema_str or "")
    producer = Producer(count_broker_errors({**settings.kafka_config(bootstrap), "linger.ms": 5,
                         "partitioner": "murmur2_random", "enable.idempotence": True},
                         metrics, "worker"))  # fmt: skip
    changelog = Changelog(producer)  # table writes: store + changelog, flushed with the outputs
    views = tuple(ChunkView(t, changelog) for t in (subjects, aliases))
    pipeline = Pipeline(catalog, decoder, views[0], views[1])
    handler = BatchHandler(pipeline, producer, metrics, views, changelog)
    source = app.topic(*[c.topic for c in catalog], key_serializer="raw", value_serializer="raw")

    @app.task  # type: ignore[untyped-decorator]
    async def mask_logs() -> None:
        # Faust sets up its own handlers at start; add the ID-masking filter to them
        mask_handlers()

    @app.task  # type: ignore[untyped-decorator]
    async def freeze_startup() -> None:
        gc_pause.freeze_startup()  # Faust's objects need no more scanning (base/gc_pause.py)

    @app.agent(source)
    async def process(stream: Any) -> None:
        async for events in stream.take_events(settings.worker_batch_size,
                                               within=settings.worker_batch_seconds):  # fmt: skip
            chunks = _by_records([_inbound(e) for e in events], settings.worker_chunk_records)
            await handle_whole_batch(handler, chunks)

    return app


async def handle_whole_batch(handler: BatchHandler, chunks: list[list[env.Inbound]]) -> None:
    """Every chunk of a batch handled before this returns, or the process ends.

    Why: Faust's `take_events` acknowledges the whole batch when the agent moves on, even
    when it moves on because it was cancelled (SIGTERM: a rolling restart, or the platform
    restarting its workers together) or because the handler raised. The acknowledged
    offsets are then committed, and the chunks not yet handled would be lost — on a durable
    broker for good (read in faust/streams.py; no test caught it happening, since a stop
    must land between two chunks). So a stop between chunks waits for the rest of the
    batch, and a handler that fails ends the process at once, unacknowledged: its restart
    reads the batch again.
    """
    for n, chunk in enumerate(chunks):
        _handle_or_die(handler, chunk)
        if n + 1 == len(chunks):
            return
        try:
            await asyncio.sleep(0)  # heartbeats and fetches run between chunks
        except asyncio.CancelledError:
            log.warning("stopping: handling the %d chunks left of this batch first",
                        len(chunks) - n - 1)  # fmt: skip
            for rest in chunks[n + 1 :]:
                _handle_or_die(handler, rest)
            raise


def _handle_or_die(handler: BatchHandler, chunk: list[env.Inbound]) -> None:
    try:
        with gc_pause.paused():  # collections wait for the chunk's end (gc_pause)
            handler.handle(chunk)
    except BaseException:
        log.exception("a batch failed; exiting before Faust acknowledges it (it is read again)")
        logging.shutdown()
        os._exit(WORKER_FAILED_EXIT)
