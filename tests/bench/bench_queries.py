"""Query latency on a filled chDB store: the credit report of one subject and the risk lists.

Not a test (pytest collects `test_*.py` only). Run it directly:

    .venv/bin/python tests/bench/bench_queries.py [--records 1000000] [--runs 200]

It fills a fresh store with synthetic records across every class (inserted in batches of
100k with `Store.insert`, weighted towards the monthly utility and fund classes as a city's
data is), merges the parts as the store does in the background, then times the queries.
Targets: profile p95 < 50 ms, risk list p95 < 500 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.catalog import Catalog, FieldSpec, InfoClass, default_catalog
from schemas.codes import random_citizen_id, random_uscc
from sinks.ddl.subject_index import INDEX_TABLE, drop_index
from sinks.ddl.tables import META_COLUMNS, class_columns
from sinks.ddl.upgrade import apply_ddl
from sinks.read import reports, risk
from sinks.read.risk import ARREARS_CLASSES
from sinks.store import Store, open_embedded
from sinks.write.rows import SUBJECT_COLUMNS

BATCH = 100_000
# Share of all records per class; the rest is spread evenly over every other class.
WEIGHTS = {
    "natural_utility_payment": 0.20, "legal_utility_payment": 0.12,
    "natural_social_insurance": 0.10, "natural_arrears": 0.08, "natural_housing_fund": 0.07,
    "legal_arrears": 0.05, "legal_social_insurance": 0.05, "legal_housing_fund": 0.03,
}  # fmt: skip
DISTRICTS = ("320281", "320282", "320211", "320213")
UTILITIES = ("水费", "电费", "燃气费", "通信费", "热力费")
FIRST_DAY = dt.date(2023, 1, 1).toordinal()
ARREARS_FIGURES = frozenset(ARREARS_CLASSES)


def _value(spec: FieldSpec, catalog: Catalog, rng: random.Random) -> Any:
    """A plausible typed value for a catalog field."""
    kind = spec.type
    if kind == "enum":
        return rng.choice(catalog.enums[spec.enum or ""].values)
    if kind in ("date", "period_start", "period_end"):
        return dt.date.fromordinal(FIRST_DAY + rng.randrange(730))
    if kind == "month":
        return f"{rng.choice((2023, 2024))}-{rng.randint(1, 12):02d}"
    if kind == "int":
        return rng.randrange(400)
    if kind == "amount":
        return Decimal(rng.randrange(100, 1_000_000)) / 100
    if kind in ("quantity", "ratio"):
        return round(rng.random() * 100, 2)
    if kind == "bool":
        return rng.random() < 0.5
    return f"{spec.label}{rng.randrange(1000)}"


class Filler:
    """Synthetic records of every class for a fixed population of subjects."""

    def __init__(self, catalog: Catalog, companies: int, persons: int, seed: int = 1) -> None:
        self.catalog = catalog
        self.rng = random.Random(seed)
        rng = self.rng
        self.subjects = {
            "legal": [(random_uscc(rng, rng.choice(DISTRICTS)), f"江阴{i}号有限公司") for i in range(companies)],
            "natural": [(random_citizen_id(rng, rng.choice(DISTRICTS)), f"居民{i}") for i in range(persons)],
        }  # fmt: skip
        self.classes = list(catalog)
        rest = (1 - sum(WEIGHTS.values())) / (len(self.classes) - len(WEIGHTS))
        self.weights = [WEIGHTS.get(c.code, rest) for c in self.classes]
        # A template row per class (field values drawn once, in column order); records vary
        # the meta columns and the arrears figures the queries read.
        self.columns = {c.code: [name for name, _ in class_columns(c)] for c in self.classes}
        self.templates = {c.code: self._template(c) for c in self.classes}

    def _template(self, cls: InfoClass) -> list[Any]:
        values = {f.name: _value(f, self.catalog, self.rng) for f in cls.fields}
        return [values.get(name) for name in self.columns[cls.code]]

    def batch(self, start: int, size: int) -> dict[str, list[list[Any]]]:
        """`size` records as rows per class code, in each class table's column order."""
        rng, now = self.rng, dt.datetime.now(dt.UTC)
        out: dict[str, list[list[Any]]] = {}
        chosen = rng.choices(self.classes, self.weights, k=size)
        for n, cls in enumerate(chosen, start):
            subject, name = rng.choice(self.subjects[cls.subject_kind])
            event = dt.date.fromordinal(FIRST_DAY + rng.randrange(730))
            meta = [
                f"r{n}", 1, subject, cls.subject_kind, name,
                subject[2:8] if cls.subject_kind == "legal" else subject[:6], 0, "", event,
                event + dt.timedelta(days=30), "bench", "db_link", f"u{n // 1000}", n, f"s{n}",
                now, now,
            ]  # fmt: skip
            row = meta + self.templates[cls.code][len(META_COLUMNS) :]
            if cls.code in ARREARS_FIGURES:
                for name_, value in (("arrears_type", rng.choice(UTILITIES)),
                                     ("overdue_days", rng.randrange(365)),
                                     ("arrears_amount", Decimal(rng.randrange(1000, 500_000)) / 100)):  # fmt: skip
                    row[self.columns[cls.code].index(name_)] = value
            out.setdefault(cls.code, []).append(row)
        return out


