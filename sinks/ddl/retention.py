"""When a stored record expires: one expression shared by the class tables' TTL, the subject
index's copy of it and the figures (which must stop counting a record the day it expires,
not the day a merge happens to remove it)."""

from __future__ import annotations

from schemas.catalog import InfoClass


def expiry_sql(cls: InfoClass) -> str | None:
    """The expiry date of a class's records as SQL over its columns, or None (kept for ever).

    Seed 003 / Liaoning rules: negative information about a natural person leaves
    `retention_years` (5) years after the behaviour ended.
    """
    if cls.negative and cls.subject_kind == "natural" and cls.retention_years:
        return f"toDate(behaviour_end) + INTERVAL {cls.retention_years} YEAR"
    return None
