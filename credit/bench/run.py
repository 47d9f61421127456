"""`credit bench`: throughput and latency of the embedded platform, with two baselines (issue 10).

The phases, in order (each needs the one before):
  1. platform up in a fresh data dir under /tmp; a warm-up upload, so the worker and the sink
     have joined their groups and the schemas are registered before any clock starts;
  2. throughput: a producer process (the SDK, `Publisher.send` of typed records) sends the
     workload as fast as it can; clock from the first send to the moment the store accounts
     for every record (stored or dead-lettered), CPU and peak RSS of each process;
  3. ceiling baseline: confluent-kafka consume + fastavro decode of the same class topics;
  4. naive baseline: a small Faust app (a child process) with one event and one changelogged
     table update per record, over the same topics (time-boxed); then the peer: quixstreams
     doing the platform's decoding, banned data, rules and a per-subject sum over the naive
     app's input (`credit.bench.peer`, in a virtualenv of its own; time-boxed);
  5. latency: the producer paced at `rate` records/s; send → decided per row from `outcomes`;
  6. profile: the pure `Pipeline` stage by stage, plus cProfile, over a sample of the records;
  7. one table (or `--json`).
The producer and the naive app run as child processes (`python -m credit.bench.run produce|naive`)
so their CPU is not counted as the platform's and chDB keeps its one path per process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from base.settings import Settings
from credit.bench.baselines import (
    NAIVE_PREFIX,
    ProducerChild,
    ceiling_baseline,
    create_topics,
    naive_baseline,
    naive_main,
    produce_main,
)
from credit.bench.peer import TOPIC_CONFIG, peer_baseline
from credit.bench.profiling import profile_pipeline
from credit.bench.workload import CLASSES, load, machine, month_back, proc_cpu_s, proc_mb, workload
from credit.exceptions import BenchError
from credit.synthetic import reported_month

WARMUP_RECORDS = 2000
LATENCY_GRACE_S = 30.0
PROFILE_SAMPLE = 10000
# issue 20's targets; the naive Faust app is shown for comparison, not judged
TARGETS = {"e2e_rps": 50000.0, "vs_peer": 3.0, "cpu_us": 40.0, "p99_ms": 1000.0,
           "worker_rss_mb": 600.0}  # fmt: skip
ONE_MILLION = 1_000_000
INTAKE_RECORDS = 20000


# -- the run ----------------------------------------------------------------------------------
def _accounted(
    platform: Any, expected: int, timeout: float, every: float = 0.05, strict: bool = True
) -> float:
    """Wait until `expected` rows are decided and inserted; the wall time when they were.

    Polls the sink's own counter of inserted `outcomes` rows (no query competing with the
    sink for the store), then confirms with a FINAL count (a redelivered batch counts twice
    in the counter, once in the table). On timeout: raise, or (not `strict`) give up.
    """
    store = platform.store
    deadline = time.monotonic() + timeout
    while True:
        if _inserted(platform, "outcomes") >= expected:
            done = time.time()
            sql = f"SELECT count() AS n FROM {store.database}.outcomes FINAL"
            if int(store.query(sql)[0]["n"]) >= expected:
                return done
            every = max(every, 0.5)
        why = platform.worker_failed()
        if why:
            raise BenchError(why)
        if time.monotonic() > deadline:
            if not strict:
                return time.time()
            raise BenchError(f"not all of {expected} records accounted after {timeout:.0f}s")
        time.sleep(every)


def _inserted(platform: Any, table: str) -> float:
    for metric in platform.metrics.sink_rows.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels.get("table") == table:
                return float(sample.value)
    return 0.0


def _sink_write_s(platform: Any) -> tuple[float, float]:
    total = count = 0.0
    for metric in platform.metrics.sink_batch_seconds.collect():
        for s in metric.samples:
            total += s.value if s.name.endswith("_sum") else 0.0
            count += s.value if s.name.endswith("_count") else 0.0
    return total, count


def run_bench(settings: Settings, records: int, rate: int, subjects: int, json_out: bool,
              latency_seconds: float = 20.0, keep: bool = False) -> dict[str, Any]:  # fmt: skip
    """Run every phase on a fresh embedded platform; print the table (or JSON); return it all."""
    from credit.runtime import Platform

    work = Path(tempfile.mkdtemp(prefix="credit-bench-", dir="/tmp"))
    settings = settings.model_copy(update={"data_dir": work, "kafka_bootstrap": None,
                                           "clickhouse_url": None, "schema_registry_url": None})  # fmt: skip
    subjects = subjects or max(1, records // 2)
    say = progress(json_out)
    result: dict[str, Any] = {"machine": machine(), "load_start": load(), "data_dir": str(work)}
    try:
        say(f"platform up in {work} (load {load()})")
        with Platform(settings) as platform:
            _phases(_Run(platform, work, result), records, subjects, rate, latency_seconds, say)
        result["load_end"] = load()
        _judge(result)
    except BaseException:
        keep = True  # what was measured so far, and the logs, stay for a look
        (work / "partial.json").write_text(json.dumps(result, indent=2, default=str))
        print(f"bench failed; partial results and logs in {work}", file=sys.stderr)
        raise
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False, indent=2) if json_out else format_table(result))
    return result


def _phases(run: _Run, records: int, subjects: int, rate: int, latency_seconds: float,
            say: Callable[[str], None]) -> None:  # fmt: skip
    """Every phase in order against one platform; each writes into `run.result`."""
    say("warm-up (worker and sink join their groups)")
    run.warm_up()
    say(f"throughput: {records:,} records, {subjects:,} subjects (load {load()})")
    run.throughput(records, subjects)
    say(f"durable intake: the producer with and without it (load {load()})")
    run.intake_cost(min(records, INTAKE_RECORDS), subjects)
    say(f"ceiling baseline: consume + Avro decode (load {load()})")
    run.baselines(ceiling=True)
    say(f"naive baseline: Faust, an event + changelogged update per record (load {load()})")
    run.baselines(ceiling=False)
    say(f"peer: quixstreams, the same rules and a per-subject sum (load {load()})")
    run.peer()
    say(f"latency: {rate:,} records/s for {latency_seconds:g} s (load {load()})")
    run.latency(rate, latency_seconds)
    run.accounting()
    say(f"profile: pure pipeline over {min(records, PROFILE_SAMPLE):,} records")
    sample, _ = workload(min(records, PROFILE_SAMPLE), subjects, 11, run.month)
    run.result["profile"] = profile_pipeline(sample, run.kafka)


class _Run:
    """The phases against one running platform; each writes its figures into `result`."""

    def __init__(self, platform: Any, work: Path, result: dict[str, Any]) -> None:
        assert platform.store is not None and platform.broker is not None and platform.workers
        self.platform, self.store, self.result = platform, platform.store, result
        self.kafka, self.registry = platform.kafka_conf(), platform.registry_url
        self.pids = {"platform": os.getpid(), "worker": platform.workers[0].pid or 0,
                     "broker": platform.broker._proc.pid if platform.broker._proc else 0}  # fmt: skip
        self.month = reported_month(dt.date.today())
        self.base = {"kafka": self.kafka, "registry": self.registry,
                     "month": self.month.isoformat(),
                     "batch_records": platform.settings.publish_batch_records}  # fmt: skip
        self.workload_spec: dict[str, Any] = {}
        self.work, self.log = work, work / "logs" / "producer.log"
        self.sent, self.subjects, self.rss_before = 0, 0, 0.0
        self.naive_topics: list[str] = []
        self.naive_records = 0

    def _producer(self, **spec: Any) -> ProducerChild:
        return ProducerChild({**self.base, **spec}, self.log)

    def warm_up(self) -> None:
        warm = self._producer(records=WARMUP_RECORDS, subjects=WARMUP_RECORDS // 2, seed=7,
                              month=month_back(self.month, 6).isoformat())  # fmt: skip
        warm.go()
        self.subjects += warm.result()["subjects"]
        self.sent += WARMUP_RECORDS
        _accounted(self.platform, self.sent, 180)
        self.rss_before = proc_mb(self.pids["worker"], "VmRSS")

    def throughput(self, records: int, subjects: int) -> None:
        self.workload_spec = {"records": records, "subjects": subjects, "seed": 11}
        prod = self._producer(**self.workload_spec)
        cpu0 = {k: proc_cpu_s(p) for k, p in self.pids.items()}
        prod.go()
        done = _accounted(self.platform, self.sent + records, 120 + records / 100)
        cpu1 = {k: proc_cpu_s(p) for k, p in self.pids.items()}
        out = prod.result()
        self.sent += records
        self.subjects += out["subjects"]
        r, e2e_s, prod_s = self.result, done - out["first_send"], out["flushed"] - out["first_send"]
        r["load_throughput"] = load()
        r["workload"] = {k: out[k] for k in ("records", "subjects", "legal_subjects", "invalid",
                                             "duplicates")}  # fmt: skip
        r["producer"] = {"records_per_s": round(records / prod_s, 1), "seconds": round(prod_s, 2),
                         "cpu_s_per_1k": round(out["cpu_s"] / records * 1000, 3)}  # fmt: skip
        r["end_to_end"] = {"records_per_s": round(records / e2e_s, 1), "seconds": round(e2e_s, 2)}
        cpu = {k: round((cpu1[k] - cpu0[k]) / records * 1000, 3) for k in self.pids}
        r["cpu_s_per_1k"] = {**cpu, "total": round(sum(cpu.values()), 3)}

    def intake_cost(self, records: int, subjects: int) -> None:
        """Two workloads of the same size from the producer child (different seeds, so the
        second is not a re-send of the first): straight to the broker, and through a durable
        intake (recorded, fsync'd, read back, produced). The difference in the producer's CPU
        is the intake's cost; its share is of the whole path's CPU."""
        cpu: dict[str, float] = {}
        for mode, extra in (
            ("without", {}),
            ("with", {"intake_dir": str(self.work / "bench-intake")}),
        ):
            prod = self._producer(records=records, subjects=subjects, seed=17 if extra else 19,
                                  month=month_back(self.month, 2).isoformat(), **extra)  # fmt: skip
            prod.go()
            out = prod.result()
            self.sent += records
            self.subjects += out["subjects"]
            _accounted(self.platform, self.sent, 120 + records / 100)
            cpu[mode] = out["cpu_s"] / records * 1e6
        cost = cpu["with"] - cpu["without"]
        path = self.result.get("cpu_s_per_1k", {}).get("total", 0.0) * 1000 + cpu["without"]
        self.result["intake"] = {
            "records": records, "producer_us_without": round(cpu["without"], 2),
            "producer_us_with": round(cpu["with"], 2), "cost_us_per_record": round(cost, 2),
            "share_of_end_to_end_cpu": round(cost / (path + cost), 4) if path else None,
        }  # fmt: skip

    def baselines(self, ceiling: bool) -> None:
        """The ceiling reads the class topics as they are now (warm-up + throughput records);
        the naive app reads the throughput workload again, sent one record per message."""
        topics = [self.platform.catalog.get(c).topic for c in CLASSES]
        parts = self.platform.settings.topic_partitions
        if ceiling:
            self.result["ceiling"] = ceiling_baseline(self.kafka, self.registry, topics, parts,
                                                      self.sent)  # fmt: skip
            return
        self.naive_topics = [NAIVE_PREFIX + t for t in topics]
        create_topics(self.kafka, self.naive_topics, parts, TOPIC_CONFIG)  # the peer reads them
        feed = self._producer(**self.workload_spec, naive_prefix=NAIVE_PREFIX)
        feed.go()
        self.naive_records = feed.result()["records"]
        self.result["naive"] = naive_baseline(self.platform.bootstrap, self.registry,
                                              self.naive_topics, parts, self.naive_records,
                                              self.work)  # fmt: skip

    def peer(self) -> None:
        """quixstreams over the naive app's input: the same records, one per message."""
        self.result["peer"] = peer_baseline(self.platform.bootstrap, self.registry,
                                            self.naive_topics, self.naive_records, self.work)  # fmt: skip

    def latency(self, rate: int, seconds: float) -> None:
        n = max(1, int(rate * seconds))
        lat = self._producer(records=n, subjects=max(1, n // 2), seed=13, rate=rate,
                             month=month_back(self.month, 3).isoformat())  # fmt: skip
        w0 = _sink_write_s(self.platform)
        lat.go()
        # a platform that cannot keep up is not waited for: undecided rows bound the p99
        gave_up = _accounted(self.platform, self.sent + n, LATENCY_GRACE_S + seconds, 0.5,
                             strict=False)  # fmt: skip
        out = lat.result()
        self.sent += n
        self.subjects += out["subjects"]
        out["horizon_ms"] = (gave_up - out["sent"]) * 1000
        w1 = _sink_write_s(self.platform)
        self.result["load_latency"] = load()
        self.result["latency"] = _latency(self.store, out, rate, seconds, w0, w1)
        self.result["latency"]["send_to_worker_output"] = worker_leg(self.kafka, out)

    def accounting(self) -> None:
        """received = stored + rejected per `class_summary`; memory of each process."""
        from sinks.read import queries

        summary = queries.class_summary(self.store, self.platform.catalog)
        for _ in range(50):  # the ledger follows the last record by a moment
            if sum(c["received"] for c in summary) >= self.sent:
                break
            time.sleep(0.2)
            summary = queries.class_summary(self.store, self.platform.catalog)
        keys = ("received", "stored", "rejected", "pending")
        self.result["accounted"] = {**{k: sum(c[k] for c in summary) for k in keys},
                                    "sent": self.sent}  # fmt: skip
        sql = f"SELECT count() AS n FROM {self.store.database}.subjects FINAL"
        before, after = self.rss_before, proc_mb(self.pids["worker"], "VmRSS")
        growth = max(0.0, after - before)
        self.result["worker_rss"] = {
            "distinct_subjects": self.subjects,
            "registry_entries": int(self.store.query(sql)[0]["n"]),
            "before_mb": round(before, 1), "after_mb": round(after, 1),
            "extrapolated_1m_mb": round(before + growth * ONE_MILLION / self.subjects, 1)}  # fmt: skip
        self.result["peak_rss_mb"] = {
            k: round(proc_mb(p, "VmHWM"), 1) for k, p in self.pids.items()
        }
        self.result["worker_restarts"] = int(getattr(self.platform, "worker_restarts", 0))


def _latency(store: Any, out: dict[str, Any], rate: int, seconds: float,
             w0: tuple[float, float], w1: tuple[float, float]) -> dict[str, Any]:  # fmt: skip
    """send (ingest_received_at) → decided (the sink built the row), per provider row.

    Queryable = decided + the insert: the mean sink batch write of the phase is added to the
    p99. Rows still undecided when the bench stopped waiting make the p99 a lower bound.
    """
    row = store.query(
        "SELECT quantilesExact(0.5, 0.99)(d) AS q, max(d) AS mx, count() AS n FROM (SELECT "
        "toUnixTimestamp64Milli(decided_at) - toUnixTimestamp64Milli(received_at) AS d "
        f"FROM {store.database}.outcomes FINAL WHERE upload_id IN {{u:Array(String)}})",
        {"u": out["uploads"]},
    )[0]
    batches = w1[1] - w0[1]
    write_ms = (w1[0] - w0[0]) / batches * 1000 if batches else 0.0
    p50, p99 = (float(x) for x in row["q"])
    undecided = out["records"] - int(row["n"])
    bound = undecided > out["records"] * 0.01
    p99q = max(p99 + write_ms, out["horizon_ms"]) if bound else p99 + write_ms
    return {"rate": rate, "seconds": seconds, "records": out["records"], "undecided": undecided,
            "achieved_rate": round(out["records"] / max(out["sent"] - out["first_send"], 1e-9), 1),
            "p50_ms": p50, "p99_ms": p99, "max_ms": float(row["mx"]),
            "sink_write_mean_ms": round(write_ms, 1), "p99_queryable_ms": round(p99q, 1),
            "p99_is_lower_bound": bound}  # fmt: skip


def _leg_rows(value: bytes, valid: bool) -> list[dict[str, Any]]:
    """The records of a worker output message, with upload id and receipt time (epoch ms)."""
    from schemas import envelope as env
    from sinks.write.arrow_rows import records

    if valid and env.is_columns(value):
        table = env.read_valid(value)[1].select(["ingest_upload_id", "ingest_received_at"])
        return records(table)
    data = json.loads(value)
    rows: list[dict[str, Any]] = data.get("rows", [data.get("row")]) if valid else [data]
    return rows


def worker_leg(kafka: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """send → the worker's result on `credit.valid` / `credit.deadletter` (its Kafka timestamp)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from base.topics import DEAD_LETTER_TOPIC, VALID_TOPIC

    uploads, since_ms = set(out["uploads"]), (out["first_send"] - 1) * 1000
    consumer = Consumer({**kafka, "group.id": f"bench-leg-{uuid.uuid4().hex[:6]}"})
    topics = consumer.list_topics(timeout=10).topics
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in (VALID_TOPIC, DEAD_LETTER_TOPIC)
                     for p in topics[t].partitions])  # fmt: skip
    legs: list[int] = []
    idle = time.monotonic() + 5
    try:
        while time.monotonic() < idle:
            for msg in consumer.consume(10000, timeout=0.5):
                ts = msg.timestamp()[1]
                if msg.error() is not None or ts < since_ms:
                    continue
                idle = time.monotonic() + 2
                rows = _leg_rows(msg.value() or b"{}", msg.topic() == VALID_TOPIC)
                for row in rows:
                    if row.get("ingest_upload_id", row.get("upload_id")) in uploads:
                        legs.append(ts - int(row.get("ingest_received_at") or row["received_ms"]))
    finally:
        consumer.close()
    legs.sort()
    pick = (lambda q: float(legs[min(len(legs) - 1, int(q * len(legs)))])) if legs else None
    return {"records": len(legs), "p50_ms": pick(0.5) if pick else None,
            "p99_ms": pick(0.99) if pick else None}  # fmt: skip


def _judge(r: dict[str, Any]) -> None:
    e2e = r["end_to_end"]["records_per_s"]
    r["ratios"] = {"vs_ceiling": round(e2e / max(r["ceiling"]["records_per_s"], 1e-9), 3),
                   "vs_naive": round(e2e / max(r["naive"]["records_per_s"], 1e-9), 2),
                   "vs_peer": round(e2e / max(r["peer"]["records_per_s"], 1e-9), 2),
                   # load-independent: CPU per record, the naive worker over the whole platform
                   "cpu_naive_over_platform": round(r["naive"]["cpu_us_per_record"]
                                                    / max(r["cpu_s_per_1k"]["total"] * 1000, 1e-9), 2),
                   "cpu_naive_over_worker": round(r["naive"]["cpu_us_per_record"]
                                                  / max(r["cpu_s_per_1k"]["worker"] * 1000, 1e-9), 2)}  # fmt: skip
    stages = r["profile"]["us_per_record"]
    r["profile"]["worker_cpu_us"] = round(r["cpu_s_per_1k"]["worker"] * 1000, 1)
    # the worker's own path (columns) and its sends; the figures are the sink's
    inside = stages["columns_pipeline_and_arrow"] + stages["producer"]
    r["profile"]["worker_outside_us"] = round(r["profile"]["worker_cpu_us"] - inside, 1)
    rss = r["worker_rss"]
    cpu_us = round(r["cpu_s_per_1k"]["total"] * 1000, 1)
    checks = [
        ("end-to-end records/s", f">= {TARGETS['e2e_rps']:,.0f}", e2e, e2e >= TARGETS["e2e_rps"]),
        ("platform / quixstreams peer", f">= {TARGETS['vs_peer']:g}x", r["ratios"]["vs_peer"],
         r["ratios"]["vs_peer"] >= TARGETS["vs_peer"]),
        ("CPU µs/rec: broker + worker + platform", f"<= {TARGETS['cpu_us']:g}", cpu_us,
         cpu_us <= TARGETS["cpu_us"]),
        (f"p99 ms at {r['latency']['rate']:,} rec/s", f"<= {TARGETS['p99_ms']:,.0f}",
         r["latency"]["p99_queryable_ms"], r["latency"]["p99_queryable_ms"] <= TARGETS["p99_ms"]),
        ("worker RSS MB at 1M subjects", f"<= {TARGETS['worker_rss_mb']:,.0f}",
         rss["extrapolated_1m_mb"], _rss_met(rss)),
    ]  # fmt: skip
    r["targets"] = [{"name": n, "target": t, "measured": m, "met": None if ok is None else bool(ok)}
                    for n, t, m, ok in checks]  # fmt: skip


def _rss_met(rss: dict[str, Any]) -> bool | None:
    """Judged only on a run that reached a million subjects: a straight line from a smaller
    run overshoots (start-up growth is counted as growth per subject), so it is shown, not
    judged."""
    if rss["distinct_subjects"] < ONE_MILLION:
        return None
    return bool(rss["after_mb"] <= TARGETS["worker_rss_mb"])


def progress(quiet: bool) -> Callable[[str], None]:
    def say(msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    return say if not quiet else (lambda _msg: None)


Row = tuple[str, str, str, str]  # figure, measured, target, met


def format_table(r: dict[str, Any]) -> str:
    """The one table: figures, baselines, targets and the profile, with the load."""
    m, w = r["machine"], r["workload"]
    rows = _rows(r)
    head = (f"credit bench: {w['records']:,} records ({w['invalid']:,} invalid, "
            f"{w['duplicates']:,} re-sent), {w['subjects']:,} subjects; {m['nproc']} cores "
            f"{m['cpu_model']}, {m['ram_gb']} GB; load {r['load_start']} / "
            f"{r['load_throughput']} / {r['load_latency']} / {r['load_end']} "
            "(start / throughput / latency / end)")  # fmt: skip
    title = ("figure", "measured", "target", "met")
    widths = [max(len(row[i]) for row in [title, *rows]) for i in range(4)]
    a, b, c, d = widths
    fmt = f"{{:<{a}}}  {{:>{b}}}  {{:<{c}}}  {{:<{d}}}"
    out = [head, fmt.format(*title), "  ".join("-" * x for x in widths)]
    return "\n".join(out + [fmt.format(*row).rstrip() for row in rows])


def _rows(r: dict[str, Any]) -> list[Row]:
    lat, rss, rt = r["latency"], r["worker_rss"], r["ratios"]
    cpu, peak, acc, prof, prod = (r["cpu_s_per_1k"], r["peak_rss_mb"], r["accounted"],
                                  r["profile"], r["producer"])  # fmt: skip
    leg, peer = lat["send_to_worker_output"], r["peer"]
    t = [(x["target"], {True: "yes", False: "NO", None: "-"}[x["met"]]) for x in r["targets"]]
    adds_up = acc["received"] == acc["stored"] + acc["rejected"] == acc["sent"]
    rows: list[Row] = [
        ("end to end: first sent -> last queryable",
         f"{r['end_to_end']['records_per_s']:,.0f} rec/s ({r['end_to_end']['seconds']} s)", *t[0]),
        ("producer: SDK Publisher.send + flush", f"{prod['records_per_s']:,.0f} rec/s", "", ""),
        ("ceiling: consume + Avro decode", f"{r['ceiling']['records_per_s']:,.0f} rec/s", "", ""),
        ("naive: Faust event + changelog per rec",
         f"{r['naive']['records_per_s']:,.0f} rec/s ({r['naive']['records']:,} rec)", "", ""),
        ("peer: quixstreams, rules + per-subject sum",
         f"{peer['records_per_s']:,.0f} rec/s ({peer['records']:,} rec, "
         f"{peer['cpu_us_per_record']:,.0f} CPU µs/rec)", "", ""),
        ("platform / ceiling", f"{rt['vs_ceiling']:.2f}x", "", ""),
        ("platform / naive", f"{rt['vs_naive']:.2f}x", "", ""),
        ("platform / peer", f"{rt['vs_peer']:.2f}x", *t[1]),
        (f"latency p50 / p99 at {lat['rate']:,} rec/s", f"{lat['p50_ms']:,.0f} / "
         f"{'>' if lat['p99_is_lower_bound'] else ''}{lat['p99_queryable_ms']:,.0f} ms", *t[3]),
        ("  of which send -> worker output p50 / p99",
         f"{leg['p50_ms'] or 0:,.0f} / {leg['p99_ms'] or 0:,.0f} ms", "", ""),
        ("CPU µs/rec: platform + worker + broker", f"{cpu['platform'] * 1000:,.0f} + "
         f"{cpu['worker'] * 1000:,.0f} + {cpu['broker'] * 1000:,.0f} = "
         f"{cpu['total'] * 1000:,.0f}", *t[2]),
        ("CPU s/1k rec: producer (not platform)", f"{prod['cpu_s_per_1k']:.2f}", "", ""),
        ("durable intake µs/rec: producer with / without",
         f"{r['intake']['producer_us_with']:,.1f} / {r['intake']['producer_us_without']:,.1f} "
         f"(+{r['intake']['cost_us_per_record']:,.1f}, "
         f"{(r['intake']['share_of_end_to_end_cpu'] or 0) * 100:.1f}% of the path)", "", ""),
        ("CPU µs/rec: naive worker / ceiling", f"{r['naive']['cpu_us_per_record']:,.0f} / "
         f"{r['ceiling']['cpu_us_per_record']:,.0f}", "", ""),
        ("CPU/rec: naive worker ÷ platform (÷ worker)",
         f"{rt['cpu_naive_over_platform']:.2f}x ({rt['cpu_naive_over_worker']:.2f}x)", "", ""),
        ("peak RSS MB: platform / worker / broker",
         f"{peak['platform']:,.0f} / {peak['worker']:,.0f} / {peak['broker']:,.0f}", "", ""),
        (f"worker RSS MB with {rss['distinct_subjects']:,} subjects",
         f"{rss['before_mb']:,.0f} -> {rss['after_mb']:,.0f}", "", ""),
        ("  extrapolated to 1,000,000 subjects", f"{rss['extrapolated_1m_mb']:,.0f}", *t[4]),
        *([("  (judged on a run with --subjects 1000000)", "", "", "")]
          if rss["distinct_subjects"] < ONE_MILLION else []),
        ("received = stored + rejected", f"{acc['received']:,} = {acc['stored']:,} + "
         f"{acc['rejected']:,}", f"= sent {acc['sent']:,}", "yes" if adds_up else "NO"),
    ]  # fmt: skip
    rows += [
        (f"profile µs/rec: {k}", f"{v:,.1f}", "", "") for k, v in prof["us_per_record"].items()
    ]
    rows += [
        ("worker CPU µs/rec in the run", f"{prof['worker_cpu_us']:,.0f}", "", ""),
        ("  of which outside the pure pipeline", f"{prof['worker_outside_us']:,.0f}", "", ""),
    ]
    return rows


def _main(argv: list[str]) -> int:
    mode, spec = argv[0], json.loads(argv[1])
    if mode == "produce":
        return produce_main(spec)
    if mode == "naive":
        return naive_main(spec)
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
