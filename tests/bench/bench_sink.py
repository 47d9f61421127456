"""Insert throughput of the sink: `Sink.write_batch` on valid-record messages of a wide class.

Not a test (pytest collects `test_*.py` only). Run it directly:

    .venv/bin/python tests/bench/bench_sink.py [--messages 20000] [--class ent_admin_penalty]

It builds the messages the worker puts on `credit.valid` (one record each, or `--per-message N`
records per message in the batched form), opens a fresh chDB store and times `write_batch`
(rows → columns → insert, outcomes included) over several runs; prints rows/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Message

from credit.metrics import create_metrics
from credit.topics import VALID_TOPIC
from schemas.catalog import FieldSpec, InfoClass, default_catalog
from sinks.store import open_embedded
from sinks.subject_index import drop_index
from sinks.writer import Sink
from streams import envelope as env
from streams.codes import random_uscc


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--per-message", type=int, default=1)
    ap.add_argument("--class", dest="code", default="ent_admin_penalty")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-index", action="store_true", help="without the subject index's views")
    args = ap.parse_args()
    catalog = default_catalog()
    cls = catalog.get(args.code)
    with tempfile.TemporaryDirectory(prefix="credit-bench-sink-") as tmp:
        store = open_embedded(Path(tmp) / "chdb", "bench")
        store.apply_ddl(catalog)
        if args.no_index:
            drop_index(store, catalog)
        sink = Sink(store, catalog, {}, create_metrics())
        rates: list[float] = []
        cpu_rates: list[float] = []
        for run in range(args.runs):
            records = args.messages * args.per_message
            msgs = valid_messages(cls, records, args.per_message, start=run * records)
            t, cpu = time.perf_counter(), time.process_time()
            sink.write_batch(msgs)
            seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
            rates.append(records / seconds)
            cpu_rates.append(records / cpu)
            print(f"run {run}: {records:,} records of {cls.code} ({len(cls.fields)} fields) "
                  f"in {seconds:.2f} s = {records / seconds:,.0f} rows/s "
                  f"({records / cpu:,.0f} rows per CPU-second)", flush=True)  # fmt: skip
        print(
            f"median {statistics.median(rates):,.0f} rows/s, "
            f"{statistics.median(cpu_rates):,.0f} rows per CPU-second (class table + outcomes)"
        )
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
