"""`credit bench`: throughput and latency of the embedded platform, with two baselines (issue 10).

The phases, in order (each needs the one before):
  1. platform up in a fresh data dir under /tmp; a warm-up upload, so the worker and the sink
     have joined their groups and the schemas are registered before any clock starts;
  2. throughput: a producer process (the SDK, `Publisher.send` of typed records) sends the
     workload as fast as it can; clock from the first send to the moment the store accounts
     for every record (stored or dead-lettered), CPU and peak RSS of each process;
  3. ceiling baseline: confluent-kafka consume + fastavro decode of the same class topics;
  4. naive baseline: a small Faust app (a child process) with one event and one changelogged
     table update per record, over the same topics (time-boxed);
  5. latency: the producer paced at `rate` records/s; send → decided per row from `outcomes`;
  6. profile: the pure `Pipeline` stage by stage, plus cProfile, over a sample of the records;
  7. one table (or `--json`).
The producer and the naive app run as child processes (`python -m credit.bench produce|naive`)
so their CPU is not counted as the platform's and chDB keeps its one path per process.
"""

from __future__ import annotations

import contextlib
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from credit.demo import last_month
from credit.errors import CreditError
from credit.settings import Settings
from credit.synthetic import UTILITIES, Subject, Utility, make_subjects

Item = tuple[str, str, dict[str, Any]]  # class code, provider, typed record
CLASSES = ("legal_utility_payment", "natural_utility_payment", "legal_arrears", "natural_arrears")
INVALID_SHARE = 0.05
DUPLICATE_SHARE = 0.01
WARMUP_RECORDS = 2000
NAIVE_TIME_BOX_S = 45.0
NAIVE_PREFIX = "bench.naive."
LATENCY_GRACE_S = 30.0
PROFILE_SAMPLE = 10000
PROFILE_CPROFILE = 5000
TARGETS = {"e2e_rps": 30000.0, "vs_naive": 5.0, "p99_ms": 2000.0, "worker_rss_mb": 600.0}
ONE_MILLION = 1_000_000


class BenchError(CreditError):
    """A benchmark phase could not finish (the platform fell over or stalled)."""


# -- workload: typed records, no per-row string parsing ---------------------------------------
def _month_back(month: dt.date, n: int) -> dt.date:
    for _ in range(n):
        month = last_month(month)
    return month


