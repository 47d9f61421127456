"""The dirty-data threshold (seed 002: providers answer for the quality of what they send).

Kept apart from the channel so the settings can name it without importing the channel's
Kafka and Avro machinery.
"""

from __future__ import annotations

from typing import NamedTuple


class DirtyThreshold(NamedTuple):
    """Hold an upload of at least `min_rows` rows that refuses more than `share` of them
    (seed 002's data-quality duty; a few rows say too little to judge a provider by)."""

    share: float
    min_rows: int = 10
