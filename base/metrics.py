"""Every Prometheus metric of the platform, declared in one typed place.

A process creates one `Metrics` with its registry and passes it to the stages it runs; the
`/metrics` endpoint of that process exposes the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
_LAG_HELP = (
    "messages behind: partition end offset minus the group's committed offset (sampled every "
    "CREDIT_LAG_INTERVAL_SECONDS; on the embedded Tansu broker a lower bound, since Tansu "
    "reports the end as the first offset of the last batch + 1)"
)
# families the worker process writes to its multiprocess files that /metrics forwards
_WORKER_FAMILIES = ("credit_worker", "credit_broker_errors")


class Metrics(NamedTuple):
    registry: CollectorRegistry
    received: Counter  # records handed over by providers, per class/provider/channel
    producer_rejected: Counter  # rows refused at the channel, per reason
    worker_processed: Counter  # records through the stream rules, per class and outcome
    worker_rejected: Counter  # dead letters from the worker, per class and reason
    worker_batch_seconds: Histogram
    sink_rows: Counter  # rows inserted into ClickHouse, per table
    sink_batch_rows: Histogram
    sink_batch_seconds: Histogram
    sink_errors: Counter  # failed inserts (retried), per table
    end_to_end_seconds: Histogram  # provider receipt → inserted (queryable) in the store
    consumer_lag: Gauge  # messages behind, per group/topic/partition (committed vs. end offset)
    broker_errors: Counter  # librdkafka error_cb / Faust send errors, per component and error
    store_errors: Counter  # every failed ClickHouse call, per operation (query/command/insert)
    api_requests: Counter
    intake_bytes: Gauge  # bytes the durable intake holds (messages and source files)
    intake_undecided: Gauge  # accepted uploads not yet fully stored or rejected
    intake_republished: Counter  # uploads sent again from the intake (broker lost them)
    rows_lost: Counter  # rows neither stored nor rejected that the intake no longer holds
    worker_restarts: Counter  # worker processes that died and were started again
    figures_subjects: Counter  # subjects whose figures were recomputed, per reason
    figures_seconds: Histogram  # time per recomputation (one call, many subjects), per reason
    figures_stale: Gauge  # subjects whose figures are of an earlier day than today
    alerts: Counter  # watchlist alerts: detected, delivered, failed (an attempt) per outcome
    outbound: Counter  # outbound changes per target: upsert, withdraw, held; acked, failed
    outbound_unacked: Gauge  # changes queued for a target and not yet acknowledged
    outbound_oldest: Gauge  # age of a target's oldest unacknowledged change, seconds

    def exposition(
        self,
        worker_dir: Path | None = None,
        store_counts: StoreCounts | None = None,
        lateness: StoreCounts | None = None,
    ) -> bytes:
        """This process's metrics, the worker's (multiprocess files) and the store's counts."""
        parts: list[Collector] = [_Forward(self.registry)]
        if worker_dir is not None and worker_dir.is_dir():
            parts.append(_WorkerFamilies(worker_dir))
        if store_counts is not None:
            parts.append(_StoreFamilies(store_counts, lateness))
        reg = CollectorRegistry()
        reg.register(_Merged(parts))
        return generate_latest(reg)


StoreCounts = Callable[[], list[dict[str, Any]]]


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


class _Merged(Collector):
    """One family per name: this process and the worker both count e.g. broker errors, and a
    family exposed twice is a scrape error for Prometheus."""

    def __init__(self, parts: list[Collector]) -> None:
        self.parts = parts

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for part in self.parts:
            for family in part.collect():
                if family.name in families:
                    families[family.name].samples.extend(family.samples)
                else:
                    merged = Metric(family.name, family.documentation, family.type, family.unit)
                    merged.samples = list(family.samples)
                    families[family.name] = merged
        return families.values()


