"""The analysts' copy is refreshed so that its exports hold the store a tenth of the time.

An export copies whole tables under the store's lock while the sink waits; at ten million
records one takes half a minute, so a fixed 5-second period would leave the sink waiting
most of the time."""

from __future__ import annotations

import itertools
import threading
import time

from credit.analyst_service import MAX_EXPORT_SHARE, keep_exporting


def _run(export_seconds: float, every: float, for_seconds: float) -> list[float]:
    """When each export started, over `for_seconds` of the loop."""
    starts: list[float] = []

    def export() -> None:
        starts.append(time.monotonic())
        time.sleep(export_seconds)

    stop = threading.Event()
    thread = threading.Thread(target=keep_exporting, args=(export, every, stop))
    thread.start()
    time.sleep(for_seconds)
    stop.set()
    thread.join(5)
    return starts


def test_quick_exports_keep_their_period() -> None:
    starts = _run(0.0, 0.05, 0.6)
    assert len(starts) >= 6  # about every 50 ms


def test_slow_exports_hold_the_store_at_most_a_tenth_of_the_time() -> None:
    starts = _run(0.15, 0.05, 3.2)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert 2 <= len(starts) <= 3  # a fixed 50 ms period would have made 15
    assert all(gap >= 0.15 / MAX_EXPORT_SHARE - 0.01 for gap in gaps)


def test_a_failing_export_is_tried_again() -> None:
    calls = []

    def export() -> None:
        calls.append(1)
        raise OSError("the store refuses reads for a moment")

    stop = threading.Event()
    thread = threading.Thread(target=keep_exporting, args=(export, 0.02, stop))
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(5)
    assert len(calls) >= 3
