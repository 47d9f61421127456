"""`credit demo`: the embedded platform on a synthetic month, ending in a readable summary."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from typing import Any

from tqdm import tqdm

from credit.exceptions import DemoError
from credit.runtime import Platform
from credit.synthetic import Row, department_of, reported_month, synthetic_month
from producers.channel import ReportedAs, UploadResult, publish_rows
from producers.publisher import Publisher, new_upload_id
from schemas.catalog import Catalog
from schemas.periods import Period
from sinks.read import queries, risk


def last_month(today: dt.date) -> dt.date:
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def stream_month(
    platform: Platform, rows: list[Row], period: Period | None = None, progress: bool = True
) -> list[UploadResult]:
    """One upload per (provider, class), as each simulated company reports its month (the
    `period` the uploads declare)."""
    by_upload: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        by_upload[(row.provider, row.class_code)].append(row)
    results = []
    bar = tqdm(total=len(rows), desc="providers → broker", unit="rec", disable=not progress)
    for (provider, code), items in by_upload.items():
        publisher = Publisher(platform.kafka_conf(), platform.registry_url, provider, "api",
                              batch_records=platform.settings.publish_batch_records)  # fmt: skip
        cls = platform.catalog.get(code)
        numbered = ((i + 1, r.values) for i, r in enumerate(items))
        results.append(publish_rows(publisher, cls, platform.catalog, numbered,
                                    new_upload_id("api"), f"{provider}/{cls.name}",
                                    on_row=lambda: bar.update(1), intake=platform.intake,
                                    reported=ReportedAs(department_of(provider),
                                                        period=period)))  # fmt: skip
    bar.close()
    return results


def wait_accounted(
    platform: Platform, upload_ids: list[str], expected: int, timeout: float
) -> dict[str, int]:
    """Poll the store until every row of this run's uploads is stored or dead-lettered;
    returns their totals (a used data dir holds earlier runs too: they are not counted)."""
    assert platform.store is not None
    deadline = time.monotonic() + timeout
    bar = tqdm(total=expected, desc="stream → store   ", unit="rec")
    try:
        while True:
            fates = [queries.upload_fate(platform.store, u) for u in upload_ids]
            totals = {k: sum(int(f[k]) for f in fates)
                      for k in ("received", "stored", "rejected", "pending")}  # fmt: skip
            bar.n = totals["stored"] + totals["rejected"]
            bar.refresh()
            if all(f["complete"] for f in fates):
                return totals
            failure = platform.worker_failed()
            if failure:
                raise DemoError(failure)
            if time.monotonic() > deadline:
                raise DemoError(f"only {bar.n} of {expected} records accounted after "
                                f"{timeout:.0f}s")  # fmt: skip
            time.sleep(0.5)
    finally:
        bar.close()


def format_summary(
    summary: list[dict[str, Any]], risk: list[dict[str, Any]], catalog: Catalog
) -> str:
    lines = ["", "Per class (received = stored + rejected):", ""]
    head = f"{'class':<36} {'received':>9} {'stored':>8} {'rejected':>9}  top reasons"
    lines += [head, "-" * len(head)]
    for c in summary:
        reasons = ", ".join(f"{r['reason']}×{r['count']}" for r in c["top_reasons"][:3])
        label = f"{c['name']} ({c['class_code']})"
        lines.append(
            f"{label:<30} {c['received']:>9} {c['stored']:>8} {c['rejected']:>9}  {reasons}"
        )
    tot = {k: sum(c[k] for c in summary) for k in ("received", "stored", "rejected", "pending")}
    lines.append(f"{'total':<36} {tot['received']:>9} {tot['stored']:>8} {tot['rejected']:>9}")
    lines += ["", "Subjects most at risk (arrears across utilities):", ""]
    for r in risk:
        sid = r["subject_id"]  # natural persons' IDs arrive masked from the query
        lines.append(f"  {sid:<20} {r['name']:<28} utilities={r['utilities']} "
                     f"arrears=¥{r['arrears_amount']:,.2f} max_days={r['max_days_overdue']}")  # fmt: skip
    return "\n".join(lines)


def run_demo(platform: Platform, companies: int, persons: int, timeout: float) -> dict[str, Any]:
    """Stream the month, wait until all is accounted, return the summary (raises if not)."""
    month = reported_month(dt.date.today())
    rows = list(synthetic_month(month, companies, persons))
    started = time.monotonic()
    uploads = stream_month(platform, rows, Period.month(month.year, month.month))
    totals = wait_accounted(platform, [u.upload_id for u in uploads], len(rows), timeout)
    assert platform.store is not None
    summary = queries.class_summary(platform.store, platform.catalog)  # every run in the dir
    at_risk = risk.risk_list(platform.store, 10)
    elapsed = time.monotonic() - started
    planted = {"received": len(rows), "stored": sum(not r.spoiled for r in rows),
               "rejected": sum(r.spoiled for r in rows), "pending": 0}  # fmt: skip
    if totals != planted:
        raise DemoError(
            f"the store does not match the plan: planted {planted}, store says {totals}"
        )
    return {"month": month.isoformat()[:7], "rows": len(rows), "uploads": len(uploads),
            "seconds": round(elapsed, 1), "totals": totals, "classes": summary, "at_risk": at_risk}  # fmt: skip
