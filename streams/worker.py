"""The Faust worker: class topics in, valid records / dead letters / registry updates out.

Faust stays at the edge: the agent takes batches of events (amortizing Faust's per-event
cost), hands each to the pure `Pipeline`, and produces the results with one confluent-kafka
producer flushed per batch, before Faust acknowledges the batch (at-least-once; the store
deduplicates). The subject registry lives in Faust global tables with changelog topics, so
a restarted worker recovers it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import faust
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient

from credit.logs import mask_handlers
from credit.metrics import Metrics
from credit.settings import Settings
from credit.topics import AGGREGATES_TOPIC, DEAD_LETTER_TOPIC, SUBJECTS_TOPIC, VALID_TOPIC
from schemas.catalog import Catalog
from schemas.codec import AvroDecoder
from streams import aggregates, state_store
from streams import envelope as env
from streams.pipeline import Outcome, Pipeline

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


class BatchHandler:
    """Runs a batch through the pipeline and publishes the results (flushed before ack).

    Per batch, in order: (1) each message through the pipeline, valid records folded into
    the subject's aggregate state (in memory); (2) each touched subject's state written to
    the aggregates table once (one changelog write per subject per batch, not per record)
    and its figures emitted; (3) the producer flushed; (4) Faust acknowledges the batch.
    Aggregate state is keyed by record key, so a batch redelivered after a crash between
    (2) and (4) changes nothing.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        producer: Producer,
        metrics: Metrics,
        aggregates: MutableMapping[str, Any],
    ) -> None:
        self.pipeline = pipeline
        self.producer = producer
        self.metrics = metrics
        self.aggregates = aggregates
        self.processed = 0
        self._last_report = 0.0

    def handle(self, events: list[env.Inbound]) -> None:
        started = time.perf_counter()
        today = dt.date.today()
        touched: dict[str, dict[str, Any]] = {}
        for msg in events:  # step 1
            out = self.pipeline.process(msg, today)
            self._publish(msg, out)
            if out.valid is not None:
                self._fold(out.class_code, out.valid, touched)
        self._emit_aggregates(touched, today)  # step 2
        # step 3: every result of the batch is on the broker; step 4 (by Faust): ack offsets
        remaining = self.producer.flush(30)
        if remaining:
            raise RuntimeError(f"{remaining} results not acknowledged; batch will be redelivered")
        self.metrics.worker_batch_seconds.observe(time.perf_counter() - started)
        self.processed += len(events)
        if time.monotonic() - self._last_report > 10:
            log.info("processed %d records so far (last batch %d)", self.processed, len(events))
            self._last_report = time.monotonic()

    def _publish(self, msg: env.Inbound, out: Outcome) -> None:
        if out.valid is not None:
            self._produce(VALID_TOPIC, msg.key, {"class_code": out.class_code, "row": out.valid})
            self.metrics.worker_processed.labels(out.class_code, "stored").inc()
            if out.registry_changed:
                sid = out.valid["subject_id"]
                entry = {"subject_id": sid, **self.pipeline.subjects.get(sid, {})}
                self._produce(SUBJECTS_TOPIC, sid.encode(), entry)
        elif out.dead is not None:
            self._produce(DEAD_LETTER_TOPIC, msg.key, out.dead)
            self.metrics.worker_processed.labels(out.class_code, "rejected").inc()
            for reason in {r["code"] for r in out.dead["reasons"]}:
                self.metrics.worker_rejected.labels(
                    out.class_code, out.dead["provider"], reason
                ).inc()

    def _fold(
        self, class_code: str, row: dict[str, Any], touched: dict[str, dict[str, Any]]
    ) -> None:
        kind = aggregates.kind_of(class_code, row)
        if kind is None:
            return
        sid = row["subject_id"]
        if sid not in touched:
            touched[sid] = {"kind_of_subject": row["subject_kind"],
                            "states": dict(self.aggregates.get(sid) or {})}  # fmt: skip
        states = touched[sid]["states"]
        try:
            states[kind] = aggregates.apply(states.get(kind), kind, row, class_code)
        except aggregates.AggregateError as exc:
            log.warning("aggregate skipped for %s/%s: %s", class_code, kind, exc)

    def _emit_aggregates(self, touched: dict[str, dict[str, Any]], today: dt.date) -> None:
        version = int(time.time() * 1000)
        for sid, entry in touched.items():
            self.aggregates[sid] = entry["states"]
            for kind, state in entry["states"].items():
                row = aggregates.state_row(sid, entry["kind_of_subject"], kind, state, today,
                                           version)  # fmt: skip
                self._produce(AGGREGATES_TOPIC, sid.encode(), row)

    def _produce(self, topic: str, key: bytes | None, value: dict[str, Any]) -> None:
        while True:
            try:
                self.producer.produce(topic, env.dumps(value), key)
                return
            except BufferError:
                self.producer.poll(0.05)


def build_app(
    settings: Settings, bootstrap: str, registry_url: str, catalog: Catalog, metrics: Metrics
) -> faust.App:
    """The Faust app with its tables and the one agent over every class topic."""
    app = faust.App(
        APP_ID,
        broker=f"kafka://{bootstrap}",
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
    )
    schema = faust.Schema(key_type=str, key_serializer="raw", value_serializer="json")

    def table_opts() -> dict[str, Any]:
        # a fresh `options` dict per table: Faust's RocksDB store pops keys from it
        opts = state_store.table_options(settings)
        return {"schema": schema, "use_partitioner": True, "options": opts}

    subjects = app.GlobalTable("subjects", default=None, **table_opts())
    aliases = app.GlobalTable("aliases", default=None, **table_opts())
    # subject id → {kind: state}; keyed like the class topics, so it is co-partitioned
    aggregate_states = app.Table("aggregates", default=None, **table_opts())
    registry = SchemaRegistryClient({"url": registry_url})
    decoder = AvroDecoder(lambda sid: registry.get_schema(sid).schema_str or "")
    pipeline = Pipeline(catalog, decoder, subjects, aliases)
    producer = Producer({**settings.kafka_config(bootstrap), "linger.ms": 5,
                         "partitioner": "murmur2_random", "enable.idempotence": True})  # fmt: skip
    handler = BatchHandler(pipeline, producer, metrics, aggregate_states)
    source = app.topic(*[c.topic for c in catalog], key_serializer="raw", value_serializer="raw")

    @app.task  # type: ignore[untyped-decorator]
    async def mask_logs() -> None:
        # Faust sets up its own handlers at start; add the ID-masking filter to them
        mask_handlers()

    @app.agent(source)  # type: ignore[untyped-decorator]
    async def process(stream: Any) -> None:
        async for events in stream.take_events(settings.worker_batch_size,
                                               within=settings.worker_batch_seconds):  # fmt: skip
            handler.handle([_inbound(e) for e in events])

    return app
