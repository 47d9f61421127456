"""Lag arithmetic and the merged /metrics exposition (pure; the broker side is integration)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from base.metrics import create_metrics
from credit.lag import NO_OFFSET, WORKER_GROUP, behind, lag_groups
from schemas.catalog import Catalog
from sinks.write.writer import SINK_GROUP, SINK_TOPICS


def test_lag_counts_from_the_committed_offset() -> None:
    assert behind(committed=40, start=0, end=100) == 60


def test_a_group_that_never_committed_is_behind_by_everything_retained() -> None:
    assert behind(committed=NO_OFFSET, start=25, end=100) == 75


def test_lag_is_never_negative_when_tansu_reports_an_end_below_the_commit() -> None:
    assert behind(committed=10, start=0, end=1) == 0


def test_both_groups_are_watched_over_their_own_topics(catalog: Catalog) -> None:
    groups = lag_groups(catalog)
    assert set(groups) == {WORKER_GROUP, SINK_GROUP}
    assert set(groups[WORKER_GROUP]) == {c.topic for c in catalog}
    assert groups[SINK_GROUP] == tuple(SINK_TOPICS)


def test_worker_group_is_the_faust_app_id() -> None:
    from streams.faust.worker import APP_ID

    assert WORKER_GROUP == APP_ID


def test_a_family_counted_here_and_in_the_worker_is_exposed_once(tmp_path: Path) -> None:
    # the worker is another process writing multiprocess files, as `credit up` runs it
    script = ("from base.metrics import create_metrics; "
              "create_metrics().broker_errors.labels('worker', '_TRANSPORT').inc(2)")  # fmt: skip
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    metrics = create_metrics()
    metrics.broker_errors.labels("gateway", "_TRANSPORT").inc()
    text = metrics.exposition(tmp_path).decode()
    families = [f for f in text_string_to_metric_families(text) if f.name == "credit_broker_errors"]
    assert len(families) == 1
    got = {s.labels["component"]: s.value for s in families[0].samples if s.name.endswith("_total")}
    assert got == {"gateway": 1, "worker": 2}
