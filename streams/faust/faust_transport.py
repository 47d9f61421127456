"""Faust's aiokafka transport with a short fetch wait (scheme `credit-kafka://`).

Faust hard-codes `fetch_max_wait_ms=1500` for its consumer. Tansu (the embedded broker) looks
for data only at a few points of that wait (`base.broker.FETCH_MAX_WAIT_MS` says where), so
each record waited up to 750 ms before the worker saw it (measured: 1,500 ms wait → ≈380 ms
median delivery at a steady trickle, 100 ms → ≈15 ms). A real Kafka answers early either
way; the only cost of the short wait there is a few more idle fetch requests.
"""

from __future__ import annotations

from typing import Any

from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka

from base.broker import FETCH_MAX_WAIT_MS

SCHEME = "credit-kafka"


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by AIOKafkaConsumer.start()
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


def register() -> None:
    """Make `credit-kafka://host:port` resolve to this transport (idempotent)."""
    drivers.TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
