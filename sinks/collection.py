"""Collection statistics: what each department delivered, whether it is late, and the census.

Two things credit offices report upward and score departments on:

* per department and class — received / stored / rejected, the valid-ingest rate (full
  marks at ≥95 %, DESIGN: department scoring) and lateness against the reporting cycle
  (rules in `sinks.cycles`);
* the census of seed 003 (《普查表》): data totals in 万条, natural persons vs legal persons
  and other organizations, counted after de-duplication (FINAL) as the 普查表 notes require.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from schemas.catalog import Catalog, Cycle, InfoClass
from sinks.cycles import deadline
from sinks.store import Store
from sinks.subject_index import INDEX_TABLE

FULL_MARKS_VALID_RATE = 0.95
WAN = 10_000  # 万条


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None if value.year < 1971 else value.date()  # DateTime64 zero = never
    return value if isinstance(value, dt.date) else None


def _department_cycle(catalog: Catalog, provider: str, cls: InfoClass) -> Cycle | None:
    """A department's own cycle for a class it provides (seed 001: all 实时), if the catalog
    records one; the class's cycle otherwise."""
    for dept in catalog.departments:
        if dept.name == provider and cls.code in dept.classes and dept.cycle is not None:
            return dept.cycle
    return None


def collection_stats(
    store: Store, catalog: Catalog, today: dt.date, *, include_missing: bool = False
) -> list[dict[str, Any]]:
    """One row per (department, class) that delivered anything, with its lateness verdict.

    A department is the catalog department the upload named (`uploads.department`: the
    provider's `--department` or API key), else the provider itself; `providers` lists the
    organizations behind it. `received` is the upload ledger's count, falling back to the
    decided rows where no ledger entry exists; `pending` is what the stream has not yet
    decided. With `include_missing`, every department the catalog names for a class but that
    never delivered gets a row too (late by definition: a silent department is late).
    """
    ledger, dept_of = _ledger_by_department(store)
    decided: dict[tuple[str, str], dict[str, Any]] = {}
    for r in store.query(
        "SELECT provider, class_code, countIf(outcome = 'stored') AS stored, "
        "countIf(outcome = 'rejected') AS rejected, max(received_at) AS last "
        f"FROM {store.database}.outcomes FINAL GROUP BY provider, class_code"
    ):
        key = (dept_of.get((r["provider"], r["class_code"]), r["provider"]), r["class_code"])
        _add(decided, key, r, ("stored", "rejected"))
    keys = set(ledger) | set(decided)
    if include_missing:
        keys |= {(p, c.code) for c in catalog for p in c.providers}
    out = []
    for department, code in sorted(keys):
        cls = catalog.classes.get(code)
        if cls is None:  # a class since removed from the catalog: nothing to judge it by
            continue
        out.append(_stats_row(catalog, cls, department, ledger.get((department, code)),
                              decided.get((department, code)), today))  # fmt: skip
    return out


def _ledger_by_department(
    store: Store,
) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], str]]:
    """The ledger summed per (department, class), and each (provider, class)'s department."""
    ledger: dict[tuple[str, str], dict[str, Any]] = {}
    dept_of: dict[tuple[str, str], str] = {}
    for r in store.query(
        "SELECT provider, department, class_code, sum(received) AS received, "
        "max(greatest(started_at, finished_at)) AS last "
        f"FROM {store.database}.uploads FINAL GROUP BY provider, department, class_code"
    ):
        department = str(r["department"] or r["provider"])
        if r["department"]:
            dept_of[(r["provider"], r["class_code"])] = department
        _add(ledger, (department, r["class_code"]), r, ("received",))
    return ledger, dept_of


def _add(into: dict[tuple[str, str], dict[str, Any]], key: tuple[str, str],
         row: Mapping[str, Any], counts: tuple[str, ...]) -> None:  # fmt: skip
    """Sum a provider's `counts` into its department's entry, with the latest arrival."""
    got = into.setdefault(key, {**dict.fromkeys(counts, 0), "last": None, "providers": set()})
    for name in counts:
        got[name] += int(row[name])
    got["last"] = _latest(got["last"], _as_date(row["last"]))
    got["providers"].add(row["provider"])


