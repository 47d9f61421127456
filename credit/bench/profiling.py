"""`credit bench`'s profile: the pure worker stages one after another over a sample of the
workload (CPU µs per record), plus cProfile's top functions."""

from __future__ import annotations

import cProfile
import datetime as dt
import io
import json
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from credit.bench.workload import CLASSES, Item

PROFILE_CPROFILE = 5000


# -- profile: the pure pipeline, stage by stage -------------------------------------------------
def profile_pipeline(items: list[Item], kafka: dict[str, Any]) -> dict[str, Any]:
    """µs per record of each worker stage and of the SDK's Avro work; cProfile of the whole.

    Stages are timed one after another over the whole sample (no profiler overhead); the
    cProfile run is separate and smaller, for the top functions only.
    """

    from schemas import envelope as env
    from schemas.catalog import default_catalog
    from schemas.codec import AvroDecoder
    from streams.core.banned import strip_banned
    from streams.core.pipeline import Pipeline, enrich
    from streams.core.rules import validate

    catalog = default_catalog()
    now = int(time.time() * 1000)
    texts, encoders, values, msgs = _sample(items, now)
    today, stage, count = dt.date.today(), {}, len(msgs)
    decoder = AvroDecoder(texts.__getitem__)

    def timed(
        name: str, fn: Callable[[], Any], clock: Callable[[], float] = time.thread_time
    ) -> Any:
        # CPU time, not wall time: the figures hold on a machine shared with other work
        t0 = clock()
        out = fn()
        stage[name] = round((clock() - t0) / count * 1e6, 2)
        return out

    decoded = timed("avro_decode", lambda: [decoder.decode(m.value)[1] for m in msgs])
    classes = [catalog.by_topic(m.topic) for m in msgs]
    kept = timed("banned_data", lambda: [strip_banned(r, c.subject_kind) for c, r in
                                         zip(classes, decoded, strict=True)])  # fmt: skip
    checked = timed("rules", lambda: [(c, r, not (b or validate(c, r, catalog, today)))
                                      for c, (r, b) in zip(classes, kept, strict=True)])  # fmt: skip
    resolved = timed("identity", lambda: _identities(checked, today))
    meta = {"provider": "p", "channel": "sdk", "upload_id": "bench", "row": 1, "source_key": "k"}
    rows = timed("enrich", lambda: [enrich(c, r, res, meta, now) for c, r, res in resolved])
    batches = _batches(catalog, encoders, values, now)
    columns = Pipeline(catalog, AvroDecoder(texts.__getitem__), {}, {})
    # the worker's path: a step of 10 batch messages at a time, valid rows sent as Arrow
    blobs = timed("columns_pipeline_and_arrow", lambda: _columns(columns, batches, today))
    timed("figures", lambda: _figures([(c.code, r) for (c, _, _), r in
                                             zip(resolved, rows, strict=True)], today))  # fmt: skip
    timed("producer", lambda: _produce(kafka, blobs), time.process_time)  # + librdkafka's threads
    # the SDK's own per-record work before its produce (Publisher.send)
    timed("sdk_avro_encode", lambda: [encoders[c].encode(v) for c, v in values])
    pipeline = Pipeline(catalog, AvroDecoder(texts.__getitem__), {}, {})
    timed("per_record_pipeline_and_json", lambda: _per_record(pipeline, msgs, today))
    prof = cProfile.Profile()  # the worker's own path over a sample
    sample = batches[: max(1, PROFILE_CPROFILE // 500)]
    sampled = sum(env.batch_count(m.headers) or 1 for m in sample)
    prof.runcall(_columns, Pipeline(catalog, AvroDecoder(texts.__getitem__), {}, {}), sample,
                 today)  # fmt: skip
    return {"records": count, "us_per_record": stage, "top": _top_functions(prof, sampled)}


def _identities(checked: list[tuple[Any, dict[str, Any], bool]], today: dt.date,
                ) -> list[tuple[Any, dict[str, Any], Any]]:  # fmt: skip
    """The valid records resolved to their subjects, the registry learning as it goes."""
    from streams.core.identity import learn, resolve

    subjects: dict[str, Any] = {}
    aliases: dict[str, Any] = {}
    out = []
    for cls, rec, ok in checked:
        res = resolve(cls, rec, subjects, aliases, today) if ok else None
        if res is not None and not res.violations:
            learn(cls, rec, res, subjects, aliases)
            out.append((cls, rec, res))
    return out


def _per_record(pipeline: Any, msgs: list[Any], today: dt.date) -> None:
    """The record-by-record path, each outcome as JSON (before the columnar path)."""
    from schemas import envelope as env

    for m in msgs:
        out = pipeline.process(m, today)
        env.dumps({"row": out.valid} if out.valid is not None else out.dead or {})


def _sample(items: list[Item], now: int) -> tuple[dict[int, str], dict[str, Any],
                                                   list[tuple[str, dict[str, Any]]], list[Any]]:  # fmt: skip
    """The items as the SDK encodes them: schema texts by id, encoders by class, the values
    and one Confluent-framed message per record."""
    from schemas import envelope as env
    from schemas.avro import avro_schema
    from schemas.catalog import default_catalog
    from schemas.codec import AvroEncoder

    catalog = default_catalog()
    schemas = {code: avro_schema(catalog.get(code)) for code in CLASSES}
    ids = {code: i + 1 for i, code in enumerate(CLASSES)}
    texts = {ids[c]: json.dumps(s, ensure_ascii=False) for c, s in schemas.items()}
    encoders = {c: AvroEncoder(schemas[c], ids[c]) for c in CLASSES}
    msgs, values = [], []
    for n, (code, provider, record) in enumerate(items):
        cls = catalog.get(code)
        value = {name: record.get(name) for name in cls.by_name}
        value.update(ingest_provider=provider, ingest_channel="sdk", ingest_upload_id="bench",
                     ingest_row=n + 1, ingest_source_key=f"k{n}", ingest_received_at=now)  # fmt: skip
        values.append((code, value))
        msgs.append(env.Inbound(cls.topic, 0, n, b"", encoders[code].encode(value),
                                {env.H_PROVIDER: provider}, now))  # fmt: skip
    return texts, encoders, values, msgs


def _produce(kafka: dict[str, Any], blobs: list[bytes]) -> None:
    """Send the blobs as the worker sends its outputs (idempotent, murmur2), and wait."""
    from confluent_kafka import Producer as KafkaProducer

    producer = KafkaProducer({**kafka, "linger.ms": 5, "enable.idempotence": True,
                              "partitioner": "murmur2_random"})  # fmt: skip
    for blob in blobs:
        while True:
            try:
                producer.produce("bench.profile", blob, b"k")
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def _batches(catalog: Any, encoders: dict[str, Any], values: list[tuple[str, dict[str, Any]]],
             now: int) -> list[Any]:  # fmt: skip
    """The records as the SDK sends them: record batches of 500 per class."""
    from schemas import envelope as env
    from schemas.codec import frame_batch

    by_class: dict[str, list[bytes]] = {}
    for code, value in values:
        by_class.setdefault(code, []).append(encoders[code].body(value))
    msgs = []
    for code, bodies in by_class.items():
        for at in range(0, len(bodies), 500):
            chunk = bodies[at : at + 500]
            msgs.append(env.Inbound(catalog.get(code).topic, 0, at, b"",
                                    frame_batch(encoders[code].schema_id, chunk),
                                    {env.H_BATCH: str(len(chunk))}, now))  # fmt: skip
    return msgs


def _columns(pipeline: Any, msgs: list[Any], today: dt.date) -> list[bytes]:
    """What the worker does with a step of 10 messages: the pipeline, then the valid rows
    as Arrow IPC messages of up to 500 rows (`streams.faust.worker`); the messages."""
    from schemas import envelope as env

    blobs = []
    for at in range(0, len(msgs), 10):
        tables = [o.columns for outs in pipeline.process_messages(msgs[at : at + 10], today)
                  for o in outs if o.columns is not None]  # fmt: skip
        for table in tables:
            for start in range(0, table.num_rows, 500):
                blobs.append(env.table_message(table.slice(start, 500)))
    return blobs


def _figures(rows: list[tuple[str, dict[str, Any]]], today: dt.date) -> int:
    """The figures' own CPU as the sink spends it per batch (`sinks.write.figures.figure_rows` over
    the facts of the touched subjects, 5,000 records at a time), without the store's reads:
    each batch's subjects have no earlier facts here, as in the bench's workload."""
    from sinks.write.figures import figure_rows

    emitted = 0
    for start in range(0, len(rows), 5000):
        emitted += len(figure_rows(rows[start : start + 5000], today, 1))
    return emitted


def _top_functions(prof: cProfile.Profile, count: int, n: int = 12) -> list[dict[str, Any]]:
    st = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (path, line, func), (_, calls, tottime, cumtime, _) in st.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(path).parent.name}/{Path(path).name}:{line}" if line else path
        rows.append({"function": f"{func} ({where})", "tottime_us": tottime / count * 1e6,
                     "cumtime_us": cumtime / count * 1e6, "calls": calls / count})  # fmt: skip
    rows.sort(key=lambda r: -r["tottime_us"])
    return [{k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}
            for r in rows[:n]]  # fmt: skip
