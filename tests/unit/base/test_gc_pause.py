"""The collector helpers: paused restores what it found; freeze hides start-up objects."""

from __future__ import annotations

import gc

from base import gc_pause


def test_paused_turns_collection_off_and_back_on_only_if_it_was_on() -> None:
    assert gc.isenabled()
    with gc_pause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_pause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_an_exception_inside_still_restores_collection() -> None:
    try:
        with gc_pause.paused():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()


def test_freeze_moves_living_objects_out_of_the_collectors_sight() -> None:
    keep = [{"n": i} for i in range(1000)]
    try:
        gc_pause.freeze_startup()
        assert gc.get_freeze_count() >= len(keep)
    finally:
        gc.unfreeze()
