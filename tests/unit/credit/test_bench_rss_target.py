"""The worker-memory target is judged only on a run that reached a million subjects."""

from __future__ import annotations

from credit.bench.run import _rss_met


def test_a_smaller_run_is_not_judged() -> None:
    rss = {"distinct_subjects": 61_000, "after_mb": 221.0, "extrapolated_1m_mb": 1_828.0}
    assert _rss_met(rss) is None


def test_a_million_subject_run_is_judged_on_what_it_measured() -> None:
    assert _rss_met({"distinct_subjects": 1_006_000, "after_mb": 384.0}) is True
    assert _rss_met({"distinct_subjects": 1_006_000, "after_mb": 637.0}) is False
