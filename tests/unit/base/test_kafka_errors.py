"""Broker errors are counted from librdkafka's own error callback (a real client, no mock)."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient

from base.broker import free_port
from base.kafka_errors import count_broker_errors
from base.metrics import create_metrics


def _errors(metrics: Any, component: str) -> float:
    return float(
        sum(
            s.value
            for family in metrics.registry.collect()
            if family.name == "credit_broker_errors"
            for s in family.samples
            if s.name.endswith("_total") and s.labels["component"] == component
        )
    )


def test_a_producer_pointed_at_a_closed_port_counts_broker_errors() -> None:
    metrics = create_metrics()
    conf = {"bootstrap.servers": f"127.0.0.1:{free_port()}", "reconnect.backoff.ms": 50}
    producer = Producer(count_broker_errors(conf, metrics, "test-producer"))
    deadline = time.monotonic() + 15
    while _errors(metrics, "test-producer") == 0 and time.monotonic() < deadline:
        producer.poll(0.2)
    assert _errors(metrics, "test-producer") >= 1
    names = {
        s.labels["error"]
        for family in metrics.registry.collect()
        if family.name == "credit_broker_errors"
        for s in family.samples
        if s.name.endswith("_total") and s.value > 0  # the expected ones start at 0
    }
    assert names <= {"_TRANSPORT", "_ALL_BROKERS_DOWN"}, names


def test_an_admin_client_counts_too_when_polled() -> None:
    metrics = create_metrics()
    conf = {"bootstrap.servers": f"127.0.0.1:{free_port()}"}
    admin = AdminClient(count_broker_errors(conf, metrics, "admin"))
    deadline = time.monotonic() + 15
    while _errors(metrics, "admin") == 0 and time.monotonic() < deadline:
        admin.poll(0.2)
    assert _errors(metrics, "admin") >= 1


def test_an_existing_error_cb_is_still_called() -> None:
    metrics = create_metrics()
    seen: list[KafkaError] = []
    conf = count_broker_errors({"error_cb": seen.append}, metrics, "x")
    conf["error_cb"](KafkaError(KafkaError._TRANSPORT))
    assert len(seen) == 1 and _errors(metrics, "x") == 1
