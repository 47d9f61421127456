"""The fault suite's fixtures (its tools are in `faultkit.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.faultkit import Up


@pytest.fixture()
def platforms(tmp_path: Path) -> Iterator[list[Up]]:
    """Every platform a test starts is killed at its end, however the test ends."""
    started: list[Up] = []
    yield started
    for up in started:
        if up.proc.poll() is None:
            up.kill_tree()
