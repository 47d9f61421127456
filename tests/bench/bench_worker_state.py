"""Worker state cost: RSS per subject (memory vs RocksDB store) and µs per record of the
aggregate arithmetic. Not collected by pytest (no test_ prefix); run it by hand:

    .venv/bin/python tests/bench/bench_worker_state.py --subjects 20000
    .venv/bin/python tests/bench/bench_worker_state.py --cpu-only       # µs/record only

Records come from the benchmark's generator (`credit.bench.run.workload`: enterprises and
persons, 4 utilities, ~7% arrears, ~5% invalid, ~1% re-sends) and go through the same
identity and enrichment as the worker's, so the states and the registry entries in the
tables are the ones the worker keeps. Each store is filled in its own child process through
the real Faust store classes (`Table.data`, the worker's schema and options), in chunks, and
the RSS growth is divided by the subjects stored. The aggregate timing folds batches of
2,000 records like `BatchHandler` and emits each touched (subject, kind) row as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streams.exceptions import AggregateError

Row = tuple[str, dict[str, Any]]
CHUNK = 2000


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rows_for(first: int, subjects: int, per_subject: int, registry: tuple[dict[str, Any], ...]
             ) -> list[Row]:  # fmt: skip
    """Enriched rows (as the worker folds them) of `subjects` subjects from seed `first`."""
    from credit.bench.workload import workload
    from schemas.catalog import default_catalog
    from streams.core.identity import learn, resolve
    from streams.core.pipeline import enrich

    catalog = default_catalog()
    subj, aliases = registry
    items, _ = workload(subjects * per_subject, subjects, first, dt.date.today().replace(day=1))
    meta = {"provider": "p", "channel": "sdk", "upload_id": "bench", "row": 1}
    now = int(time.time() * 1000)
    out: list[Row] = []
    for n, (code, provider, record) in enumerate(items):
        cls = catalog.get(code)
        res = resolve(cls, record, subj, aliases)
        if res is None or res.violations:
            continue
        learn(cls, record, res, subj, aliases)
        row = enrich(cls, record, res, {**meta, "provider": provider, "source_key": f"{first}:{n}"},
                     now)  # fmt: skip
        out.append((code, row))
    return out


def fold(
    rows: list[Row], table: dict[str, dict[str, Any]]
) -> dict[str, tuple[str, dict[str, Any]]]:
    from streams.core import aggregates as agg

    touched: dict[str, tuple[str, dict[str, Any]]] = {}
    for code, row in rows:
        kind = agg.kind_of(code, row)
        if kind is None:
            continue
        sid = row["subject_id"]
        if sid not in touched:
            touched[sid] = (row["subject_kind"], dict(table.get(sid) or {}))
        states = touched[sid][1]
        with contextlib.suppress(AggregateError):  # as the worker: logged and skipped
            states[kind] = agg.apply(states.get(kind), kind, row, code)
    return touched


def emit(touched: dict[str, tuple[str, dict[str, Any]]], today: dt.date) -> int:
    from schemas import envelope as env
    from streams.core import aggregates as agg

    count = 0
    for sid, (subject_kind, states) in touched.items():
        for kind, state in states.items():
            if hasattr(agg, "state_row"):
                row = agg.state_row(sid, subject_kind, kind, state, today, 1)
            else:  # the code before issue #6's history: figures, then the row
                row = agg.to_row(sid, subject_kind, kind, agg.figures(state, today), 1)
            env.dumps(row)
            count += 1
    return count


def cpu(subjects: int, per_subject: int) -> dict[str, Any]:
    rows = rows_for(11, subjects, per_subject, ({}, {}))
    today = dt.date.today()
    table: dict[str, dict[str, Any]] = {}
    apply_s = emit_s = 0.0
    emitted = 0
    for start in range(0, len(rows), CHUNK):
        t0 = time.process_time()
        touched = fold(rows[start : start + CHUNK], table)
        t1 = time.process_time()
        emitted += emit(touched, today)
        emit_s += time.process_time() - t1
        apply_s += t1 - t0
        table.update({sid: states for sid, (_, states) in touched.items()})
    size = sum(len(json.dumps(v, separators=(",", ":"))) for v in table.values())
    n = len(rows)
    return {
        "records": n, "subjects": len(table), "emissions": emitted,
        "apply_us_per_record": round(apply_s / n * 1e6, 1),
        "emit_us_per_record": round(emit_s / n * 1e6, 1),
        "emit_us_per_row": round(emit_s / emitted * 1e6, 1),
        "state_json_bytes_per_subject": round(size / len(table)),
    }  # fmt: skip


def _tables(store: str) -> dict[str, Any]:
    import faust

    from base.settings import Settings
    from streams.faust import state_store

    settings = Settings(worker_store=store)
    app = faust.App("bench-state", broker="kafka://127.0.0.1:1", store=state_store.store_url(settings),
                    datadir=tempfile.mkdtemp(prefix="bench-state-"), key_serializer="raw",
                    value_serializer="raw", topic_partitions=2)  # fmt: skip
    schema: faust.Schema[str, Any] = faust.Schema(
        key_type=str, key_serializer="raw", value_serializer="json"
    )
    opts: dict[str, Any] = {"schema": schema, "use_partitioner": True}
    return {
        name: (app.GlobalTable if name != "aggregates" else app.Table)(
            name, default=None, options=state_store.table_options(settings), **opts
        ).data
        for name in ("subjects", "aliases", "aggregates")
    }


def fill(store: str, subjects: int, per_subject: int) -> dict[str, Any]:
    """Child process: the worker's three tables in `store`, filled with `subjects` subjects.

    The entries are generated first and kept as JSON bytes (as they come off the changelog),
    so the RSS growth measured is the store's alone, not the generator's garbage."""
    tables = _tables(store)
    entries: list[tuple[str, str, bytes]] = []
    for first in range(0, subjects, CHUNK):
        registry: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
        touched = fold(rows_for(first, min(CHUNK, subjects - first), per_subject, registry), {})
        for name, values in (("subjects", registry[0]), ("aliases", registry[1])):
            entries += [(name, k, json.dumps(v).encode()) for k, v in values.items()]
        entries += [("aggregates", sid, json.dumps(s).encode()) for sid, (_, s) in touched.items()]
    stored = sum(1 for name, _, _ in entries if name == "aggregates")
    gc.collect()
    before = rss_mb()
    for name, key, blob in entries:
        tables[name][key] = json.loads(blob)  # fresh objects, as after changelog recovery
    gc.collect()
    after = rss_mb()
    per_subject_kb = (after - before) * 1024 / stored
    return {"store": store, "subjects": stored, "rss_before_mb": round(before, 1),
            "rss_after_mb": round(after, 1), "rss_kb_per_subject": round(per_subject_kb, 2),
            "rss_1m_subjects_mb": round(before + per_subject_kb * 1_000_000 / 1024)}  # fmt: skip


def _child(args: argparse.Namespace, store: str) -> Iterator[dict[str, Any]]:
    cmd = [sys.executable, __file__, "--fill", store, "--subjects", str(args.subjects),
           "--per-subject", str(args.per_subject)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    yield json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=20000)
    parser.add_argument("--per-subject", type=int, default=12, help="records per subject")
    parser.add_argument("--cpu-only", action="store_true")
    parser.add_argument("--fill", choices=["memory", "rocksdb"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        print(json.dumps(fill(args.fill, args.subjects, args.per_subject)))
        return 0
    print(json.dumps({"cpu": cpu(min(args.subjects, 10000), args.per_subject)}))
    if not args.cpu_only:
        for store in ("memory", "rocksdb"):
            for result in _child(args, store):
                print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