def _month_end(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def _who(s: Subject) -> dict[str, Any]:
    if s.kind == "legal":
        return {"org_name": s.name, "uscc": s.code}
    return {"person_name": s.name, "id_type": "身份证", "id_no": s.code}


def _payment(s: Subject, u: Utility, month: dt.date, rng: random.Random) -> Item:
    lo, hi = u.usage_company if s.kind == "legal" else u.usage_person
    usage = round(rng.uniform(lo, hi), 1)
    end = _month_end(month)
    record = {
        **_who(s), "payment_type": u.fee, "prepaid": False, "period_start": month,
        "period_end": end, "usage": usage, "usage_unit": u.unit,
        "amount": round(usage * u.price, 2), "agency_name": u.provider,
        "pay_date": end + dt.timedelta(days=rng.randint(3, 15)), "source_dept": u.provider,
        "provider_org": u.provider, "provide_date": end + dt.timedelta(days=20),
        "usage_scope": "政务共享",
    }  # fmt: skip
    return (f"{s.kind}_utility_payment", u.provider, record)


def _arrears(s: Subject, u: Utility, month: dt.date, rng: random.Random) -> Item:
    months = rng.randint(1, 6)
    start, end = _month_back(month, months - 1), _month_end(month)
    lo, hi = u.usage_company if s.kind == "legal" else u.usage_person
    usage = round(rng.uniform(lo, hi) * months, 1)
    record = {
        **_who(s), "account_no": f"{u.fee[0]}{rng.randint(10**7, 10**8 - 1)}",
        "arrears_type": u.fee, "arrears_start": start, "arrears_end": end,
        "arrears_period": f"{months}个月", "overdue_days": (end - start).days + 1,
        "arrears_usage": usage, "arrears_amount": round(usage * u.price, 2),
        "severity": "一般" if months < 4 else "较重", "source_dept": u.provider,
        "provider_org": u.provider, "usage_scope": "政务共享",
        "provide_date": end + dt.timedelta(days=20),
    }  # fmt: skip
    return (f"{s.kind}_arrears", u.provider, record)


def _spoil(item: Item, how: int) -> Item:
    """One deliberately invalid record, refused by the stream's rules or identity."""
    code, provider, record = item
    r = dict(record)
    amount = "amount" if "amount" in r else "arrears_amount"
    if how == 0:  # wrong check character of the subject's code
        key = "uscc" if "uscc" in r else "id_no"
        r[key] = r[key][:-1] + ("1" if r[key][-1] != "1" else "2")
    elif how == 1:  # required amount missing
        r[amount] = None
    elif how == 2:  # negative amount
        r[amount] = -abs(r[amount]) - 1
    else:  # period ends before it starts
        start = "period_start" if "period_start" in r else "arrears_start"
        r[start.replace("start", "end")] = r[start] - dt.timedelta(days=1)
    return (code, provider, r)


def workload(
    records: int, subjects: int, seed: int, month: dt.date
) -> tuple[list[Item], dict[str, int]]:
    """`records` typed bills/arrears of `subjects` enterprises and persons (~27% enterprises).

    Subject i gets its k-th record for utility k mod 4 of month `month` − k // 4, so every
    record has its own source key; ~5% are invalid, ~1% are re-sends of the record before.
    """
    rng = random.Random(seed)
    n_subj = max(1, min(subjects, records))
    companies = max(1, n_subj * 8 // 30)
    people = make_subjects(rng, companies, n_subj - companies)
    rng.shuffle(people)
    items: list[Item] = []
    stats = {"subjects": len(people), "legal_subjects": companies, "invalid": 0, "duplicates": 0}
    i = 0
    while len(items) < records:
        s, k = people[i % n_subj], i // n_subj
        u, m = UTILITIES[k % len(UTILITIES)], _month_back(month, k // len(UTILITIES))
        arrears = rng.random() < (0.08 if s.kind == "legal" else 0.05)
        item = (_arrears if arrears else _payment)(s, u, m, rng)
        if rng.random() < INVALID_SHARE:
            item = _spoil(item, rng.randint(0, 3))
            stats["invalid"] += 1
        items.append(item)
        if rng.random() < DUPLICATE_SHARE and len(items) < records:
            items.append(item)  # a provider re-sends a record: counted twice, stored once
            stats["duplicates"] += 1
        i += 1
    return items, stats


# -- process figures from /proc (psutil is not a dependency) ----------------------------------
def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mb(pid: int, key: str) -> float:
    """A `/proc/PID/status` memory line (VmHWM = peak RSS, VmRSS = now) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine() -> dict[str, Any]:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                  .splitlines() if ln.startswith("model name")), "?")  # fmt: skip
    ram_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {"nproc": os.cpu_count(), "cpu_model": model, "ram_gb": round(ram_kb / 2**20, 1)}


def load() -> float:
    return round(os.getloadavg()[0], 2)


# -- child process: the SDK producer ----------------------------------------------------------
def _produce_main(spec: dict[str, Any]) -> int:
    """Generate, say `ready`, wait for `go`, send (paced if `rate`), flush, publish the ledger."""
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
    for n, (code, provider, record) in enumerate(items):
        if rate:
            ahead = first + n / rate - time.time()
            if ahead > 0.001:
                time.sleep(ahead)
        up = uploads[(provider, code)]
        up["rows"] += 1
        if publishers[provider].send(catalog.get(code), record, up["id"], up["rows"]):
            up["rejected"] += 1
    sent = time.time()
    for pub in publishers.values():
        pub.flush()
    flushed = time.time()
    for (provider, code), up in uploads.items():
        publishers[provider].record_upload({
            "upload_id": up["id"], "class_code": code, "provider": provider, "channel": "sdk",
            "source_name": "credit bench", "received": up["rows"],
            "sent": up["rows"] - up["rejected"], "rejected": up["rejected"],
            "started_ms": int(first * 1000), "finished_ms": int(flushed * 1000),
        })  # fmt: skip
    for pub in publishers.values():
        pub.flush()
    cpu1 = os.times()
    out = {"first_send": first, "sent": sent, "flushed": flushed, "records": len(items),
           "uploads": [u["id"] for u in uploads.values()], **stats,
           "cpu_s": round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 2)}  # fmt: skip
    print(json.dumps(out), flush=True)
    return 0


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
        cmd = [sys.executable, "-m", "credit.bench", "produce", json.dumps(spec)]
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
def _naive_main(spec: dict[str, Any]) -> int:
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
    schema = faust.Schema(key_type=str, key_serializer="raw", value_serializer="json")
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

    @app.agent(source)  # type: ignore[untyped-decorator]
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
        proc = subprocess.Popen([sys.executable, "-m", "credit.bench", "naive", json.dumps(spec)],
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    got: dict[str, Any] = {"n": 0, "first": 0.0, "last": 0.0}
    start_by = time.monotonic() + 60  # group join and changelog topic creation
    try:
        while proc.poll() is None:
            with contextlib.suppress(FileNotFoundError, ValueError):
                got = json.loads(out.read_text())
            if got["n"] >= expected or (not got["n"] and time.monotonic() > start_by):
                break
            if got["first"] and time.time() > got["first"] + NAIVE_TIME_BOX_S:
                break  # time-boxed: the rate over the records it got through
            time.sleep(0.5)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if got["n"] < 2000:
        raise BenchError(f"the naive Faust app processed {got['n']} records; see naive.log")
    secs = got["last"] - got["first"]
    return {"records": got["n"], "of": expected, "seconds": round(secs, 2),
            "records_per_s": round(got["n"] / secs, 1) if secs > 0 else 0.0,
            "cpu_us_per_record": round((got["cpu"] - got["cpu0"]) / got["n"] * 1e6, 1)}  # fmt: skip


def _create_topics(kafka: dict[str, Any], topics: list[str], partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient(kafka)
    futures = admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
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


# -- profile: the pure pipeline, stage by stage -------------------------------------------------
def profile_pipeline(items: list[Item], kafka: dict[str, Any]) -> dict[str, Any]:
    """µs per record of each worker stage and of the SDK's Avro work; cProfile of the whole.

    Stages are timed one after another over the whole sample (no profiler overhead); the
    cProfile run is separate and smaller, for the top functions only.
    """
    from confluent_kafka import Producer as KafkaProducer

    from schemas.avro import avro_schema
    from schemas.catalog import default_catalog
    from schemas.codec import AvroDecoder, AvroEncoder
    from streams import envelope as env
    from streams.banned import strip_banned
    from streams.identity import learn, resolve
    from streams.pipeline import Pipeline, enrich
    from streams.rules import validate

    catalog = default_catalog()
    schemas = {code: avro_schema(catalog.get(code)) for code in CLASSES}
    ids = {code: i + 1 for i, code in enumerate(CLASSES)}
    texts = {ids[c]: json.dumps(s, ensure_ascii=False) for c, s in schemas.items()}
    encoders = {c: AvroEncoder(schemas[c], ids[c]) for c in CLASSES}
    now = int(time.time() * 1000)
    msgs, values = [], []
    for n, (code, provider, record) in enumerate(items):
        cls = catalog.get(code)
        value = {name: record.get(name) for name in cls.by_name}
        value.update(ingest_provider=provider, ingest_channel="sdk", ingest_upload_id="bench",
                     ingest_row=n + 1, ingest_source_key=f"k{n}", ingest_received_at=now)  # fmt: skip
        values.append((code, value))
        msgs.append(env.Inbound(cls.topic, 0, n, b"", encoders[code].encode(value),
                                {env.H_PROVIDER: provider}, now))  # fmt: skip
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
    subjects: dict[str, Any] = {}
    aliases: dict[str, Any] = {}

    def identity() -> list[tuple[Any, dict[str, Any], Any]]:
        out = []
        for cls, rec, ok in checked:
            res = resolve(cls, rec, subjects, aliases) if ok else None
            if res is not None and not res.violations:
                learn(cls, rec, res, subjects, aliases)
                out.append((cls, rec, res))
        return out

    resolved = timed("identity", identity)
    meta = {"provider": "p", "channel": "sdk", "upload_id": "bench", "row": 1, "source_key": "k"}
    rows = timed("enrich", lambda: [enrich(c, r, res, meta, now) for c, r, res in resolved])
    # the worker sends valid rows 500 to a message (streams/worker.py OUTPUT_CHUNK)
    blobs = timed("json_dumps", lambda: [env.dumps({"class_code": "x", "rows": rows[i : i + 500]})
                                         for i in range(0, len(rows), 500)])  # fmt: skip
    timed("aggregates", lambda: _aggregates([(c.code, r) for (c, _, _), r in
                                             zip(resolved, rows, strict=True)], today))  # fmt: skip
    producer = KafkaProducer({**kafka, "linger.ms": 5, "enable.idempotence": True,
                              "partitioner": "murmur2_random"})  # fmt: skip

    def produce() -> None:
        for blob in blobs:
            while True:
                try:
                    producer.produce("bench.profile", blob, b"k")
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.flush(60)

    timed("producer", produce, time.process_time)  # with librdkafka's own threads
    # the SDK's own per-record work before its produce (Publisher.send)
    timed("sdk_avro_encode", lambda: [encoders[c].encode(v) for c, v in values])
    pipeline = Pipeline(catalog, AvroDecoder(texts.__getitem__), {}, {})

    def whole(batch: list[Any]) -> None:
        for m in batch:
            out = pipeline.process(m, today)
            env.dumps({"row": out.valid} if out.valid is not None else out.dead or {})

    timed("pipeline_process_and_json", lambda: whole(msgs))
    pipeline = Pipeline(catalog, AvroDecoder(texts.__getitem__), {}, {})
    prof = cProfile.Profile()
    sample = msgs[:PROFILE_CPROFILE]
    prof.runcall(whole, sample)
    return {"records": count, "us_per_record": stage, "top": _top_functions(prof, len(sample))}


def _aggregates(rows: list[tuple[str, dict[str, Any]]], today: dt.date) -> int:
    """As the worker does it per batch: fold each row into its subject's state, then figures,
    a row and its JSON once per touched subject (batches of 2,000, the worker's default)."""
    from streams import aggregates as agg
    from streams import envelope as env

    table: dict[str, dict[str, Any]] = {}
    emitted = 0
    for start in range(0, len(rows), 2000):
        touched: dict[str, tuple[str, dict[str, Any]]] = {}
        for code, row in rows[start : start + 2000]:
            kind = agg.kind_of(code, row)
            if kind is not None:
                sid = row["subject_id"]
                states = touched.setdefault(sid, (row["subject_kind"], dict(table.get(sid) or {})))[
                    1
                ]
                states[kind] = agg.apply(states.get(kind), kind, row, code)
        for sid, (subject_kind, states) in touched.items():
            table[sid] = states
            for kind, state in states.items():
                figures = agg.figures(state, today)
                env.dumps(agg.to_row(sid, subject_kind, kind, figures, 1))
                emitted += 1
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
    say = _progress(json_out)
    result: dict[str, Any] = {"machine": machine(), "load_start": load(), "data_dir": str(work)}
    try:
        say(f"platform up in {work} (load {load()})")
        with Platform(settings) as platform:
            run = _Run(platform, work, result)
            say("warm-up (worker and sink join their groups)")
            run.warm_up()
            say(f"throughput: {records:,} records, {subjects:,} subjects (load {load()})")
            run.throughput(records, subjects)
            say(f"ceiling baseline: consume + Avro decode (load {load()})")
            run.baselines(ceiling=True)
            say(f"naive baseline: Faust, an event + changelogged update per record (load {load()})")
            run.baselines(ceiling=False)
            say(f"latency: {rate:,} records/s for {latency_seconds:g} s (load {load()})")
            run.latency(rate, latency_seconds)
            run.accounting()
            say(f"profile: pure pipeline over {min(records, PROFILE_SAMPLE):,} records")
            sample, _ = workload(min(records, PROFILE_SAMPLE), subjects, 11, run.month)
            result["profile"] = profile_pipeline(sample, run.kafka)
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


class _Run:
    """The phases against one running platform; each writes its figures into `result`."""

    def __init__(self, platform: Any, work: Path, result: dict[str, Any]) -> None:
        assert platform.store is not None and platform.broker is not None and platform._worker
        self.platform, self.store, self.result = platform, platform.store, result
        self.kafka, self.registry = platform.kafka_conf(), platform.registry_url
        self.pids = {"platform": os.getpid(), "worker": platform._worker.pid,
                     "broker": platform.broker._proc.pid if platform.broker._proc else 0}  # fmt: skip
        self.month = last_month(dt.date.today())
        self.base = {"kafka": self.kafka, "registry": self.registry,
                     "month": self.month.isoformat(),
                     "batch_records": platform.settings.publish_batch_records}  # fmt: skip
        self.workload_spec: dict[str, Any] = {}
        self.work, self.log = work, work / "logs" / "producer.log"
        self.sent, self.subjects, self.rss_before = 0, 0, 0.0

    def _producer(self, **spec: Any) -> ProducerChild:
        return ProducerChild({**self.base, **spec}, self.log)

    def warm_up(self) -> None:
        warm = self._producer(records=WARMUP_RECORDS, subjects=WARMUP_RECORDS // 2, seed=7,
                              month=_month_back(self.month, 6).isoformat())  # fmt: skip
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

    def baselines(self, ceiling: bool) -> None:
        """The ceiling reads the class topics as they are now (warm-up + throughput records);
        the naive app reads the throughput workload again, sent one record per message."""
        topics = [self.platform.catalog.get(c).topic for c in CLASSES]
        parts = self.platform.settings.topic_partitions
        if ceiling:
            self.result["ceiling"] = ceiling_baseline(self.kafka, self.registry, topics, parts,
                                                      self.sent)  # fmt: skip
            return
        naive_topics = [NAIVE_PREFIX + t for t in topics]
        _create_topics(self.kafka, naive_topics, parts)
        feed = self._producer(**self.workload_spec, naive_prefix=NAIVE_PREFIX)
        feed.go()
        expected = feed.result()["records"]
        self.result["naive"] = naive_baseline(self.platform.bootstrap, self.registry,
                                              naive_topics, parts, expected, self.work)  # fmt: skip

    def latency(self, rate: int, seconds: float) -> None:
        n = max(1, int(rate * seconds))
        lat = self._producer(records=n, subjects=max(1, n // 2), seed=13, rate=rate,
                             month=_month_back(self.month, 3).isoformat())  # fmt: skip
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
        from sinks import queries

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


def worker_leg(kafka: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """send → the worker's result on `credit.valid` / `credit.deadletter` (its Kafka timestamp)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from credit.topics import DEAD_LETTER_TOPIC, VALID_TOPIC

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
                data = json.loads(msg.value() or b"{}")
                rows = data.get("rows", [data.get("row")]) if msg.topic() == VALID_TOPIC else [data]
                for row in rows:
                    if row.get("ingest_upload_id", row.get("upload_id")) in uploads:
                        legs.append(ts - int(row.get("ingest_received_at", row.get("received_ms"))))
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
                   # load-independent: CPU per record, the naive worker over the whole platform
                   "cpu_naive_over_platform": round(r["naive"]["cpu_us_per_record"]
                                                    / max(r["cpu_s_per_1k"]["total"] * 1000, 1e-9), 2),
                   "cpu_naive_over_worker": round(r["naive"]["cpu_us_per_record"]
                                                  / max(r["cpu_s_per_1k"]["worker"] * 1000, 1e-9), 2)}  # fmt: skip
    stages = r["profile"]["us_per_record"]
    r["profile"]["worker_cpu_us"] = round(r["cpu_s_per_1k"]["worker"] * 1000, 1)
    inside = stages["pipeline_process_and_json"] + stages["producer"] + stages["aggregates"]
    r["profile"]["worker_outside_us"] = round(r["profile"]["worker_cpu_us"] - inside, 1)
    rss = r["worker_rss"]
    checks = [
        ("end-to-end records/s", f">= {TARGETS['e2e_rps']:,.0f}", e2e, e2e >= TARGETS["e2e_rps"]),
        ("platform / naive Faust", f">= {TARGETS['vs_naive']:g}x", r["ratios"]["vs_naive"],
         r["ratios"]["vs_naive"] >= TARGETS["vs_naive"]),
        (f"p99 ms at {r['latency']['rate']:,} rec/s", f"<= {TARGETS['p99_ms']:,.0f}",
         r["latency"]["p99_queryable_ms"], r["latency"]["p99_queryable_ms"] <= TARGETS["p99_ms"]),
        ("worker RSS MB at 1M subjects", f"<= {TARGETS['worker_rss_mb']:,.0f}",
         rss["extrapolated_1m_mb"], rss["extrapolated_1m_mb"] <= TARGETS["worker_rss_mb"]),
    ]  # fmt: skip
    r["targets"] = [{"name": n, "target": t, "measured": m, "met": bool(ok)}
                    for n, t, m, ok in checks]  # fmt: skip


def _progress(quiet: bool) -> Callable[[str], None]:
    def say(msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    return say if not quiet else (lambda _msg: None)


def format_table(r: dict[str, Any]) -> str:
    """The one table: figures, baselines, targets and the profile, with the load."""
    m, w, lat, rss, rt = r["machine"], r["workload"], r["latency"], r["worker_rss"], r["ratios"]
    cpu, peak, acc, prof, prod = (r["cpu_s_per_1k"], r["peak_rss_mb"], r["accounted"],
                                  r["profile"], r["producer"])  # fmt: skip
    leg = lat["send_to_worker_output"]
    t = [(x["target"], "yes" if x["met"] else "NO") for x in r["targets"]]
    adds_up = acc["received"] == acc["stored"] + acc["rejected"] == acc["sent"]
    rows: list[tuple[str, str, str, str]] = [
        ("end to end: first sent -> last queryable",
         f"{r['end_to_end']['records_per_s']:,.0f} rec/s ({r['end_to_end']['seconds']} s)", *t[0]),
        ("producer: SDK Publisher.send + flush", f"{prod['records_per_s']:,.0f} rec/s", "", ""),
        ("ceiling: consume + Avro decode", f"{r['ceiling']['records_per_s']:,.0f} rec/s", "", ""),
        ("naive: Faust event + changelog per rec",
         f"{r['naive']['records_per_s']:,.0f} rec/s ({r['naive']['records']:,} rec)", "", ""),
        ("platform / ceiling", f"{rt['vs_ceiling']:.2f}x", "", ""),
        ("platform / naive", f"{rt['vs_naive']:.2f}x", *t[1]),
        (f"latency p50 / p99 at {lat['rate']:,} rec/s", f"{lat['p50_ms']:,.0f} / "
         f"{'>' if lat['p99_is_lower_bound'] else ''}{lat['p99_queryable_ms']:,.0f} ms", *t[2]),
        ("  of which send -> worker output p50 / p99",
         f"{leg['p50_ms'] or 0:,.0f} / {leg['p99_ms'] or 0:,.0f} ms", "", ""),
        ("CPU s/1k rec: platform + worker + broker", f"{cpu['platform']:.2f} + {cpu['worker']:.2f}"
         f" + {cpu['broker']:.2f} = {cpu['total']:.2f}", "", ""),
        ("CPU s/1k rec: producer (not platform)", f"{prod['cpu_s_per_1k']:.2f}", "", ""),
        ("CPU µs/rec: naive worker / ceiling", f"{r['naive']['cpu_us_per_record']:,.0f} / "
         f"{r['ceiling']['cpu_us_per_record']:,.0f}", "", ""),
        ("CPU/rec: naive worker ÷ platform (÷ worker)",
         f"{rt['cpu_naive_over_platform']:.2f}x ({rt['cpu_naive_over_worker']:.2f}x)", "", ""),
        ("peak RSS MB: platform / worker / broker",
         f"{peak['platform']:,.0f} / {peak['worker']:,.0f} / {peak['broker']:,.0f}", "", ""),
        (f"worker RSS MB with {rss['distinct_subjects']:,} subjects",
         f"{rss['before_mb']:,.0f} -> {rss['after_mb']:,.0f}", "", ""),
        ("  extrapolated to 1,000,000 subjects", f"{rss['extrapolated_1m_mb']:,.0f}", *t[3]),
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


def _main(argv: list[str]) -> int:
    mode, spec = argv[0], json.loads(argv[1])
    if mode == "produce":
        return _produce_main(spec)
    if mode == "naive":
        return _naive_main(spec)
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
