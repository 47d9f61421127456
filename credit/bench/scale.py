"""`credit bench --scale N`: the read paths with N stored records (issue 20's targets: the
subject report p95 < 50 ms and the risk list < 1 s with 10,000,000 stored records).

The other phases measure the write path, which would take hours to store ten million records
here; this one plants them straight into an embedded store of its own: bills and arrears of
N / 2 enterprises and persons in the four utility classes (`insert_arrow` in chunks, so the
subject index's materialized views fill as they do for the sink), and one `aggregates` row per
subject and utility with made-up figures, one in ten in arrears. The values are synthetic, the
volumes and the SQL are the platform's. Then it times, in one process:

* the authorized subject report (`sinks.read.reports.subject_report`) of 200 random subjects;
* the risk list (`sinks.read.risk.risk_list`) and the district risk list, 5 runs each;
* one analyst export of every changed table (`sinks.read.analyst_export`): the store is locked
  while it runs, so the sink waits that long whenever the analysts' copy is refreshed.
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.catalog import Catalog, InfoClass, default_catalog
from sinks.ddl.tables import class_columns
from sinks.ddl.upgrade import apply_ddl
from sinks.store import Store, open_embedded
from sinks.write import arrow_rows as A
from streams.core.aggregates import UTILITY_KIND

CHUNK = 1_000_000
REPORTS = 200
RUNS = 5
DISTRICTS = tuple(f"3202{n:02d}" for n in range(1, 11))
CLASSES = {"legal_utility_payment": "payment", "natural_utility_payment": "payment",
           "legal_arrears": "arrears", "natural_arrears": "arrears"}  # fmt: skip
TARGETS = {"report_p95_ms": 50.0, "risk_list_ms": 1000.0}


def run_scale(records: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Plant `records`, time the reads; the figures as a dict (the store is removed)."""
    from credit.bench.workload import load, machine

    work = Path(tempfile.mkdtemp(prefix="credit-bench-scale-", dir="/tmp"))
    result: dict[str, Any] = {"machine": machine(), "records": records, "load_start": load()}
    try:
        store = open_embedded(work / "chdb", "credit")
        catalog = default_catalog()
        apply_ddl(store, catalog)
        started = time.perf_counter()
        subjects = plant(store, catalog, records, say)
        result["plant_seconds"] = round(time.perf_counter() - started, 1)
        result["subjects"] = subjects
        say(f"reads over {records:,} records (load {load()})")
        result |= time_reads(store, catalog, work)
        result["load_end"] = load()
        result["targets"] = [
            {"name": "subject report p95 ms", "target": f"< {TARGETS['report_p95_ms']:g}",
             "measured": result["report_ms"]["p95"],
             "met": result["report_ms"]["p95"] < TARGETS["report_p95_ms"]},
            {"name": "risk list ms", "target": f"< {TARGETS['risk_list_ms']:,.0f}",
             "measured": result["risk_list_ms"]["max"],
             "met": result["risk_list_ms"]["max"] < TARGETS["risk_list_ms"]},
        ]  # fmt: skip
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def plant(store: Store, catalog: Catalog, records: int, say: Callable[[str], None]) -> int:
    """`records` records over the four classes, and their subjects' figures; subjects planted."""
    per_class = records // len(CLASSES)
    subjects = max(1, records // 2)
    rng = np.random.default_rng(20)
    for code, role in CLASSES.items():
        cls = catalog.get(code)
        for start in range(0, per_class, CHUNK):
            n = min(CHUNK, per_class - start)
            say(f"planting {code}: {start + n:,} of {per_class:,}")
            table = _class_chunk(cls, role, start, n, subjects, rng)
            store.insert_arrow(cls.table, A.as_decimals(table, A.decimal_columns(
                class_columns(cls))))  # fmt: skip
    for start in range(0, subjects, CHUNK):
        say(f"planting figures: {min(subjects, start + CHUNK):,} of {subjects:,} subjects")
        store.insert_arrow("aggregates", _figures_chunk(start, min(CHUNK, subjects - start), rng))
    return subjects


def subject_ids(numbers: np.ndarray) -> pa.Array:
    """Subject i's code: enterprises (even i) a USCC-shaped code, persons an ID-shaped one."""
    text = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), 9, "0")
    legal = pc.binary_join_element_wise("91320281", text, "X", "")
    natural = pc.binary_join_element_wise("320281", text, "123", "")
    return pc.if_else(pa.array(numbers % 2 == 0), legal, natural)


