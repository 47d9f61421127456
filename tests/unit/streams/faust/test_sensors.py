"""Faust's send and assignment errors land in the broker-errors counter."""

from __future__ import annotations

from base.metrics import create_metrics
from streams.faust.sensors import BrokerErrorSensor


def test_faust_send_and_assignment_errors_are_counted_by_type() -> None:
    metrics = create_metrics()
    sensor = BrokerErrorSensor(metrics)
    sensor.on_send_error(None, TimeoutError("no leader"), None)
    sensor.on_send_error(None, TimeoutError("no leader"), None)
    sensor.on_assignment_error(None, {}, RuntimeError("bad metadata"))
    value = metrics.registry.get_sample_value
    assert value("credit_broker_errors_total", {"component": "faust", "error": "TimeoutError"}) == 2
    labels = {"component": "faust", "error": "assignment.RuntimeError"}
    assert value("credit_broker_errors_total", labels) == 1