def fill(store: Store, filler: Filler, records: int) -> float:
    started = time.perf_counter()
    for start in range(0, records, BATCH):
        for code, rows in filler.batch(start, min(BATCH, records - start)).items():
            cls = filler.catalog.classes[code]
            store.insert(cls.table, rows, filler.columns[code])
        print(f"  inserted {min(start + BATCH, records):>9,} records", file=sys.stderr)
    now = dt.datetime.now(dt.UTC)
    registry = [[s, kind, name, s[2:8] if kind == "legal" else s[:6], "", "", 1, now]
                for kind, people in filler.subjects.items() for s, name in people]  # fmt: skip
    store.insert("subjects", registry, SUBJECT_COLUMNS)
    return time.perf_counter() - started


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    fn()  # warm-up: the first call pays for loading marks and compiling expressions
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


Case = tuple[str, Callable[[], Any], int, float]


def measure(cases: list[Case]) -> bool:
    ok = True
    for label, fn, runs, target in cases:
        samples = timed(fn, runs)
        hit = p95(samples) < target
        ok &= hit
        print(f"{label:<46} {runs:>5} {statistics.median(samples):>8.1f} "
              f"{p95(samples):>8.1f} {max(samples):>8.1f} {'<' + str(int(target)):>8}  "
              f"{'yes' if hit else 'NO'}", flush=True)  # fmt: skip
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--companies", type=int, default=20_000)
    ap.add_argument("--persons", type=int, default=30_000)
    ap.add_argument("--profile-runs", type=int, default=200)
    ap.add_argument("--risk-runs", type=int, default=20)
    ap.add_argument("--fallback-runs", type=int, default=20, help="profiles without the index")
    args = ap.parse_args()
    catalog = default_catalog()
    with tempfile.TemporaryDirectory(prefix="credit-bench-") as tmp:
        store = open_embedded(Path(tmp) / "chdb", "bench")
        apply_ddl(store, catalog)  # the shipped DDL, subject index included
        filler = Filler(catalog, args.companies, args.persons)
        seconds = fill(store, filler, args.records)
        t = time.perf_counter()
        for table in [c.table for c in catalog] + [INDEX_TABLE]:
            store.command(f"OPTIMIZE TABLE bench.{table} FINAL")  # the background merges' end state
        merge_s = time.perf_counter() - t
        rng = random.Random(2)
        legal = [s for s, _ in filler.subjects["legal"]]
        everyone = legal + [s for s, _ in filler.subjects["natural"]]

        def profiles(how: str, runs: int) -> list[Case]:
            # Asked for companies and persons alike, public and authorized.
            return [
                (f"subject profile, public ({how})",
                 lambda: reports.subject_report(store, catalog, rng.choice(everyone)),
                 runs, 50),
                (f"subject profile, authorized ({how})",
                 lambda: reports.subject_report(
                     store, catalog, rng.choice(everyone), include_authorized=True),
                 runs, 50),
            ]  # fmt: skip

        risk_cases: list[Case] = [
            ("risk monitor (city)", lambda: risk.risk_monitor(store), args.risk_runs, 500),
            ("risk monitor (district, since)", lambda: risk.risk_monitor(
                store, district=rng.choice(DISTRICTS), since=dt.date(2024, 6, 1)),
                args.risk_runs, 500),
            ("risk list (risk.risk_list)", lambda: risk.risk_list(store, 20),
                args.risk_runs, 500),
        ]  # fmt: skip
        print(f"\n{args.records:,} records, {len(legal):,} companies + "
              f"{len(everyone) - len(legal):,} persons, {len(catalog)} classes; filled in "
              f"{seconds:.1f} s, merged in {merge_s:.1f} s\n")  # fmt: skip
        print(f"{'query':<46} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
              f"{'target':>8}  ok")  # fmt: skip
        ok = measure(profiles("subject index", args.profile_runs) + risk_cases)
        drop_index(store, catalog)  # the fallback: ask every class table
        measure(profiles("no index, merge()", args.fallback_runs))
        store.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