def _class_chunk(cls: InfoClass, role: str, start: int, n: int, subjects: int,
                 rng: np.random.Generator) -> pa.Table:  # fmt: skip
    """`n` records of `cls`; legal classes name even subjects, natural ones odd."""
    parity = 0 if cls.subject_kind == "legal" else 1
    numbers = rng.integers(0, max(1, subjects // 2), n) * 2 + parity
    keys = pc.binary_join_element_wise(
        f"{cls.code}-", pc.cast(pa.array(np.arange(start, start + n)), pa.string()), ""
    )
    day0 = (dt.date(2021, 1, 1) - dt.date(1970, 1, 1)).days
    days = rng.integers(day0, day0 + 5 * 365, n).astype(np.int32)
    begin = pa.array(days, pa.int32()).cast(pa.date32())
    end = pa.array(days + 29, pa.int32()).cast(pa.date32())
    now = A.moments(n, int(time.time() * 1000))
    labels = list(UTILITY_KIND)
    kinds = pa.array(np.array(labels, dtype=object)[rng.integers(0, len(labels), n)])
    amounts = pa.array(np.round(rng.gamma(2.0, 300.0, n), 2))
    columns: dict[str, pa.Array] = {
        "record_key": keys, "version": pa.array(np.full(n, 1, np.uint64)),
        "subject_id": subject_ids(numbers),
        "subject_kind": pa.array([cls.subject_kind] * n),
        "subject_name": pc.binary_join_element_wise("单位", pc.cast(pa.array(numbers),
                                                                   pa.string()), ""),
        "district": pa.array(np.array(DISTRICTS, dtype=object)[numbers % len(DISTRICTS)]),
        "event_date": begin, "behaviour_end": end, "ingest_provider": pa.array(["bench"] * n),
        "ingest_channel": pa.array(["file"] * n), "ingest_upload_id": pa.array(["scale"] * n),
        "ingest_row": pa.array(np.arange(start, start + n)), "ingest_source_key": keys,
        "ingest_received_at": now, "stored_at": now,
    }  # fmt: skip
    if role == "payment":
        columns |= {"payment_type": kinds, "amount": amounts, "period_start": begin,
                    "period_end": end, "pay_date": end}  # fmt: skip
    else:
        columns |= {"arrears_type": kinds, "arrears_amount": amounts, "arrears_start": begin,
                    "arrears_end": end, "overdue_days": pa.array(rng.integers(1, 400, n))}  # fmt: skip
    return pa.table(columns)


def _figures_chunk(start: int, n: int, rng: np.random.Generator) -> pa.Table:
    """One `aggregates` row per subject (its utility at random); one in ten in arrears."""
    numbers = np.arange(start, start + n)
    owing = rng.random(n) < 0.1
    kinds = np.array(list(UTILITY_KIND.values()), dtype=object)[rng.integers(0, 5, n)]
    amount = np.where(owing, np.round(rng.gamma(2.0, 2000.0, n), 2), 0.0)
    days = np.where(owing, rng.integers(1, 700, n), 0)
    extra = [f'{{"long_overdue_amount": {a if d >= 90 else 0}, "arrears_since": "2025-01-01"}}'
             for a, d in zip(amount.tolist(), days.tolist(), strict=True)]  # fmt: skip
    now = A.moments(n, int(time.time() * 1000))
    return pa.table({
        "subject_id": subject_ids(numbers),
        "subject_kind": pa.array(np.where(numbers % 2 == 0, "legal", "natural")),
        "kind": pa.array(kinds), "arrears_flag": pa.array(owing.astype(np.uint8)),
        "arrears_amount": pa.array(amount), "days_overdue": pa.array(days),
        "last_month": pa.array(["2026-11"] * n), "extra": pa.array(extra),
        "version": pa.array(np.full(n, 1, np.uint64)), "updated_at": now,
        "facts": pa.array(np.full(n, 3, np.uint32)),
    })  # fmt: skip


def time_reads(store: Store, catalog: Catalog, work: Path) -> dict[str, Any]:
    """The reads the targets name, and the analyst export the sink waits for."""
    from sinks.ddl.subject_index import INDEX_TABLE
    from sinks.read.analyst_export import AnalystExporter, pseudonym_key
    from sinks.read.reports import subject_report
    from sinks.read.risk import risk_list

    picks = [str(r["subject_id"]) for r in store.query(  # subjects that have records
        f"SELECT DISTINCT subject_id FROM {store.database}.{INDEX_TABLE} "
        "ORDER BY cityHash64(subject_id) LIMIT {n:UInt32}", {"n": REPORTS})]  # fmt: skip
    reports = [_ms(partial(subject_report, store, catalog, s, include_authorized=True))
               for s in picks]  # fmt: skip
    found = sum(
        1 for s in picks[:20] if subject_report(store, catalog, s, include_authorized=True)["found"]
    )
    risk = [_ms(lambda: risk_list(store, 10)) for _ in range(RUNS)]
    district = [_ms(lambda: risk_list(store, 10, district=DISTRICTS[3])) for _ in range(RUNS)]
    exporter = AnalystExporter(store, catalog, work / "exchange", pseudonym_key(work / "key"))
    export = _ms(exporter.export_changed)
    return {"report_ms": _summary(reports), "reports_found_of_20": found,
            "risk_list_ms": _summary(risk), "district_risk_list_ms": _summary(district),
            "analyst_export_ms": round(export, 1),
            "store_bytes": int(store.query(
                "SELECT sum(bytes_on_disk) AS b FROM system.parts WHERE active "
                "AND database = {d:String}", {"d": store.database})[0]["b"])}  # fmt: skip


def _ms(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1),
            "max": round(ordered[-1], 1)}  # fmt: skip


def format_scale(r: dict[str, Any]) -> str:
    """The scale run as a few lines."""
    m = r["machine"]
    lines = [
        f"credit bench --scale: {r['records']:,} records, {r['subjects']:,} subjects "
        f"planted in {r['plant_seconds']} s ({r['store_bytes'] / 1e9:.2f} GB); "
        f"{m['nproc']} cores {m['cpu_model']}; load {r['load_start']} / {r['load_end']}"
    ]
    for name, key in (
        ("subject report", "report_ms"),
        ("risk list", "risk_list_ms"),
        ("risk list, one district", "district_risk_list_ms"),
    ):
        s = r[key]
        lines.append(
            f"  {name:<24} p50 {s['p50']:>8,.1f}  p95 {s['p95']:>8,.1f}  max {s['max']:>8,.1f} ms"
        )
    lines.append(f"  analyst export (store locked) {r['analyst_export_ms']:,.0f} ms")
    lines += [
        f"  target {t['name']} {t['target']}: {t['measured']:,.1f} {'yes' if t['met'] else 'NO'}"
        for t in r["targets"]
    ]
    return "\n".join(lines)
