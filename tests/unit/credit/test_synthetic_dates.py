"""The demo's synthetic month is valid whatever today is: only the planted rows are refused.

Each date runs the month's rows through the channel intake and the stream's pipeline (rules,
identity) with the clock frozen at that date, as the demo would on that day.
"""

from __future__ import annotations

import datetime as dt

import pytest

from credit.synthetic import PROVIDE_LAG_DAYS, month_end, reported_month, synthetic_month
from producers.intake import intake
from schemas import envelope as env
from schemas.catalog import default_catalog
from schemas.codec import AvroDecoder
from streams.core.pipeline import Pipeline

DAYS = [
    dt.date(2026, 12, 1), dt.date(2026, 12, 7), dt.date(2026, 12, 19), dt.date(2026, 12, 20),
    dt.date(2026, 12, 31), dt.date(2027, 1, 1), dt.date(2028, 2, 29), dt.date(2028, 3, 1),
    dt.date(2026, 10, 1), dt.date(2026, 10, 8), dt.date(2027, 2, 10), dt.date(2026, 2, 28),
]  # fmt: skip


@pytest.mark.parametrize("today", DAYS, ids=str)
def test_reported_month_keeps_every_date_in_the_past(today: dt.date) -> None:
    month = reported_month(today)
    assert month.day == 1
    assert month_end(month) + dt.timedelta(days=PROVIDE_LAG_DAYS) <= today
    # and it is the latest such month: the next one would carry future dates
    following = month_end(month) + dt.timedelta(days=1)
    assert month_end(following) + dt.timedelta(days=PROVIDE_LAG_DAYS) > today


@pytest.mark.parametrize("today", DAYS, ids=str)
def test_only_planted_rows_are_refused_on_any_day(today: dt.date) -> None:
    catalog = default_catalog()
    pipeline = Pipeline(catalog, AvroDecoder(lambda _id: ""), {}, {})
    rows = list(synthetic_month(reported_month(today), companies=120, persons=300, seed=7))
    assert any(r.spoiled for r in rows), "the sample must hold planted rows"
    for i, row in enumerate(rows):
        cls = catalog.get(row.class_code)
        record, problems = intake(cls, row.values, catalog, today)
        if not problems:
            msg = env.Inbound(cls.topic, 0, i, b"k", b"", {env.H_UPLOAD: "u1"}, 0)
            outcome = pipeline.process_record(cls, msg, _meta(i), record, today)
            dead = outcome.dead or {"reasons": ["neither valid nor dead"]}
            problems = [] if outcome.valid is not None else dead["reasons"]
        assert bool(problems) == row.spoiled, (today, row.values, problems)


def _meta(i: int) -> dict[str, object]:
    return {"provider": "p", "channel": "api", "upload_id": "u1", "row": i + 1,
            "source_key": f"k{i}"}  # fmt: skip
