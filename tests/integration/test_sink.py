"""The ClickHouse sink on the real Tansu broker and the real chDB store.

Each test reads its own copies of the internal topics (`SinkTopics.suffixed`) into its own
database (the `store` fixture), with its own consumer group.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import pytest
from confluent_kafka import Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from base.broker import EmbeddedBroker
from base.metrics import create_metrics
from schemas import envelope as env
from schemas.catalog import Catalog
from schemas.codes import random_uscc
from sinks.ddl.upgrade import apply_ddl
from sinks.exceptions import StoreError
from sinks.store import Store, open_embedded
from sinks.write.rows import STORE_REJECTED
from sinks.write.writer import Sink, SinkTopics

pytestmark = pytest.mark.integration

CLASS = "legal_arrears"
RNG = random.Random(11)


class Crash(Exception):
    """The process dies after the insert, before the offsets are committed."""


class CrashBeforeCommit(Sink):
    def commit(self, msgs: list[Message]) -> None:
        raise Crash(f"crashed before committing {len(msgs)} messages")


def record(i: int, amount: float = 120.5) -> dict[str, Any]:
    """A `legal_arrears` record as the worker puts it on the valid topic."""
    now_ms = int(time.time() * 1000)
    return {
        "record_key": f"rk{i}", "version": now_ms, "subject_id": random_uscc(RNG),
        "subject_kind": "legal", "subject_name": f"江阴{i}号有限公司", "district": "320281",
        "name_mismatch": 0, "code_flag": "", "event_date": "2025-03-01",
        "behaviour_end": "2025-03-01", "ingest_provider": "供水公司", "ingest_channel": "file",
        "ingest_upload_id": "u-sink", "ingest_row": i, "ingest_source_key": f"s{i}",
        "ingest_received_at": now_ms, "arrears_type": "水费", "arrears_amount": amount,
        "arrears_start": "2025-02-01", "arrears_end": "2025-02-28", "overdue_days": 10,
    }  # fmt: skip


def valid(i: int) -> bytes:
    return env.dumps({"class_code": CLASS, "row": record(i)})


def count(store: Store, table: str, where: str = "1") -> int:
    """Rows as stored, without FINAL: duplicates would show."""
    return int(
        store.query(f"SELECT count() AS n FROM {store.database}.{table} WHERE {where}")[0]["n"]
    )


@pytest.fixture()
def topics(broker: EmbeddedBroker, unique: str) -> SinkTopics:
    names = SinkTopics().suffixed(unique)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for fut in admin.create_topics([NewTopic(t, 2, 1) for t in names]).values():
        fut.result()
    return names


@pytest.fixture()
def produce(broker: EmbeddedBroker) -> Callable[[str, list[bytes]], None]:
    producer = Producer({"bootstrap.servers": broker.bootstrap})

    def send(topic: str, values: list[bytes]) -> None:
        for n, value in enumerate(values):
            producer.produce(topic, value=value, partition=n % 2)
        producer.flush(10)

    return send


def sink_for(store: Store, catalog: Catalog, broker: EmbeddedBroker, topics: SinkTopics,
             cls: type[Sink] = Sink, batch_size: int = 1000) -> Sink:  # fmt: skip
    conf = {"bootstrap.servers": broker.bootstrap, "group.id": f"sink-{topics.valid}"}
    return cls(store, catalog, conf, create_metrics(), batch_size, 0.3, topics)


def run_until(sink: Sink, done: Callable[[], bool], timeout: float = 60) -> None:
    """Run the sink in a thread until `done()` holds (then stop it and wait for it)."""
    thread = threading.Thread(target=sink.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.2)
    sink.stop_event.set()
    thread.join(30)
    assert done(), "the sink did not store what was expected in time"


def test_a_crash_between_insert_and_commit_stores_nothing_twice(
    store: Store, catalog: Catalog, broker: EmbeddedBroker, topics: SinkTopics,
    produce: Callable[[str, list[bytes]], None],
) -> None:  # fmt: skip
    for table in ("cls_legal_arrears", "outcomes", "subject_index"):
        # a background merge of the ReplacingMergeTree would hide a duplicate from count()
        store.command(f"SYSTEM STOP MERGES {store.database}.{table}")
    produce(topics.valid, [valid(i) for i in range(40)])
    crashing = sink_for(store, catalog, broker, topics, CrashBeforeCommit, batch_size=25)
    with pytest.raises(Crash):
        crashing.run()  # inserts its first batch, then dies before committing
    inserted = count(store, "cls_legal_arrears")
    assert 0 < inserted <= 25
    # More arrives while it is down: the restarted sink's first batch is larger.
    produce(topics.valid, [valid(i) for i in range(40, 60)])
    restarted = sink_for(store, catalog, broker, topics)
    run_until(restarted, lambda: count(store, "outcomes") >= 60)
    time.sleep(1)  # anything left in flight would land now
    for table in ("cls_legal_arrears", "outcomes", "subject_index"):
        assert count(store, table) == 60, table
    keys = f"SELECT uniqExact(record_key) AS n FROM {store.database}.cls_legal_arrears"
    assert store.query(keys) == [{"n": 60}]


def test_a_crashed_batch_split_between_two_sinks_is_stored_once(
    store: Store, catalog: Catalog, broker: EmbeddedBroker, topics: SinkTopics,
    produce: Callable[[str, list[bytes]], None],
) -> None:  # fmt: skip
    """After a crash two sinks share the partitions: each replays the whole recorded batch
    (reading the other's partition too); ClickHouse keeps one copy of every insert."""
    for table in ("cls_legal_arrears", "outcomes"):
        store.command(f"SYSTEM STOP MERGES {store.database}.{table}")
    produce(topics.valid, [valid(i) for i in range(40)])
    crashing = sink_for(store, catalog, broker, topics, CrashBeforeCommit, batch_size=25)
    with pytest.raises(Crash):
        crashing.run()
    assert 0 < count(store, "cls_legal_arrears") <= 25
    sinks = [sink_for(store, catalog, broker, topics) for _ in range(2)]
    threads = [threading.Thread(target=s.run, daemon=True) for s in sinks]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while count(store, "outcomes") < 40 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # anything left in flight would land now
    for s in sinks:
        s.stop_event.set()
    for thread in threads:
        thread.join(30)
    for table in ("cls_legal_arrears", "outcomes"):
        assert count(store, table) == 40, table


def test_a_reinsert_with_a_seen_token_is_dropped_and_a_new_token_kept(store: Store) -> None:
    row = ["u1", "r1", CLASS, "供水公司", "legal", "stored", "rk1", [], dt.datetime(2025, 1, 1),
           dt.datetime(2025, 1, 1)]  # fmt: skip
    from sinks.write.rows import OUTCOME_COLUMNS

    store.insert("outcomes", [row], OUTCOME_COLUMNS, dedup_token="outcomes/t/0/0-9")
    store.insert("outcomes", [row], OUTCOME_COLUMNS, dedup_token="outcomes/t/0/0-9")
    assert count(store, "outcomes") == 1
    store.insert("outcomes", [row], OUTCOME_COLUMNS, dedup_token="outcomes/t/0/10-19")
    assert count(store, "outcomes") == 2


def test_rows_clickhouse_refuses_are_dead_lettered_and_the_rest_stored(
    store: Store, catalog: Catalog
) -> None:
    sink = Sink(store, catalog, {}, create_metrics())
    bad = record(3, amount=1e20)  # beyond Decimal(18, 2)
    batched = {"class_code": CLASS, "rows": [record(i) for i in range(4, 10)]}
    msgs = [Message(topic=sink.topics.valid, partition=0, offset=o, value=v) for o, v in
            enumerate([valid(0), valid(1), valid(2), env.dumps({"class_code": CLASS, "row": bad}),
                       env.dumps(batched)])]  # fmt: skip
    sink.write_batch(msgs)
    assert count(store, "cls_legal_arrears") == 9
    letters = store.query(
        f"SELECT row, stage, reason_codes, topic, offset FROM {store.database}.dead_letters"
    )
    assert letters == [
        {"row": 3, "stage": "sink", "reason_codes": [STORE_REJECTED], "topic": "credit.valid",
         "offset": 3}
    ]  # fmt: skip
    fates = store.query(
        f"SELECT outcome, count() AS n FROM {store.database}.outcomes GROUP BY outcome"
    )
    assert {r["outcome"]: r["n"] for r in fates} == {"rejected": 1, "stored": 9}
    reasons = store.query(f"SELECT reasons FROM {store.database}.dead_letters")[0]["reasons"]
    assert "arrears_amount" in reasons and "out of range" in reasons
    assert sink.metrics.registry.get_sample_value(
        "credit_sink_rows_total", {"table": "cls_legal_arrears"}) == 9  # fmt: skip


def test_batched_message_shapes_are_stored_row_by_row(store: Store, catalog: Catalog) -> None:
    """Both shapes of every topic land, and the figures of the subjects the batch touched are
    computed from the stored facts (the worker sends none)."""
    sink = Sink(store, catalog, {}, create_metrics())
    order: list[str] = []
    insert = store.insert

    def recorded(table: str, *args: Any, **kwargs: Any) -> None:
        order.append(table)
        insert(table, *args, **kwargs)

    store.insert = recorded  # type: ignore[method-assign]
    t = sink.topics
    subjects = [{"subject_id": f"s{i}", "kind": "legal", "name": f"公司{i}"} for i in range(4)]
    rows = [record(i) for i in range(3)]
    bodies = [
        (t.valid, {"class_code": CLASS, "row": rows[0]}),
        (t.valid, {"class_code": CLASS, "rows": rows[1:]}),
        (t.subjects, subjects[0]), (t.subjects, {"rows": subjects[1:]}),
    ]  # fmt: skip
    sink.write_batch(
        [
            Message(topic=topic, partition=0, offset=n, value=env.dumps(cast(dict[str, Any], body)))
            for n, (topic, body) in enumerate(bodies)
        ]
    )
    assert [count(store, t) for t in ("cls_legal_arrears", "aggregates", "subjects")] == [3, 3, 4]
    figures = store.query(
        f"SELECT subject_id, kind, arrears_flag, arrears_amount, facts "
        f"FROM {store.database}.aggregates FINAL ORDER BY subject_id"
    )
    assert sorted((r["subject_id"], r["kind"], r["arrears_flag"], r["arrears_amount"], r["facts"])
                  for r in figures) == sorted((r["subject_id"], "water", 1, 120.5, 1)
                                              for r in rows)  # fmt: skip
    # an upload that reads "complete" (its outcomes) already has its figures
    assert order.index("aggregates") < order.index("outcomes")
    assert order.index("cls_legal_arrears") < order.index("aggregates")
    sample = sink.metrics.registry.get_sample_value
    assert sample("credit_figures_subjects_total", {"reason": "batch"}) == 3
    assert sample("credit_sink_rows_total", {"table": "subjects"}) == 4
    assert sample("credit_end_to_end_seconds_count", {"class_code": CLASS}) == 3


def test_an_unreachable_store_is_waited_for_and_nothing_is_dropped(
    store: Store, catalog: Catalog, chdb_path: Any
) -> None:
    """The database does not exist yet (as a server that is not up): the batch waits."""
    absent = open_embedded(chdb_path, f"{store.database}_later")
    sink = Sink(absent, catalog, {}, create_metrics())
    with pytest.raises(StoreError):
        absent.insert("outcomes", [["x"]], ["upload_id"])
    comes_up = threading.Timer(1.5, apply_ddl, [absent, catalog])
    comes_up.start()
    sink.write_batch([Message(topic=sink.topics.valid, partition=0, offset=0, value=valid(0))])
    comes_up.join()  # the rest of the DDL, before the database is dropped
    assert count(absent, "cls_legal_arrears") == 1 and count(absent, "outcomes") == 1
    assert (sink.metrics.registry.get_sample_value("credit_sink_errors_total",
                                                  {"table": "sink_batches"}) or 0) >= 1  # fmt: skip
    absent.command(f"DROP DATABASE IF EXISTS {absent.database}")


def columns(catalog: Catalog, records: list[dict[str, Any]]) -> bytes:
    """Records as the worker sends them: one Arrow IPC stream (dates as dates)."""
    dates = ("event_date", "behaviour_end", "arrears_start", "arrears_end")
    rows = [{k: dt.date.fromisoformat(v) if k in dates else v for k, v in r.items()}
            for r in records]  # fmt: skip
    return env.valid_message(catalog.get(CLASS), rows)


def test_records_in_columns_are_inserted_once_with_their_outcomes_and_figures(
    store: Store, catalog: Catalog
) -> None:
    """Two messages in columns and one in JSON: every record stored once, its outcome and
    its subject's figures too; the same batch again (a replay) and a re-sent record that is
    already stored add nothing."""
    sink = Sink(store, catalog, {}, create_metrics())
    # amounts ClickHouse would truncate by a cent converting Float64 to Decimal(18, 2)
    amounts = [18771.92, 167153.02, 152456.02, 4297.94, 66539.04, 120.5]
    rows = [record(i, amount) for i, amount in enumerate(amounts)]
    t = sink.topics

    def batch(offset: int) -> list[Message]:
        values = [columns(catalog, rows[:3]), columns(catalog, rows[3:5]), valid(99)]
        return [Message(topic=t.valid, partition=0, offset=offset + n, value=v)
                for n, v in enumerate(values)]  # fmt: skip

    sink.write_batch(batch(0))
    sink.write_batch(batch(0))  # the same offsets: the same tokens
    again = [Message(topic=t.valid, partition=1, offset=0, value=columns(catalog, rows[:1]))]
    sink.write_batch(again)  # the first record re-sent by a restarted worker
    assert count(store, "cls_legal_arrears") == 6
    stored = store.query(
        f"SELECT record_key, arrears_amount, arrears_start, ingest_received_at "
        f"FROM {store.database}.cls_legal_arrears FINAL WHERE record_key = 'rk1'"
    )[0]
    assert (stored["arrears_amount"], stored["arrears_start"]) == (
        Decimal("167153.02"), dt.date(2025, 2, 1))  # fmt: skip
    held = store.query(f"SELECT arrears_amount AS a FROM {store.database}.cls_legal_arrears "
                       "FINAL WHERE record_key != 'rk99' ORDER BY record_key")  # fmt: skip
    assert [r["a"] for r in held] == [Decimal(repr(a)) for a in amounts[:5]]
    assert int(stored["ingest_received_at"].timestamp() * 1000) == rows[1]["ingest_received_at"]
    outcomes = store.query(
        f"SELECT row_key, outcome, record_key, class_code FROM {store.database}.outcomes FINAL "
        "ORDER BY row_key"
    )
    assert [(o["row_key"], o["outcome"], o["record_key"]) for o in outcomes] == sorted(
        [(f"r{i}", "stored", f"rk{i}") for i in (*range(5), 99)]
    )
    figures = store.query(f"SELECT count() AS n FROM {store.database}.aggregates FINAL "
                          "WHERE facts > 0")  # fmt: skip
    assert figures[0]["n"] == 6
    sample = sink.metrics.registry.get_sample_value
    assert sample("credit_end_to_end_seconds_count", {"class_code": CLASS}) == 6 + 6 + 1


def test_a_row_clickhouse_refuses_in_columns_is_found_and_dead_lettered(
    store: Store, catalog: Catalog
) -> None:
    sink = Sink(store, catalog, {}, create_metrics())
    rows = [record(i) for i in range(5)] + [record(5, amount=1e20)]  # beyond Decimal(18, 2)
    sink.write_batch(
        [Message(topic=sink.topics.valid, partition=0, offset=0, value=columns(catalog, rows))]
    )
    assert count(store, "cls_legal_arrears") == 5
    letters = store.query(f"SELECT row, stage, reason_codes FROM {store.database}.dead_letters")
    assert letters == [{"row": 5, "stage": "sink", "reason_codes": [STORE_REJECTED]}]
    fates = store.query(
        f"SELECT outcome, count() AS n FROM {store.database}.outcomes FINAL GROUP BY outcome"
    )
    assert {r["outcome"]: r["n"] for r in fates} == {"rejected": 1, "stored": 5}


def test_a_backlog_spanning_decades_is_stored_in_one_insert_per_table(
    store: Store, catalog: Catalog
) -> None:
    """A department's first upload holds its whole backlog: 25 years of arrears in one
    batch, columns and JSON. ClickHouse refuses an insert that makes more than 100 parts,
    so with monthly partitions this batch was refused and bisected into dozens of inserts;
    it is one insert per class table and way, none refused, nothing dead-lettered."""
    sink = Sink(store, catalog, {}, create_metrics())
    rows = []
    for i in range(300):
        day = dt.date(2000 + i // 12, i % 12 + 1, 1)
        rows.append(record(i) | {"event_date": day.isoformat(), "arrears_start": day.isoformat(),
                                 "arrears_end": (day + dt.timedelta(days=27)).isoformat()})  # fmt: skip
    t = sink.topics
    msgs = [Message(topic=t.valid, partition=0, offset=0, value=columns(catalog, rows[:200])),
            Message(topic=t.valid, partition=0, offset=1, value=env.dumps(
                {"class_code": CLASS, "rows": rows[200:]}))]  # fmt: skip
    sink.write_batch(msgs)
    assert count(store, "cls_legal_arrears") == 300
    assert count(store, "dead_letters") == 0
    sample = sink.metrics.registry.get_sample_value
    assert (sample("credit_sink_errors_total", {"table": "cls_legal_arrears"}) or 0) == 0
    parts = store.query(
        "SELECT count() AS n FROM system.parts WHERE database = {d:String} "
        "AND table = 'cls_legal_arrears' AND active", {"d": store.database})  # fmt: skip
    assert parts[0]["n"] <= 2 * 25  # one part per year and insert
