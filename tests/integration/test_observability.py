"""Observability on the real broker and platform: consumer lag, /metrics, worker probes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from prometheus_client.parser import text_string_to_metric_families

from base.broker import EmbeddedBroker, free_port
from base.metrics import create_metrics
from base.orphans import die_with_parent
from base.topics import ensure_topics
from credit.lag import NO_OFFSET, WORKER_GROUP, LagMonitor, LagSampler
from producers.channel import publish_rows
from producers.publisher import Publisher, new_upload_id
from schemas.catalog import Catalog
from schemas.codes import random_uscc
from sinks.exceptions import StoreError
from sinks.store import Store
from sinks.write.writer import SINK_GROUP

pytestmark = pytest.mark.integration


def _topic(bootstrap: str, partitions: int = 2) -> str:
    name = f"lag-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[
        name
    ].result()
    return name


def _produce_one_by_one(bootstrap: str, topic: str, partition: int, count: int) -> None:
    """One message per batch: Tansu's end offset (first offset of the last batch + 1) is then
    the true end, so the expected lag is exact."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(count):
        producer.produce(topic, f"m{i}".encode(), partition=partition)
        producer.flush(10)


def _commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        consumer.commit(offsets=tps, asynchronous=False)
    finally:
        consumer.close()


def _lags(sampler: LagSampler) -> dict[tuple[str, str, int], int]:
    return {(x.group, x.topic, x.partition): x.lag for x in sampler.sample()}


def test_lag_is_end_minus_committed_per_partition_and_zero_once_all_committed(
    broker: EmbeddedBroker,
) -> None:
    topic = _topic(broker.bootstrap)
    _produce_one_by_one(broker.bootstrap, topic, 0, 5)
    _produce_one_by_one(broker.bootstrap, topic, 1, 3)
    group = f"g-{uuid.uuid4().hex[:6]}"
    sampler = LagSampler({"bootstrap.servers": broker.bootstrap}, {group: [topic]})

    # never committed: everything from the start is still to read
    assert _lags(sampler) == {(group, topic, 0): 5, (group, topic, 1): 3}
    _commit(broker.bootstrap, group, {(topic, 0): 2})
    readings = {(x.topic, x.partition): x for x in sampler.sample()}
    assert readings[(topic, 0)].lag == 3 and readings[(topic, 0)].committed == 2
    assert readings[(topic, 1)].lag == 3 and readings[(topic, 1)].committed == NO_OFFSET
    _commit(broker.bootstrap, group, {(topic, 0): 5, (topic, 1): 3})
    assert _lags(sampler) == {(group, topic, 0): 0, (group, topic, 1): 0}


def test_on_tansu_a_multi_message_last_batch_gives_a_lower_bound(broker: EmbeddedBroker) -> None:
    topic = _topic(broker.bootstrap, partitions=1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 100})
    for i in range(10):
        producer.produce(topic, f"m{i}".encode(), partition=0)
    producer.flush(10)  # one batch of 10: Tansu reports end = 0 + 1
    group = f"g-{uuid.uuid4().hex[:6]}"
    sampler = LagSampler({"bootstrap.servers": broker.bootstrap}, {group: [topic]})
    lag = _lags(sampler)[(group, topic, 0)]
    assert 1 <= lag <= 10  # 10 on Apache Kafka; never more than the truth, never 0 while behind
    _commit(broker.bootstrap, group, {(topic, 0): 10})  # committed past Tansu's end: clamped
    assert _lags(sampler)[(group, topic, 0)] == 0


def test_monitor_sets_the_gauge_per_group_topic_partition(broker: EmbeddedBroker) -> None:
    topic = _topic(broker.bootstrap)
    _produce_one_by_one(broker.bootstrap, topic, 1, 4)
    group = f"g-{uuid.uuid4().hex[:6]}"
    _commit(broker.bootstrap, group, {(topic, 1): 1})
    metrics = create_metrics()
    sampler = LagSampler({"bootstrap.servers": broker.bootstrap}, {group: [topic]})
    monitor = LagMonitor(sampler, metrics.consumer_lag, interval=0.2).start()
    try:
        deadline = time.monotonic() + 10
        value = None
        while time.monotonic() < deadline and value is None:
            labels = {"group": group, "topic": topic, "partition": "1"}
            value = metrics.registry.get_sample_value("credit_consumer_lag", labels)
            time.sleep(0.1)
    finally:
        monitor.stop()
    assert value == 3
    zero = {"group": group, "topic": topic, "partition": "0"}
    assert metrics.registry.get_sample_value("credit_consumer_lag", zero) == 0


