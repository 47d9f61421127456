"""Python's cyclic garbage collector, kept out of the streaming processes' way.

Why: the worker's and the sink's objects are acyclic (decoded records, JSON dicts and lists)
and are freed by reference counting, but a chunk keeps thousands of them alive long enough
to be promoted, which sets off full collections that scan the whole heap and free nothing.
Measured in the worker during a 60,000-record `credit bench` run: 2,600 collections took 4.2 s
of its ≈25 s of CPU, and each of its ≈24 full collections paused it for 70–235 ms (every one
of them a latency spike). So: what is alive at start-up (modules, Faust, the catalog) is
frozen out of the collector's sight, and the collector waits while a batch is worked on;
cycles made meanwhile are collected after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (re-enabled after it, if it was on before)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_startup() -> None:
    """Collect once, then move every object alive now to the permanent generation: later
    full collections scan only what came after start-up."""
    gc.collect()
    gc.freeze()
