"""`credit bench`'s child processes and baselines: the SDK producer, the naive Faust design
(one event and one changelogged update per record) and the ceiling (consume + decode only).

They run as `python -m credit.bench.run produce|naive` so their CPU is not counted as the
platform's and chDB keeps its one path per process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from credit.bench.peer import child_rate, watch_child
from credit.bench.workload import Item, workload
from credit.exceptions import BenchError

NAIVE_TIME_BOX_S = 45.0
NAIVE_PREFIX = "bench.naive."


# -- child process: the SDK producer ----------------------------------------------------------
def produce_main(spec: dict[str, Any]) -> int:
    """Generate, say `ready`, wait for `go`, send (paced if `rate`), flush, publish the ledger."""
    from producers.durable_intake import DurableIntake
    from producers.publisher import Publisher, new_upload_id
    from schemas.catalog import default_catalog

    catalog = default_catalog()
    month = dt.date.fromisoformat(spec["month"])
    items, stats = workload(spec["records"], spec["subjects"], spec["seed"], month)
    batch = int(spec.get("batch_records") or 1)
    publishers = {p: Publisher(spec["kafka"], spec["registry"], p, "sdk", batch_records=batch)
                  for p in sorted({p for _, p, _ in items})}  # fmt: skip
    uploads: dict[tuple[str, str], dict[str, Any]] = {}
    for code, provider, _ in items:
        if (provider, code) not in uploads:
            publishers[provider]._encoder(catalog.get(code))  # registry round trip before the clock
            uploads[(provider, code)] = {"id": new_upload_id("sdk"), "rows": 0, "rejected": 0}
    if spec.get("naive_prefix"):
        return _produce_naive(spec, items, publishers, uploads)
    print("ready", flush=True)
    sys.stdin.readline()
    rate = float(spec.get("rate") or 0)
    cpu0, first = os.times(), time.time()
    intake = DurableIntake(Path(spec["intake_dir"])) if spec.get("intake_dir") else None
    recorders = {}
    if intake is not None:  # what every channel does: the messages go to the intake first
        for n, (provider, pub) in enumerate(publishers.items()):
            recorders[provider] = intake.begin(f"bench-{n}-{new_upload_id('sdk')}")
            pub.record_to(recorders[provider])
    _send_paced(items, publishers, uploads, rate, first)
    sent = time.time()
    for pub in publishers.values():
        pub.flush()
    flushed = time.time()
    _record_uploads(publishers, uploads, first, flushed)
    if intake is not None:  # accepted: durable first, then produced from the intake
        flushed = _commit_and_publish(intake, publishers, recorders)
    cpu1 = os.times()
    out = {"first_send": first, "sent": sent, "flushed": flushed, "records": len(items),
           "uploads": [u["id"] for u in uploads.values()], **stats,
           "cpu_s": round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 2)}  # fmt: skip
    print(json.dumps(out), flush=True)
    return 0


def _send_paced(items: list[Item], publishers: dict[str, Any],
                uploads: dict[tuple[str, str], dict[str, Any]], rate: float, first: float,
                ) -> None:  # fmt: skip
    """Every item sent by its provider's publisher, at `rate` records/s (0: at once)."""
    from schemas.catalog import default_catalog

    catalog = default_catalog()
    for n, (code, provider, record) in enumerate(items):
        if rate:
            ahead = first + n / rate - time.time()
            if ahead > 0.001:
                time.sleep(ahead)
        up = uploads[(provider, code)]
        up["rows"] += 1
        if publishers[provider].send(catalog.get(code), record, up["id"], up["rows"]):
            up["rejected"] += 1


