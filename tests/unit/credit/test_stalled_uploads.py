"""When the intake sends an undecided upload again (`credit.recovery.stalled`): only when
neither it nor any other upload gained a decided row for its wait — an upload queued behind
a big one is waiting, and sending it again would only add to the queue."""

from __future__ import annotations

from credit.recovery import _Progress, stalled

SEEN = _Progress(decided=100, since=1000.0, wait=60.0)


def test_an_upload_that_gains_rows_is_not_stalled() -> None:
    assert not stalled(SEEN, 101, now=2000.0, moved_at=1000.0)


def test_an_upload_waiting_behind_a_busy_pipeline_is_not_stalled() -> None:
    assert not stalled(SEEN, 100, now=1100.0, moved_at=1090.0)


def test_an_upload_still_within_its_wait_is_not_stalled() -> None:
    assert not stalled(SEEN, 100, now=1059.0, moved_at=900.0)


def test_nothing_decided_anywhere_for_the_wait_is_a_stall() -> None:
    assert stalled(SEEN, 100, now=1060.0, moved_at=1000.0)
