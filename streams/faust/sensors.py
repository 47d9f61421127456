"""Faust's own Kafka errors into `credit_broker_errors_total` (component `faust`).

aiokafka has no `error_cb`; Faust's sensor hooks are its one clean place where send and
partition-assignment failures surface (changelog writes, the leader topic, rebalances).
"""

from __future__ import annotations

from typing import Any

import faust

from base.metrics import Metrics

COMPONENT = "faust"


class BrokerErrorSensor(faust.Sensor):
    """Counts Faust's producer send errors and assignment errors by exception type."""

    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        self.metrics = metrics
        super().__init__(**kwargs)

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self.metrics.broker_errors.labels(COMPONENT, type(exc).__name__).inc()

    def on_assignment_error(self, assignor: Any, state: Any, exc: BaseException) -> None:
        self.metrics.broker_errors.labels(COMPONENT, f"assignment.{type(exc).__name__}").inc()