def _record_uploads(publishers: dict[str, Any], uploads: dict[tuple[str, str], dict[str, Any]],
                    first: float, flushed: float) -> None:  # fmt: skip
    """Each upload's ledger entry, as `credit publish` writes it, flushed."""
    for (provider, code), up in uploads.items():
        publishers[provider].record_upload({
            "upload_id": up["id"], "class_code": code, "provider": provider, "channel": "sdk",
            "source_name": "credit bench", "received": up["rows"],
            "sent": up["rows"] - up["rejected"], "rejected": up["rejected"],
            "started_ms": int(first * 1000), "finished_ms": int(flushed * 1000),
        })  # fmt: skip
    for pub in publishers.values():
        pub.flush()


def _commit_and_publish(
    intake: Any, publishers: dict[str, Any], recorders: dict[str, Any]
) -> float:
    """The intake's step (2) and (3) for each publisher's upload; returns when all is acked."""
    for provider, pub in publishers.items():
        recorder = recorders[provider]
        recorder.commit({"upload_id": recorder.folder.name, "received": recorder.frames})
        pub.record_to(None)
        pub.publish_frames(intake.frames(recorder.folder.name))
    return time.time()


def _produce_naive(spec: dict[str, Any], items: list[Item], publishers: dict[str, Any],
                   uploads: dict[tuple[str, str], dict[str, Any]]) -> int:  # fmt: skip
    """The naive design's input: the same records, one Confluent-framed message each, keyed by
    subject, on `naive_prefix` + class topic (not timed: the naive app times itself)."""
    from confluent_kafka import Producer

    from producers.publisher import source_key_of, subject_key
    from schemas.catalog import default_catalog

    catalog = default_catalog()
    producer = Producer({**spec["kafka"], "linger.ms": 20, "compression.type": "lz4",
                         "partitioner": "murmur2_random"})  # fmt: skip
    print("ready", flush=True)
    sys.stdin.readline()
    for n, (code, provider, record) in enumerate(items):
        cls, pub = catalog.get(code), publishers[provider]
        value = pub.value_of(cls, record, uploads[(provider, code)]["id"], n,
                             source_key_of(cls, record))  # fmt: skip
        while True:
            try:
                producer.produce(spec["naive_prefix"] + cls.topic,
                                 pub._encoder(cls).encode(value), subject_key(cls, record))  # fmt: skip
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    print(json.dumps({"records": len(items)}), flush=True)
    return 0


class ProducerChild:
    """The producer child: started (generates), then `go()` starts the clock, `result()` waits."""

    def __init__(self, spec: dict[str, Any], log_path: Path) -> None:
        self._log = log_path.open("ab")
        cmd = [sys.executable, "-m", "credit.bench.run", "produce", json.dumps(spec)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True)  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise BenchError(f"the producer failed to start; see {log_path}")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self, timeout: float = 600) -> dict[str, Any]:
        out, _ = self.proc.communicate(timeout=timeout)
        self._log.close()
        if self.proc.returncode != 0:
            raise BenchError(f"the producer exited with {self.proc.returncode}")
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result


# -- child process: the naive Faust design ----------------------------------------------------
def naive_main(spec: dict[str, Any]) -> int:
    """One Faust event per record: Avro decode, then `table[subject] += 1` (changelogged)."""
    import faust
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from schemas.codec import AvroDecoder

    parts = spec["partitions"]
    app = faust.App(spec["app_id"], broker=f"kafka://{spec['bootstrap']}", store="memory://",
                    datadir=spec["datadir"], topic_partitions=parts, topic_replication_factor=1,
                    broker_session_timeout=6.0, broker_heartbeat_interval=1.0,
                    consumer_auto_offset_reset="earliest", web_enabled=False,
                    table_standby_replicas=0)  # fmt: skip
    schema: faust.Schema[str, Any] = faust.Schema(
        key_type=str, key_serializer="raw", value_serializer="json"
    )
    table = app.Table("per_subject", default=int, partitions=parts, schema=schema)
    source = app.topic(*spec["topics"], key_serializer="raw", value_serializer="raw")
    registry = SchemaRegistryClient({"url": spec["registry"]})
    decoder = AvroDecoder(lambda sid: registry.get_schema(sid).schema_str or "")
    out = Path(spec["out"])
    state = {"n": 0, "first": 0.0, "cpu0": 0.0}

    def cpu() -> float:
        t = os.times()
        return t.user + t.system

    def report(last: float) -> None:
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps({**state, "last": last, "cpu": cpu()}))
        tmp.replace(out)

    @app.agent(source)
    async def count(stream: Any) -> None:
        async for event in stream.events():
            if not state["n"]:
                state["first"], state["cpu0"] = time.time(), cpu()
            decoder.decode(event.value)
            key = (event.key or b"").decode()
            table[key] = table[key] + 1
            state["n"] += 1
            if state["n"] % 2000 == 0 or state["n"] == spec["expected"]:
                report(time.time())

    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
    return 0


