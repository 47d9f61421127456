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
from pathlib import Path
from typing import Any

import faust
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient

from credit.logs import mask_handlers
from credit.metrics import Metrics
from credit.settings import Settings
from credit.topics import DEAD_LETTER_TOPIC, SUBJECTS_TOPIC, VALID_TOPIC
from schemas.catalog import Catalog
from schemas.codec import AvroDecoder
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
    """Runs a batch through the pipeline and publishes the results (flushed before ack)."""

    def __init__(self, pipeline: Pipeline, producer: Producer, metrics: Metrics) -> None:
        self.pipeline = pipeline
        self.producer = producer
        self.metrics = metrics

    def handle(self, events: list[env.Inbound]) -> None:
        started = time.perf_counter()
        today = dt.date.today()
        for msg in events:
            self._publish(msg, self.pipeline.process(msg, today))
        # step 1: every result of the batch is on the broker; step 2 (by Faust): ack offsets
        remaining = self.producer.flush(30)
        if remaining:
            raise RuntimeError(f"{remaining} results not acknowledged; batch will be redelivered")
        self.metrics.worker_batch_seconds.observe(time.perf_counter() - started)

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
        store="memory://",
        datadir=str(Path(settings.data_dir) / "worker"),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=max(0.5, settings.session_timeout_ms / 6000),
        consumer_auto_offset_reset="earliest",  # Tansu's end offsets are unreliable
        web_enabled=False,
        table_standby_replicas=0,
    )
    schema = faust.Schema(key_type=str, key_serializer="raw", value_serializer="json")
    table_opts: dict[str, Any] = {"schema": schema, "use_partitioner": True}
    subjects = app.GlobalTable("subjects", default=None, **table_opts)
    aliases = app.GlobalTable("aliases", default=None, **table_opts)
    registry = SchemaRegistryClient({"url": registry_url})
    decoder = AvroDecoder(lambda sid: registry.get_schema(sid).schema_str or "")
    pipeline = Pipeline(catalog, decoder, subjects, aliases)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                         "partitioner": "murmur2_random", "enable.idempotence": True})  # fmt: skip
    handler = BatchHandler(pipeline, producer, metrics)
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
