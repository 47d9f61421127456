"""Broker errors as a metric: one `error_cb` for every confluent-kafka client we create.

librdkafka retries transport problems by itself (broker down, DNS, authentication) and only
reports them through `error_cb`; without it an unreachable cluster shows as silence. The
callback runs inside the client's `poll`/`flush`/`consume` (for an `AdminClient`, `poll`), so it
counts only what the owning process serves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError

from base.metrics import Metrics

log = logging.getLogger("credit.kafka")
ErrorCallback = Callable[[KafkaError], None]


# the errors a broker outage or a refused login raises (librdkafka's names)
EXPECTED_ERRORS = ("_TRANSPORT", "_ALL_BROKERS_DOWN", "_AUTHENTICATION")


def error_counter(metrics: Metrics, component: str) -> ErrorCallback:
    """An `error_cb` counting into `credit_broker_errors_total{component, error}`.

    `error` is librdkafka's error name (`_TRANSPORT`, `_ALL_BROKERS_DOWN`, …): a small fixed
    set, so the label stays bounded.
    """

    for name in EXPECTED_ERRORS:  # at 0 from the start: a dashboard reads a real series
        metrics.broker_errors.labels(component, name)

    def on_error(err: KafkaError) -> None:
        metrics.broker_errors.labels(component, err.name()).inc()
        log.warning("kafka client error (%s): %s", component, err.str())

    return on_error


def count_broker_errors(
    conf: Mapping[str, Any], metrics: Metrics, component: str
) -> dict[str, Any]:
    """`conf` plus an `error_cb` that counts; an `error_cb` already there is still called."""
    counter = error_counter(metrics, component)
    previous: ErrorCallback | None = conf.get("error_cb")
    if previous is None:
        return {**conf, "error_cb": counter}

    def both(err: KafkaError) -> None:
        counter(err)
        previous(err)

    return {**conf, "error_cb": both}