class _WorkerFamilies(Collector):
    """The worker process's own stage metrics, read from its multiprocess files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterable[Metric]:
        reg = CollectorRegistry()
        MultiProcessCollector(reg, path=str(self.path))  # type: ignore[no-untyped-call]
        return [m for m in reg.collect() if m.name.startswith(_WORKER_FAMILIES)]


class _StoreFamilies(Collector):
    """Rows per class and provider as the store accounts them (received / stored / rejected).

    Read at scrape time from the upload ledger, so rows sent by any process (CLI uploads,
    gateway, poller) are counted once, where they were accounted for.
    """

    def __init__(self, counts: StoreCounts, lateness: StoreCounts | None = None) -> None:
        self.counts = counts
        self.lateness = lateness

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("credit_upload_rows", "rows per class, provider and fate",
                                   labels=["class_code", "provider", "state"])  # fmt: skip
        for row in self.counts():
            for state in ("received", "stored", "rejected"):
                family.add_metric([row["class_code"], row["provider"], state], row[state])
        yield family
        if self.lateness is None:
            return
        late = GaugeMetricFamily("credit_department_late",
                                 "days a department is past its reporting deadline for a class",
                                 labels=["department", "district", "class_code"])  # fmt: skip
        for row in self.lateness():  # every unit the catalog expects, silent ones included
            days = row["days_late"] if row["late"] else 0
            late.add_metric([row["department"], row["district"], row["class_code"]], max(days, 0))
        yield late


def create_metrics(registry: CollectorRegistry | None = None) -> Metrics:
    reg = registry or CollectorRegistry()
    c, g, h = Counter, Gauge, Histogram
    return Metrics(
        registry=reg,
        received=c("credit_records_received", "records handed over by providers",
                   ["class_code", "provider", "channel"], registry=reg),
        producer_rejected=c("credit_producer_rejected", "rows refused at the channel",
                            ["class_code", "provider", "reason"], registry=reg),
        worker_processed=c("credit_worker_records", "records through the stream rules",
                           ["class_code", "outcome"], registry=reg),
        worker_rejected=c("credit_worker_dead_letters", "dead letters produced by the worker",
                          ["class_code", "provider", "reason"], registry=reg),
        worker_batch_seconds=h("credit_worker_batch_seconds", "time per worker batch", registry=reg),
        sink_rows=c("credit_sink_rows", "rows inserted into the store", ["table"], registry=reg),
        sink_batch_rows=h("credit_sink_batch_rows", "rows per sink batch",
                          buckets=(10, 100, 1000, 5000, 20000, 100000), registry=reg),
        sink_batch_seconds=h("credit_sink_batch_seconds", "time per sink batch (rows, figures, "
                               "outcomes)", registry=reg),
        sink_errors=c("credit_sink_errors", "failed inserts (retried)", ["table"], registry=reg),
        end_to_end_seconds=h("credit_end_to_end_seconds", "provider receipt to queryable in the store",
                             ["class_code"], buckets=_LATENCY_BUCKETS, registry=reg),
        consumer_lag=g("credit_consumer_lag", _LAG_HELP, ["group", "topic", "partition"],
                       registry=reg, multiprocess_mode="max"),
        broker_errors=c("credit_broker_errors", "Kafka client errors (librdkafka error_cb, "
                        "Faust send errors)", ["component", "error"], registry=reg),
        store_errors=c("credit_store_errors", "failed ClickHouse calls of this process "
                       "(queries, commands, inserts)", ["operation"], registry=reg),
        api_requests=c("credit_api_requests", "HTTP API requests", ["route", "status"], registry=reg),
        intake_bytes=g("credit_intake_bytes", "bytes held by the durable intake", registry=reg),
        intake_undecided=g("credit_intake_undecided_uploads", "accepted uploads not yet fully "
                           "stored or rejected", registry=reg),
        intake_republished=c("credit_intake_republished_uploads", "uploads sent again from "
                             "the durable intake", registry=reg),
        rows_lost=c("credit_rows_lost", "rows neither stored nor rejected whose copy is gone",
                    ["class_code"], registry=reg),
        worker_restarts=c("credit_worker_restarts", "worker processes started again after "
                          "they died", registry=reg),
        figures_subjects=c("credit_figures_subjects", "subjects whose figures were recomputed "
                           "from the stored facts", ["reason"], registry=reg),
        figures_seconds=h("credit_figures_seconds", "time per recomputation of figures",
                          ["reason"], registry=reg),
        figures_stale=g("credit_figures_stale_subjects", "subjects whose figures are of an "
                        "earlier day (the daily pass is behind)", registry=reg),
        alerts=c("credit_watch_alerts", "watchlist alerts by outcome: detected, delivered, "
                 "failed (one delivery attempt)", ["outcome"], registry=reg),
        outbound=c("credit_outbound_changes", "outbound changes per target: queued as upsert, "
                   "withdraw or held (not sent); acked or failed (per delivery attempt)",
                   ["target", "outcome"], registry=reg),
        outbound_unacked=g("credit_outbound_unacked", "changes queued for a target and not yet "
                           "acknowledged by it", ["target"], registry=reg),
        outbound_oldest=g("credit_outbound_oldest_unacked_seconds", "age of the oldest change a "
                          "target has not acknowledged", ["target"], registry=reg),
    )  # fmt: skip
