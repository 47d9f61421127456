"""CPU per row of the sink: `Sink.write_batch` (rows → inserts, chDB included) on what the
worker really sends.

Not a test (pytest collects `test_*.py` only). Run it directly:

    .venv/bin/python tests/bench/bench_sink.py [--records 60000] [--baseline-src DIR]

The default `mixed` shape is the worker's output (`streams.faust.worker`): per 5,000-record chunk,
`{"class_code": C, "rows": [...]}` messages of up to 500 rows for the four utility classes,
~5% dead letters (one message each), `{"rows": [...]}` messages of registry entries, spread over two partitions; the sink takes them `--batch` messages at a time, as
`credit up` does. `--shape single --class C` times one class in one-record messages instead.

Printed: CPU µs per record (process CPU, so chDB's own threads count), records/s, and
INSERTs per batch. `--baseline-src DIR` runs the same workload against another checkout's
`sinks/` first (e.g. `git worktree add /tmp/base main`), in a child process of the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from confluent_kafka import Message

from base.metrics import create_metrics
from base.topics import DEAD_LETTER_TOPIC, SUBJECTS_TOPIC, VALID_TOPIC
from schemas import envelope as env
from schemas.catalog import Catalog, FieldSpec, InfoClass, default_catalog
from schemas.codes import random_uscc
from sinks.ddl.subject_index import drop_index
from sinks.ddl.upgrade import apply_ddl
from sinks.store import Store, open_embedded
from sinks.write.writer import Sink

MIXED_CLASSES = ("legal_utility_payment", "natural_utility_payment", "legal_arrears",
                 "natural_arrears")  # fmt: skip
CHUNK_RECORDS = 5000  # the worker's records per synchronous step
OUTPUT_CHUNK = 500  # the worker's rows per internal-topic message
PARTITIONS = 2


def _value(spec: FieldSpec, rng: random.Random) -> Any:
    """A JSON value as the worker emits it for a field of this type."""
    if spec.type in ("date", "period_start", "period_end"):
        return dt.date(2024, 1, 1 + rng.randrange(28)).isoformat()
    if spec.type == "int":
        return rng.randrange(1000)
    if spec.type in ("amount", "quantity", "ratio"):
        return round(rng.random() * 10_000, 2)
    if spec.type == "bool":
        return rng.random() < 0.5
    if spec.type == "month":
        return "2024-05"
    if spec.type == "enum" and spec.enum:
        return rng.choice(spec.enum)
    return f"{spec.label}{rng.randrange(10_000)}"


def valid_row(
    cls: InfoClass, i: int, rng: random.Random, upload: str = "u-bench"
) -> dict[str, Any]:
    """One record of `cls` as it travels on the valid topic."""
    subject = random_uscc(rng, "320281")
    now_ms = int(time.time() * 1000)
    meta = {
        "record_key": f"{upload}-{i}", "version": now_ms, "subject_id": subject,
        "subject_kind": cls.subject_kind, "subject_name": f"江阴{i}号有限公司",
        "district": "320281", "name_mismatch": 0, "code_flag": "", "event_date": "2024-05-01",
        "behaviour_end": "2024-05-01", "ingest_provider": "供水公司", "ingest_channel": "file",
        "ingest_upload_id": upload, "ingest_row": i, "ingest_source_key": f"s{i}",
        "ingest_received_at": now_ms,
    }  # fmt: skip
    return {**{f.name: _value(f, rng) for f in cls.fields}, **meta}


def valid_messages(cls: InfoClass, records: int, per_message: int, start: int = 0) -> list[Message]:
    rng = random.Random(start)
    rows = [valid_row(cls, start + i, rng) for i in range(records)]
    msgs = []
    for n, at in enumerate(range(0, records, per_message)):
        chunk = rows[at : at + per_message]
        body = {"class_code": cls.code, "row": chunk[0]} if per_message == 1 else {
            "class_code": cls.code, "rows": chunk}  # fmt: skip
        msgs.append(
            Message(topic=VALID_TOPIC, partition=0, offset=start + n, value=env.dumps(body))
        )
    return msgs


def _dead_letter(cls: InfoClass, i: int, upload: str) -> dict[str, Any]:
    """A dead letter as the worker puts it on the dead-letter topic (a rule refused it)."""
    now_ms = int(time.time() * 1000)
    return {
        "dl_key": f"{upload}:{i}", "class_code": cls.code, "provider": "供水公司",
        "channel": "sdk", "upload_id": upload, "row": i, "source_key": f"s{i}", "stage": "rules",
        "reasons": [{"code": "uscc.check_digit", "field": "uscc", "message_zh": "校验码错误",
                     "message_en": "wrong check character"}],
        "payload": {"uscc": "91320281XXXXXXXXXX", "amount": 12.5}, "raw_b64": "",
        "topic": cls.topic, "partition": 0, "offset": i, "received_ms": now_ms,
        "rejected_ms": now_ms,
    }  # fmt: skip


class Mixed:
    """The worker's output for `records` records, message by message, partitions at random
    (the worker produces without keys)."""

    def __init__(self, catalog: Catalog, seed: int = 7, as_json: bool = False) -> None:
        self.classes = [catalog.get(c) for c in MIXED_CLASSES]
        self.as_json = as_json  # the shape workers sent before they sent columns
        self.rng = random.Random(seed)
        self.offsets: dict[tuple[str, int], int] = {}
        self.records = 0

    def _msg(self, topic: str, body: dict[str, Any] | bytes) -> Message:
        partition = self.rng.randrange(PARTITIONS)
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        value = body if isinstance(body, bytes) else env.dumps(body)
        return Message(topic=topic, partition=partition, offset=offset, value=value)

    def _valid(self, code: str, rows: list[dict[str, Any]]) -> Message:
        if self.as_json:
            return self._msg(VALID_TOPIC, {"class_code": code, "rows": rows})
        cls = next(c for c in self.classes if c.code == code)
        dates = {f.name for f in cls.fields if f.type in ("date", "period_start", "period_end")}
        dates |= {"event_date", "behaviour_end"}
        typed = [{k: dt.date.fromisoformat(v) if k in dates and v else v for k, v in r.items()}
                 for r in rows]  # fmt: skip
        return self._msg(VALID_TOPIC, env.valid_message(cls, typed))

    def chunk(self, n: int) -> Iterator[Message]:
        """One worker step of `n` records."""
        start, self.records = self.records, self.records + n
        upload = f"u-bench-{start // 50_000}"
        valid: dict[str, list[dict[str, Any]]] = {c.code: [] for c in self.classes}
        dead: list[Message] = []
        subjects: list[dict[str, Any]] = []
        for i in range(start, start + n):
            cls = self.classes[i % len(self.classes)]
            if self.rng.random() < 0.05:
                dead.append(self._msg(DEAD_LETTER_TOPIC, _dead_letter(cls, i, upload)))
                continue
            row = valid_row(cls, i, self.rng, upload)
            valid[cls.code].append(row)
            subjects.append({"subject_id": row["subject_id"], "kind": cls.subject_kind,
                             "name": row["subject_name"], "district": "320281",
                             "registered": False})  # fmt: skip
        yield from dead
        for code, rows in valid.items():
            for at in range(0, len(rows), OUTPUT_CHUNK):
                yield self._valid(code, rows[at : at + OUTPUT_CHUNK])
        for at in range(0, len(subjects), OUTPUT_CHUNK):
            yield self._msg(SUBJECTS_TOPIC, {"rows": subjects[at : at + OUTPUT_CHUNK]})


def mixed_batches(
    catalog: Catalog, records: int, batch: int, as_json: bool = False
) -> list[list[Message]]:
    """The messages of `records` records cut into sink batches of `batch` messages."""
    gen = Mixed(catalog, as_json=as_json)
    msgs = [m for _ in range(0, records, CHUNK_RECORDS) for m in gen.chunk(CHUNK_RECORDS)]
    return [msgs[at : at + batch] for at in range(0, len(msgs), batch)]


def records_in(batch: list[Message]) -> int:
    """Provider records a batch accounts for: class rows and dead letters."""
    n = 0
    for msg in batch:
        value = msg.value() or b""
        if msg.topic() == VALID_TOPIC and value[:1] != b"{":
            n += pa.ipc.open_stream(value).read_all().num_rows
        elif msg.topic() == VALID_TOPIC:
            n += len(env.loads(msg.value() or b"{}")["rows"])
        elif msg.topic() == DEAD_LETTER_TOPIC:
            n += 1
    return n


class CountingStore(Store):
    """The store, counting INSERT statements (the bench's figure of fixed cost)."""

    inserts = 0

    def insert(self, *args: Any, **kwargs: Any) -> None:
        CountingStore.inserts += 1
        super().insert(*args, **kwargs)

    def insert_arrow(self, *args: Any, **kwargs: Any) -> None:
        CountingStore.inserts += 1
        super().insert_arrow(*args, **kwargs)


def open_store(tmp: str, catalog: Catalog, index: bool) -> Store:
    base = open_embedded(Path(tmp) / "chdb", "bench")
    store = CountingStore(base.client, base.database, base.embedded)
    apply_ddl(store, catalog)
    if not index:
        drop_index(store, catalog)
    return store


def run_mixed(args: argparse.Namespace, catalog: Catalog) -> str:
    batches = mixed_batches(catalog, args.records, args.batch, args.json)
    records = sum(records_in(b) for b in batches)
    with tempfile.TemporaryDirectory(prefix="credit-bench-sink-") as tmp:
        store = open_store(tmp, catalog, not args.no_index)
        sink = Sink(store, catalog, {}, create_metrics())
        sink.write_batch(mixed_batches(catalog, 2 * CHUNK_RECORDS, args.batch, args.json)[0])
        CountingStore.inserts = 0
        t, cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            sink.write_batch(batch)
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        store.close()
    return (f"{records:,} records in {len(batches)} batches of ≤{args.batch} messages: "
            f"{cpu / records * 1e6:,.1f} CPU µs/record, {records / seconds:,.0f} records/s, "
            f"{CountingStore.inserts / len(batches):.1f} INSERTs per batch")  # fmt: skip


def run_single(args: argparse.Namespace, catalog: Catalog) -> str:
    cls = catalog.get(args.code)
    rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="credit-bench-sink-") as tmp:
        store = open_store(tmp, catalog, not args.no_index)
        sink = Sink(store, catalog, {}, create_metrics())
        for run in range(args.runs):
            records = args.records
            msgs = valid_messages(cls, records, args.per_message, start=run * records)
            cpu = time.process_time()
            sink.write_batch(msgs)
            rates.append((time.process_time() - cpu) / records * 1e6)
        store.close()
    return (f"{args.records:,} records of {cls.code} ({len(cls.fields)} fields), "
            f"{args.per_message} per message: median {statistics.median(rates):,.1f} "
            "CPU µs/record")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=("mixed", "single"), default="mixed")
    ap.add_argument("--records", type=int, default=60_000)
    ap.add_argument("--batch", type=int, default=400, help="messages per sink batch")
    ap.add_argument("--per-message", type=int, default=1, help="single: records per message")
    ap.add_argument("--class", dest="code", default="ent_admin_penalty", help="single: class")
    ap.add_argument("--runs", type=int, default=3, help="single: runs")
    ap.add_argument("--repeat", type=int, default=1, help="alternate baseline and this N times")
    ap.add_argument("--no-index", action="store_true", help="without the subject index's views")
    ap.add_argument("--json", action="store_true",
                    help="valid records as JSON rows (the shape before columns)")  # fmt: skip
    ap.add_argument("--baseline-src", help="a checkout whose sinks/ to time first, same run")
    args = ap.parse_args()
    catalog = default_catalog()
    run = run_mixed if args.shape == "mixed" else run_single
    for _ in range(args.repeat):
        if args.baseline_src:
            child = [a for a in sys.argv[1:] if a != args.baseline_src and
                     not a.startswith("--baseline-src")] + ["--json"]  # fmt: skip
            env_ = {**os.environ, "PYTHONPATH": args.baseline_src}
            base = subprocess.run([sys.executable, __file__, *child, "--repeat", "1"], env=env_,
                                  capture_output=True, text=True, check=True)  # fmt: skip
            print(f"baseline ({args.baseline_src}): {base.stdout.strip().splitlines()[-1].split(': ', 1)[1]}",
                  flush=True)  # fmt: skip
        print(f"this checkout: {run(args, catalog)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