def _lag_samples(api_url: str) -> dict[tuple[str, str, str], float]:
    text = httpx.get(f"{api_url}/metrics").text
    return {
        (s.labels["group"], s.labels["topic"], s.labels["partition"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "credit_consumer_lag"
        for s in family.samples
    }


def _arrears_row(name: str, uscc: str) -> dict[str, str]:
    return {
        "机构全称": name, "统一社会信用代码": uscc, "账号": "W1001", "欠缴类型名称": "水费",
        "欠缴统计开始日期": "2026-07-01", "欠缴统计截止日期": "2026-09-30", "拖欠天数": "92",
        "欠费金额": "100.00", "信息来源部门全称": "江阴市水务集团有限公司",
        "提供单位全称": "江阴市水务集团有限公司", "提供日期": "2026-10-20",
    }  # fmt: skip


def test_platform_metrics_show_lag_of_both_groups_back_to_zero_after_a_run(
    platform: dict[str, Any], catalog: Catalog
) -> None:
    import random

    rng = random.Random(91)
    rows: list[tuple[int | None, dict[str, str]]] = [
        (i + 2, _arrears_row(f"滞后{i}", random_uscc(rng))) for i in range(20)
    ]
    publisher = Publisher({"bootstrap.servers": platform["bootstrap"]}, platform["registry_url"],
                          "滞后测试", "sdk")  # fmt: skip
    upload = new_upload_id("sdk")
    publish_rows(publisher, catalog.get("legal_arrears"), catalog, rows, upload)
    topic = catalog.get("legal_arrears").topic
    deadline = time.monotonic() + 90
    samples: dict[tuple[str, str, str], float] = {}
    while time.monotonic() < deadline:
        samples = _lag_samples(platform["api_url"])
        wanted = [k for k in samples if k[1] in (topic, "credit.valid")]
        if len(wanted) == 4 and all(samples[k] == 0 for k in wanted):
            break
        time.sleep(1)
    for group, topic_name in ((WORKER_GROUP, topic), (SINK_GROUP, "credit.valid")):
        for partition in ("0", "1"):
            assert samples.get((group, topic_name, partition)) == 0, samples
    groups = {g for g, _, _ in samples}
    assert groups == {WORKER_GROUP, SINK_GROUP}


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


def test_a_production_worker_is_live_then_ready_and_exits_0_on_sigterm(
    catalog: Catalog, tmp_path: Path
) -> None:
    # a broker of its own: on a shared one the group `credit-worker` may still hold members
    # of other tests' workers, and the join would wait for their rebalance. No message
    # arrives, so the registry (asked only to decode) is never called.
    with EmbeddedBroker(tmp_path / "tansu.log") as broker:
        _run_worker_probes(broker, catalog, tmp_path)


def _run_worker_probes(broker: EmbeddedBroker, catalog: Catalog, tmp_path: Path) -> None:
    ensure_topics({"bootstrap.servers": broker.bootstrap}, catalog, 2)
    port = free_port()
    env = {**os.environ, "CREDIT_KAFKA_BOOTSTRAP": broker.bootstrap,
           "CREDIT_SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{free_port()}",
           "CREDIT_DATA_DIR": str(tmp_path), "CREDIT_API_PORT": str(port)}  # fmt: skip
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "credit.cli", "worker"], env=env,
                            stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent())  # an interrupted run leaves none  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150  # a loaded machine slows the join
        live = ready = None
        not_ready = 0
        while time.monotonic() < deadline and proc.poll() is None:
            live = live or _get(f"{base}/live")
            resp = _get(f"{base}/health")
            if resp is not None and resp.status_code == 200:
                ready = resp
                break
            not_ready += resp is not None and resp.status_code == 503
            time.sleep(0.5)
        assert live is not None and live.status_code == 200
        assert ready is not None and ready.json()["ready"], (tmp_path / "worker.log").read_text()
        # 503 until the group join and changelog recovery end (`not_ready` polls saw it; on a
        # quick join the first poll may already find the worker ready, so it is not asserted)
        assert "credit_broker_errors" in httpx.get(f"{base}/metrics").text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_a_failed_clickhouse_query_counts_as_a_store_error(store: Store) -> None:
    metrics = create_metrics()
    store.on_error = lambda op: metrics.store_errors.labels(op).inc()  # as the platform wires it
    with pytest.raises(StoreError):
        store.query("SELECT * FROM no_such_table_here")
    with pytest.raises(StoreError):
        store.insert("no_such_table_here", [[1]], ["x"])
    value = metrics.registry.get_sample_value
    assert value("credit_store_errors_total", {"operation": "query"}) == 1
    assert value("credit_store_errors_total", {"operation": "insert"}) == 1


def test_every_declared_metric_family_has_samples_after_an_upload(
    platform: dict[str, Any], catalog: Catalog
) -> None:
    """Each family `base/metrics.py` declares is exposed with at least one sample once an
    upload went through (error counters start at 0 for their known labels), so dashboards
    and alert rules never read a series that cannot exist. The outbound families are per
    target: the platform here pushes to an exchange folder, as a deployment would."""
    import random

    from prometheus_client import CollectorRegistry

    from base.metrics import create_metrics

    rng = random.Random(92)
    rows: list[tuple[int | None, dict[str, str]]] = [
        (i + 2, _arrears_row(f"指标{i}", random_uscc(rng))) for i in range(5)
    ]
    rows.append((7, {**_arrears_row("坏行", random_uscc(rng)), "欠费金额": ""}))  # the channel's
    code = random_uscc(rng)
    wrong = code[:-1] + ("1" if code[-1] != "1" else "2")
    rows.append((8, _arrears_row("校验位错", wrong)))  # the stream's (check character)
    target = {"name": "metrics-drop", "kind": "directory",
              "address": str(Path(platform["data_dir"]) / "exchange")}  # fmt: skip
    added = httpx.post(f"{platform['api_url']}/api/outbound/targets", json=target, timeout=30)
    assert added.status_code == 201, added.text
    publisher = Publisher({"bootstrap.servers": platform["bootstrap"]}, platform["registry_url"],
                          "指标测试", "sdk")  # fmt: skip
    upload = new_upload_id("sdk")
    publish_rows(publisher, catalog.get("legal_arrears"), catalog, rows, upload)
    names = [m.name for m in create_metrics(CollectorRegistry()).registry.collect()]
    deadline = time.monotonic() + 60
    missing = names
    while time.monotonic() < deadline and missing:
        text = httpx.get(f"{platform['api_url']}/metrics", timeout=10).text
        lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        missing = [n for n in names if not any(ln.startswith((f"{n}{{", f"{n} ", f"{n}_"))
                                               for ln in lines)]  # fmt: skip
        time.sleep(1)
    assert missing == [], missing