def _latest(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    return max(d for d in (a, b) if d) if (a or b) else None


def _stats_row(catalog: Catalog, cls: InfoClass, department: str,
               led: dict[str, Any] | None, dec: dict[str, Any] | None,
               today: dt.date) -> dict[str, Any]:  # fmt: skip
    stored = int(dec["stored"]) if dec else 0
    rejected = int(dec["rejected"]) if dec else 0
    received = int(led["received"]) if led else stored + rejected
    last = _latest(led["last"] if led else None, dec["last"] if dec else None)
    verdict = deadline(cls, last, today, _department_cycle(catalog, department, cls))
    rate = round(stored / received, 4) if received else None
    providers = sorted((led or {}).get("providers", set()) | (dec or {}).get("providers", set()))
    return {
        "department": department, "providers": providers, "class_code": cls.code,
        "class_name": cls.name, "received": received, "stored": stored, "rejected": rejected,
        "pending": max(received - stored - rejected, 0),
        "valid_rate": rate, "valid_full_marks": rate is not None and rate >= FULL_MARKS_VALID_RATE,
        "last_arrival": last, "cycle": verdict.kind, "due_day": verdict.due_day,
        "last_deadline": verdict.last_deadline, "window_start": verdict.window_start,
        "next_due": verdict.next_due, "late": verdict.late,
    }  # fmt: skip


def census(store: Store, catalog: Catalog) -> dict[str, Any]:
    """The 普查表 figures: totals in 万条 (2 decimals), natural vs legal, per class.

    A record is one stored row with its subject (普查表 note 2: 一行记录); re-sends and
    corrections count once (FINAL). Per-class counts are exact; 万条 are rounded for the form.
    """
    db = store.database
    parts = [f"SELECT '{c.code}' AS code, count() AS n FROM {db}.{c.table} FINAL" for c in catalog]
    counts = {r["code"]: int(r["n"]) for r in store.query(" UNION ALL ".join(parts))}
    subjects = _distinct_subjects(store, catalog)

    def figure(n: int) -> dict[str, Any]:
        return {"records": n, "wan": round(n / WAN, 2)}

    by_kind = {"natural": 0, "legal": 0}
    classes = []
    for cls in catalog:
        n = counts.get(cls.code, 0)
        by_kind[cls.subject_kind] += n
        if n:
            classes.append({"class_code": cls.code, "name": cls.name,
                            "subject_kind": cls.subject_kind, **figure(n)})  # fmt: skip
    classes.sort(key=lambda c: (-c["records"], c["class_code"]))
    return {
        "unit": "万条",
        "total": figure(sum(by_kind.values())),
        "natural": figure(by_kind["natural"]),
        "legal": figure(by_kind["legal"]),
        "subjects": subjects,
        # 归集比例 (seed 003): the catalog's classes of which any record is stored
        "collection_ratio": {
            "classes_reporting": len(classes),
            "classes_in_catalog": len(catalog.classes),
            "ratio": round(len(classes) / len(catalog.classes), 4) if catalog.classes else 0.0,
        },
        "classes": classes,
    }


def _distinct_subjects(store: Store, catalog: Catalog) -> dict[str, int]:
    """Distinct persons and enterprises with a stored record, from the subject index (every
    class's records by subject). The registry (`subjects`) knows legal persons only: counting
    it gave 0 natural persons with thousands stored."""
    natural = [c.code for c in catalog if c.subject_kind == "natural"]
    row = store.query(
        "SELECT uniqExactIf(subject_id, has({n:Array(String)}, class_code)) AS natural, "
        "uniqExactIf(subject_id, NOT has({n:Array(String)}, class_code)) AS legal "
        f"FROM {store.database}.{INDEX_TABLE}",
        {"n": natural},
    )[0]
    return {"natural": int(row["natural"]), "legal": int(row["legal"])}