def naive_baseline(bootstrap: str, registry: str, topics: list[str], partitions: int,
                   expected: int, work: Path) -> dict[str, Any]:  # fmt: skip
    out = work / "naive.json"
    spec = {"app_id": f"bench-naive-{uuid.uuid4().hex[:6]}", "bootstrap": bootstrap,
            "registry": registry, "topics": topics, "partitions": partitions,
            "expected": expected, "datadir": str(work / "naive"), "out": str(out)}  # fmt: skip
    with (work / "logs" / "naive.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "credit.bench.run", "naive", json.dumps(spec)],
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    got = watch_child(proc, out, expected, 60, NAIVE_TIME_BOX_S)  # join, changelog topic
    return child_rate(got, expected, "the naive Faust app", "naive.log")


def create_topics(kafka: dict[str, Any], topics: list[str], partitions: int,
                  config: dict[str, str] | None = None) -> None:  # fmt: skip
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient(kafka)
    futures = admin.create_topics([NewTopic(t, partitions, 1, config=config or {})
                                   for t in topics])  # fmt: skip
    for future in futures.values():
        future.result(30)


# -- ceiling baseline --------------------------------------------------------------------------
def ceiling_baseline(kafka: dict[str, Any], registry: str, topics: list[str],
                     partitions: int, expected: int) -> dict[str, Any]:  # fmt: skip
    """Consume + Avro-decode the class topics (own group, assigned from the beginning)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from schemas.codec import AvroDecoder

    client = SchemaRegistryClient({"url": registry})
    decoder = AvroDecoder(lambda sid: client.get_schema(sid).schema_str or "")
    consumer = Consumer({**kafka, "group.id": f"bench-ceiling-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})  # fmt: skip
    # assign, not subscribe: no group join to wait for (Tansu: from the beginning, not the end)
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics
                     for p in range(partitions)])  # fmt: skip
    n, first, last, idle = 0, 0.0, 0.0, time.monotonic() + 20
    cpu0 = os.times()
    try:
        while n < expected and time.monotonic() < idle:
            for msg in consumer.consume(10000, timeout=0.5):
                if msg.error() is None:
                    first = first or time.perf_counter()
                    n += _decode_all(decoder, msg.value())
                    idle = time.monotonic() + 5
            last = time.perf_counter()
    finally:
        consumer.close()
    cpu1, secs = os.times(), last - first
    cpu_s = cpu1.user + cpu1.system - cpu0.user - cpu0.system  # the whole process, sink idling
    return {"records": n, "seconds": round(secs, 2),
            "records_per_s": round(n / secs, 1) if secs > 0 else 0.0,
            "cpu_us_per_record": round(cpu_s / max(n, 1) * 1e6, 1)}  # fmt: skip


def _decode_all(decoder: Any, value: bytes | None) -> int:
    """Decode every record of a message (a Confluent frame or a record batch)."""
    from schemas.codec import is_batch, split_batch

    if not is_batch(value):
        decoder.decode(value)
        return 1
    schema_id, bodies, _ = split_batch(value)
    for body in bodies:
        decoder.decode_body(schema_id, body)
    return len(bodies)
